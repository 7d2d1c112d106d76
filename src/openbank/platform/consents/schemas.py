"""Consent request and response models.

INTERFACE STUB: the consents helper extends this (keeping these names and fields)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

ConsentKind = Literal["account_access", "payment"]
ConsentStatus = Literal["awaiting_authorisation", "authorised", "rejected", "revoked", "expired"]
# account_access: accounts (list), balances, transactions; e-account funds: top_up, withdraw.
Permission = Literal["accounts", "balances", "transactions", "top_up", "withdraw", "payment"]


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
