"""Request and response models of the signed gateway: app credentials, and the biz_content
of each method (the same fields as the OAuth path's bodies and query parameters)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openbank.ledger.schemas import PositiveAmount

Encryption = Literal["none", "AES", "SM4"]
OutRequestNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- credentials (operator endpoints) -------------------------------------------------------


class GatewayCredentialsSet(Strict):
    rsa_public_key: Annotated[str, StringConstraints(max_length=8000)] | None = Field(
        default=None,
        description="The app's RSA2 public key (≥ 2048 bits): PEM, or base64 DER as Alipay shows",
    )
    sm2_public_key: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="The app's SM2 public key: 128 hex digits x||y (or 04||x||y)"
    )
    encryption: Encryption = Field(
        description="Encryption of biz_content: none, AES (AES-256-GCM) or SM4 (SM4-CBC); once"
        " on, every request of the app must be encrypted. Required, so that rotating a key"
        " never turns encryption off by omission",
    )
    rotate_encryption_key: bool = Field(
        default=False, description="Issue a new symmetric key even if the encryption is unchanged"
    )


class GatewayCredentials(BaseModel):
    app_id: uuid.UUID
    rsa_public_key: str | None = Field(description="The app's RSA2 public key (base64 DER)")
    sm2_public_key: str | None = Field(description="The app's SM2 public key (hex x||y)")
    encryption: Encryption
    bank_rsa_public_key: str = Field(
        description="Verify the bank's RSA2 response signatures with this (base64 DER)"
    )
    bank_sm2_public_key: str = Field(
        description="Verify the bank's SM2 response signatures with this (hex x||y)"
    )
    created_at: datetime
    updated_at: datetime


class GatewayCredentialsIssued(GatewayCredentials):
    encryption_key: str | None = Field(
        description="The symmetric key (base64), shown only when it was just issued: store it "
        "now, the bank never shows it again"
    )


# -- biz_content of the methods -------------------------------------------------------------


class AccountQuery(Strict):
    consent_id: uuid.UUID
    e_account_id: uuid.UUID


class TransactionsQuery(AccountQuery):
    cursor: Annotated[str, StringConstraints(max_length=64)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class FundsMove(AccountQuery):
    amount: PositiveAmount = Field(description="Fen")
    out_request_no: OutRequestNo = Field(
        description="The partner's own request number, required: a retry (a new signed request"
        " with the same out_request_no and content) returns the first result, so money never"
        " moves twice"
    )


class Success(BaseModel):
    code: Literal["10000"] = "10000"
    msg: Literal["Success"] = "Success"
    data: object
