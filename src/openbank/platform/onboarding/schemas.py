"""Request and response models of remote e-account opening (both partner paths)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from openbank.customers.schemas import BoundCard, BoundCardCreate

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
OutId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OtpChallengeCreate(Strict):
    phone: ShortText = Field(description="The user's PRC mobile number", examples=["13800138000"])


class OtpChallenge(BaseModel):
    challenge_id: uuid.UUID
    expires_at: datetime
    sandbox_code: str | None = Field(
        description="The code itself, for sandbox apps only (there is no phone to send it to)"
    )


class EAccountOpen(Strict):
    """What a partner app collects from its user to open a class II e-account remotely."""

    name: Name = Field(examples=["张三"])
    id_number: ShortText = Field(description="PRC resident ID (18 characters, check digit)")
    phone: ShortText = Field(examples=["13800138000"])
    otp_challenge_id: uuid.UUID = Field(description="From the one-time code sent to `phone`")
    otp_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    bound_card: BoundCardCreate = Field(description="The user's own bank card (class I account)")
    out_user_id: OutId | None = Field(default=None, description="The user's id in the app")


class OpenedEAccount(BaseModel):
    customer_id: uuid.UUID
    e_account_id: uuid.UUID
    account_class: str = Field(examples=["II"])
    consent_id: uuid.UUID = Field(
        description="An authorised consent covering the new e-account for this app"
    )
    bound_card: BoundCard
    kyc_level: int
    out_user_id: str | None
    created_at: datetime
