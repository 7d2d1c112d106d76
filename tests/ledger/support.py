"""Shared helpers of the ledger tests: accounts, transfers and balances, through the service
(real PostgreSQL) or through the HTTP API (the `client` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from openbank.core.database import Database, unit_of_work
from openbank.ledger import service
from openbank.ledger.errors import LedgerError
from openbank.ledger.schemas import Account, AccountCreate, AccountFlag, Transfer, TransferCreate

NO_OVERDRAFT: AccountFlag = "debits_must_not_exceed_credits"
CREDIT_CAPPED: AccountFlag = "credits_must_not_exceed_debits"


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- service level ----------------------------------------------------------------------------


def open_account(
    db: Database,
    *flags: AccountFlag,
    currency: str = "CNY",
    code: str = "test_account",
    now: datetime | None = None,
) -> uuid.UUID:
    spec = AccountCreate(currency=currency, code=code, flags=list(flags))
    at = now or utcnow()
    return unit_of_work(db, lambda s: service.create_account(s, spec, at)).id


def spec(
    debit: uuid.UUID,
    credit: uuid.UUID,
    amount: int,
    *,
    currency: str = "CNY",
    code: str = "test_transfer",
    **fields: Any,
) -> TransferCreate:
    return TransferCreate(
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency=currency,
        code=code,
        **fields,
    )


def move(
    db: Database,
    debit: uuid.UUID,
    credit: uuid.UUID,
    amount: int,
    *,
    key: str | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> Transfer:
    """One transfer in its own transaction; raises the LedgerError that refuses it."""
    command = service.transfer_command(spec(debit, credit, amount, **fields), key)
    at = now or utcnow()
    return unit_of_work(db, lambda s: service.transfer(s, command, at))


def refusal(db: Database, debit: uuid.UUID, credit: uuid.UUID, amount: int, **fields: Any) -> str:
    """The error code refusing a transfer (fails the test if the transfer is accepted)."""
    try:
        move(db, debit, credit, amount, **fields)
    except LedgerError as refused:
        return refused.code
    raise AssertionError("the transfer was accepted")


def funded_wallet(db: Database, source: uuid.UUID, amount: int) -> uuid.UUID:
    """A no-overdraft account holding `amount`, paid from `source`."""
    wallet = open_account(db, NO_OVERDRAFT)
    move(db, source, wallet, amount, code="top_up")
    return wallet


def accounts(db: Database, ids: Sequence[uuid.UUID]) -> list[Account]:
    return unit_of_work(db, lambda s: service.get_accounts(s, ids))


def account(db: Database, account_id: uuid.UUID) -> Account:
    return unit_of_work(db, lambda s: service.get_account(s, account_id))


def balance(a: Account) -> int:
    """What a credit-normal account (a wallet) holds: posted credits minus posted debits."""
    return a.credits_posted - a.debits_posted


def available(a: Account) -> int:
    """What a no-overdraft account can still give: credits minus posted and pending debits."""
    return a.credits_posted - a.debits_posted - a.debits_pending


def balances(a: Account) -> tuple[int, int, int, int]:
    return (a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending)


def transfer_count(db: Database) -> int:
    with psycopg.connect(db.url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_transfers").fetchone()
    assert row is not None
    return int(row[0])


def account_count(db: Database) -> int:
    with psycopg.connect(db.url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger_accounts").fetchone()
    assert row is not None
    return int(row[0])


def transfers_with_key(db: Database, key: str) -> list[uuid.UUID]:
    with psycopg.connect(db.url) as conn:
        rows = conn.execute(
            "SELECT id FROM ledger_transfers WHERE idempotency_key = %s", [key]
        ).fetchall()
    return [row[0] for row in rows]


# -- HTTP level -------------------------------------------------------------------------------


def api_account(
    client: TestClient, *flags: AccountFlag, currency: str = "CNY", code: str = "test_account"
) -> str:
    r = client.post(
        "/v1/ledger/accounts", json={"currency": currency, "code": code, "flags": list(flags)}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def api_body(debit: str, credit: str, amount: int, **fields: Any) -> dict[str, Any]:
    return {
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": amount,
        "currency": "CNY",
        "code": "test_transfer",
        **fields,
    }


def api_transfer(
    client: TestClient, debit: str, credit: str, amount: int, **fields: Any
) -> dict[str, Any]:
    r = client.post("/v1/ledger/transfers", json=api_body(debit, credit, amount, **fields))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def api_get(client: TestClient, account_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/ledger/accounts/{account_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def api_wallet(client: TestClient, bank: str, amount: int) -> str:
    wallet = api_account(client, NO_OVERDRAFT)
    api_transfer(client, bank, wallet, amount, code="top_up")
    return wallet
