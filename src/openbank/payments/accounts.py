"""The ledger accounts acquiring keeps: each merchant's clearing shards and the bank's fee
income. Their ids are derived (UUIDv5), so every process and batch names the same accounts
without a lookup table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from openbank.ledger import service as ledger
from openbank.ledger.schemas import AccountCreate

CURRENCY = "CNY"
CLEARING_CODE = "merchant_clearing"
FEE_INCOME_CODE = "acquiring_fee_income"
# Money captured for a merchant waits in its clearing accounts until settlement. Payments
# credit one of `CLEARING_SHARDS` of them at random, so payers paying one merchant at once lock
# different rows; settlement debits shard 0, and only their sum means anything.
CLEARING_SHARDS = 16

_NAMESPACE = uuid.UUID("0b7f9a52-3c1e-5d8f-a6b4-2e9c7d1f4a30")


def clearing_account_id(merchant_id: uuid.UUID, shard: int) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"clearing:{merchant_id}:{shard}")


def clearing_account_ids(merchant_id: uuid.UUID, shards: int) -> list[uuid.UUID]:
    return [clearing_account_id(merchant_id, shard) for shard in range(shards)]


def fee_income_account_id(currency: str = CURRENCY) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"fee_income:{currency}")


def open_clearing_accounts(
    session: Session, merchant_id: uuid.UUID, shards: int, now: datetime
) -> None:
    """A new merchant's clearing shards. No balance flag: a refund may take a shard below
    zero while the merchant's clearing as a whole stays covered (or carries a shortfall)."""
    ledger.create_accounts(
        session,
        [
            AccountCreate(
                id=account_id,
                currency=CURRENCY,
                code=CLEARING_CODE,
                metadata={"merchant_id": str(merchant_id), "shard": str(shard)},
            )
            for shard, account_id in enumerate(clearing_account_ids(merchant_id, shards))
        ],
        now,
    )


def fee_income_account(session: Session, now: datetime) -> uuid.UUID:
    """The bank's acquiring fee income account (created on first use)."""
    spec = AccountCreate(id=fee_income_account_id(), currency=CURRENCY, code=FEE_INCOME_CODE)
    return ledger.create_account(session, spec, now).id
