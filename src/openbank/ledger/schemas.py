"""Request and response models of the ledger's API and service."""

from __future__ import annotations

import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from openbank.core.money import CurrencyCode

AccountFlag = Literal["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.:-]*$")]
PositiveAmount = Annotated[StrictInt, Field(gt=0, le=2**63 - 1)]


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _storable_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if not _finite(value):  # JSON has no NaN or Infinity; they would be stored as null
        raise ValueError("metadata numbers must be finite")
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:  # e.g. integers beyond 64 bits
        raise ValueError(f"metadata cannot be stored as JSON: {exc}") from None
    if len(encoded) > 8192:
        raise ValueError("metadata is limited to 8 KiB of JSON")
    if b"\\u0000" in encoded:
        raise ValueError("metadata cannot contain NUL characters")
    return value


Metadata = Annotated[dict[str, Any], Field(max_length=64), AfterValidator(_storable_metadata)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(Strict):
    id: uuid.UUID | None = None
    currency: CurrencyCode = Field(examples=["CNY"])
    code: Code = Field(examples=["customer_wallet"])
    flags: list[AccountFlag] = Field(default_factory=list, max_length=2)
    metadata: Metadata = Field(default_factory=dict)


class Account(BaseModel):
    id: uuid.UUID
    currency: str
    code: str
    flags: list[AccountFlag]
    closed: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    metadata: dict[str, Any]
    created_at: datetime


class AccountList(BaseModel):
    data: list[Account]


class TransferCreate(Strict):
    id: uuid.UUID | None = None
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: PositiveAmount = Field(description="Minor units (fen, cents)", examples=[10000])
    currency: CurrencyCode = Field(examples=["CNY"])
    code: Code = Field(examples=["payment"])
    pending: bool = False
    timeout_seconds: Annotated[StrictInt, Field(gt=0, le=30 * 86400)] | None = None
    balancing: Literal["debit", "credit"] | None = None
    metadata: Metadata = Field(default_factory=dict)


class PendingResolution(Strict):
    """Body of post and void: post may take less than the pending amount (the rest is released)."""

    id: uuid.UUID | None = None
    amount: PositiveAmount | None = None
    code: Code | None = None
    metadata: Metadata = Field(default_factory=dict)


class Transfer(BaseModel):
    id: uuid.UUID
    kind: Literal["single", "pending", "post_pending", "void_pending"]
    state: Literal["posted", "pending", "voided", "expired"]
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: int
    currency: str
    code: str
    pending_id: uuid.UUID | None
    posted_amount: int | None
    timeout_seconds: int | None
    expires_at: datetime | None
    balancing: Literal["debit", "credit"] | None
    metadata: dict[str, Any]
    created_at: datetime
    resolved_at: datetime | None


class TransferBatchCreate(Strict):
    transfers: list[TransferCreate] = Field(min_length=1, max_length=8000)
    linked: bool = Field(
        default=False, description="All transfers succeed together or none is applied."
    )


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str


class BatchItemResult(BaseModel):
    index: int
    status: Literal["created", "replayed", "failed"]
    transfer: Transfer | None = None
    error: Problem | None = None


class TransferBatchResult(BaseModel):
    data: list[BatchItemResult]


class Entry(BaseModel):
    """A statement line: the change and the account's balances right after it."""

    seq: int
    transfer_id: uuid.UUID
    side: Literal["debit", "credit"]
    effect: Literal["posted", "pending", "post", "void", "expire"]
    amount: int
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    created_at: datetime
    hash: str


class EntryPage(BaseModel):
    data: list[Entry]
    next_cursor: str | None
    next: str | None = None


class VerifyReport(BaseModel):
    ok: bool
    accounts: int
    entries: int
    transfers: int
    currencies: dict[str, dict[str, int]]
    problems: list[str]
