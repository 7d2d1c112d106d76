"""Shared helpers of the ledger tests (service level, real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from openbank.core.database import Database, unit_of_work
from openbank.ledger import service
from openbank.ledger.schemas import Account, AccountCreate, AccountFlag, Transfer, TransferCreate

NO_OVERDRAFT: AccountFlag = "debits_must_not_exceed_credits"


def now() -> datetime:
    return datetime.now(UTC)


def open_account(
    db: Database, *flags: AccountFlag | list[AccountFlag], currency: str = "CNY"
) -> uuid.UUID:
    names: list[AccountFlag] = []
    for flag in flags:
        names.extend(flag if isinstance(flag, list) else [flag])
    spec = AccountCreate(currency=currency, code="test_account", flags=names)
    at = now()
    return unit_of_work(db, lambda s: service.create_account(s, spec, at)).id


def move(
    db: Database,
    debit: uuid.UUID,
    credit: uuid.UUID,
    amount: int,
    key: str | None = None,
    **fields: Any,
) -> Transfer:
    spec = TransferCreate.model_validate(
        {
            "debit_account_id": debit,
            "credit_account_id": credit,
            "amount": amount,
            "currency": fields.pop("currency", "CNY"),
            "code": fields.pop("code", "t"),
            **fields,
        }
    )
    command = service.transfer_command(spec, key)
    at = now()
    return unit_of_work(db, lambda s: service.transfer(s, command, at))


def balances(db: Database, *ids: uuid.UUID) -> list[Account]:
    return unit_of_work(db, lambda s: service.get_accounts(s, ids))


def net(account: Account) -> int:
    return account.credits_posted - account.debits_posted
