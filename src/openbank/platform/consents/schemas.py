"""Consent request and response models, and the partner-facing views of accounts, balances,
transactions and payments made under a consent.

Partner-facing models show what a partner needs and nothing internal (no ledger ids, no
customer identity documents)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from openbank.ledger.schemas import PositiveAmount

ConsentKind = Literal["account_access", "payment"]
# awaiting_authorisation -> authorised | rejected | expired;
# authorised -> revoked | expired | consumed (a payment consent, once its payment is made).
ConsentStatus = Literal[
    "awaiting_authorisation", "authorised", "rejected", "revoked", "expired", "consumed"
]
# account_access: accounts (list), balances, transactions; e-account funds: top_up, withdraw.
Permission = Literal["accounts", "balances", "transactions", "top_up", "withdraw", "payment"]
AccountPermission = Literal["accounts", "balances", "transactions", "top_up", "withdraw"]
RevokedBy = Literal["customer", "partner", "operator"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountChoice(BaseModel):
    """An e-account the customer may cover with a consent, as the consent page shows it."""

    e_account_id: uuid.UUID
    account_class: str
    masked_label: str  # e.g. "II类电子账户 ··· 3f2a"
    balance: int


class PaymentTerms(BaseModel):
    amount: int
    currency: str
    creditor_e_account_id: uuid.UUID
    creditor_name: str
    reference: str


class Consent(BaseModel):
    id: uuid.UUID
    app_id: uuid.UUID
    kind: ConsentKind
    status: ConsentStatus
    permissions: list[Permission]
    customer_id: uuid.UUID | None
    e_account_ids: list[uuid.UUID]
    payment: PaymentTerms | None
    expires_at: datetime
    created_at: datetime
    status_updated_at: datetime
    revoked_by: RevokedBy | None = None
    payment_id: uuid.UUID | None = Field(
        default=None, description="The payment a consumed payment consent made"
    )


class ConsentList(BaseModel):
    data: list[Consent]


# -- partner requests -----------------------------------------------------------------------

Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=140)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class AccountAccessConsentCreate(Strict):
    permissions: list[AccountPermission] = Field(
        min_length=1, examples=[["accounts", "balances", "transactions"]]
    )
    expiration: AwareDatetime | None = Field(
        default=None,
        description="When the consent ends: in the future, at most a year ahead (default 90 days).",
    )


class PaymentConsentCreate(Strict):
    amount: PositiveAmount = Field(description="Fen", examples=[1999])
    currency: CurrencyCode = Field(description="ISO 4217; only CNY", examples=["CNY"])
    creditor_e_account_id: uuid.UUID
    reference: Reference = Field(examples=["订单 20261125-0001"])
    expiration: AwareDatetime | None = Field(
        default=None, description="When the consent ends if unused (default one day)."
    )


class PaymentCreate(Strict):
    """A payment under the token's payment consent: it names that consent and repeats its
    terms exactly."""

    consent_id: uuid.UUID = Field(description="The payment consent the token is bound to")
    amount: PositiveAmount = Field(description="Fen", examples=[1999])
    currency: CurrencyCode = Field(examples=["CNY"])
    creditor_e_account_id: uuid.UUID
    reference: Reference


# -- partner-facing views -------------------------------------------------------------------


class BoundCardView(BaseModel):
    masked_number: str
    bank_name: str


class Account(BaseModel):
    """An e-account covered by the consent."""

    id: uuid.UUID
    account_class: str
    currency: str
    status: str
    masked_label: str
    bound_card: BoundCardView


class AccountList(BaseModel):
    data: list[Account]


class Balance(BaseModel):
    e_account_id: uuid.UUID
    currency: str
    balance: int = Field(description="Posted balance, fen")
    available: int = Field(description="Balance less pending debits, fen")
    as_of: datetime


class Transaction(BaseModel):
    """A statement line of the e-account."""

    id: uuid.UUID = Field(description="The transfer that moved the money")
    seq: int
    direction: Literal["credit", "debit"] = Field(description="credit: money in")
    status: Literal["posted", "pending", "post", "void", "expire"]
    amount: int
    currency: str
    balance_after: int = Field(description="Posted balance right after this line, fen")
    booked_at: datetime


class TransactionPage(BaseModel):
    data: list[Transaction]
    next_cursor: str | None
    next: str | None = None


class FundsMovement(BaseModel):
    """A top-up from, or a withdrawal to, the e-account's bound card."""

    id: uuid.UUID
    e_account_id: uuid.UUID
    kind: Literal["top_up", "withdrawal"]
    amount: int
    currency: str
    business_date: date
    created_at: datetime


class Payment(BaseModel):
    id: uuid.UUID
    consent_id: uuid.UUID
    status: Literal["completed"]
    debtor_e_account_id: uuid.UUID
    creditor_e_account_id: uuid.UUID
    creditor_name: str
    amount: int
    currency: str
    reference: str
    created_at: datetime
