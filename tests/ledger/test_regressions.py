"""Regressions: defects found while trying to break the ledger, each stated as the behaviour
the ledger now has."""

from __future__ import annotations

import dataclasses
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, connect
from openbank.core.settings import Settings
from openbank.ledger import service
from openbank.ledger.writer import LedgerWriter
from tests.ledger.support import (
    NO_OVERDRAFT,
    account,
    api_account,
    api_body,
    api_get,
    api_transfer,
    move,
    open_account,
    spec,
    transfer_count,
)

# -- bad metadata is bad input, not an internal error -----------------------------------------

BEYOND_64_BITS = '{"n": 100000000000000000000000000}'
TOO_DEEP = '{"a": ' * 300 + "1" + "}" * 300


def _post_raw(client: TestClient, path: str, body: str) -> tuple[int, str]:
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    return r.status_code, str(r.json().get("code"))


def _transfer_with_metadata(client: TestClient, metadata: str) -> str:
    bank, other = api_account(client), api_account(client)
    return (
        f'{{"debit_account_id": "{bank}", "credit_account_id": "{other}", "amount": 5,'
        f' "currency": "CNY", "code": "test_transfer", "metadata": {metadata}}}'
    )


@pytest.mark.parametrize("metadata", [BEYOND_64_BITS, TOO_DEEP], ids=["big_int", "too_deep"])
def test_transfer_metadata_that_cannot_be_stored_is_refused_as_bad_input(
    client: TestClient, db: Database, metadata: str
) -> None:
    body = _transfer_with_metadata(client, metadata)
    before = transfer_count(db)
    assert _post_raw(client, "/v1/ledger/transfers", body) == (422, "validation_error")
    assert transfer_count(db) == before


@pytest.mark.parametrize("metadata", [BEYOND_64_BITS, TOO_DEEP], ids=["big_int", "too_deep"])
def test_account_metadata_that_cannot_be_stored_is_refused_as_bad_input(
    client: TestClient, metadata: str
) -> None:
    body = f'{{"currency": "CNY", "code": "test_account", "metadata": {metadata}}}'
    assert _post_raw(client, "/v1/ledger/accounts", body) == (422, "validation_error")


# -- idempotency keys of batches ----------------------------------------------------------------


def test_a_batch_key_never_collides_with_another_requests_key(client: TestClient) -> None:
    bank = api_account(client)
    first, second = api_account(client), api_account(client)
    key = f"order-{uuid.uuid4()}"
    r = client.post(
        "/v1/ledger/transfers",
        json=api_body(bank, first, 100),
        headers={"Idempotency-Key": f"{key}#0"},
    )
    assert r.status_code == 201, r.text

    r = client.post(
        "/v1/ledger/transfers/batch",
        json={"transfers": [api_body(bank, second, 200)]},
        headers={"Idempotency-Key": key},
    )

    assert r.status_code == 201, r.text
    assert r.json()["data"][0]["status"] == "created"
    assert api_get(client, second)["credits_posted"] == 200


def test_a_batch_retried_with_its_key_but_another_body_is_refused(client: TestClient) -> None:
    bank, wallet = api_account(client), api_account(client)
    key = f"batch-{uuid.uuid4()}"
    first = {"transfers": [api_body(bank, wallet, 100)]}
    r = client.post("/v1/ledger/transfers/batch", json=first, headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text

    other = {"transfers": [api_body(bank, wallet, 100), api_body(bank, wallet, 900)]}
    r = client.post("/v1/ledger/transfers/batch", json=other, headers={"Idempotency-Key": key})

    assert (r.status_code, r.json().get("code")) == (409, "idempotency_key_reused")
    assert api_get(client, wallet)["credits_posted"] == 100


# -- group commit keeps requests apart ------------------------------------------------------


def test_a_request_ending_in_an_open_chain_is_not_linked_to_its_neighbour(
    db: Database, settings: Settings
) -> None:
    bank = open_account(db)
    other = open_account(db)
    empty_wallet = open_account(db, NO_OVERDRAFT)
    mine = dataclasses.replace(service.transfer_command(spec(bank, other, 10)), linked=True)
    theirs = service.transfer_command(spec(empty_wallet, other, 10))  # refused: no funds
    writer = LedgerWriter(lambda: connect(settings), ShiftedClock())
    my_request = service.submit(writer, [mine])  # both queued before the writer starts,
    their_request = service.submit(writer, [theirs])  # so they share one batch
    writer.start()
    try:
        (my_outcome,) = my_request.result(timeout=30)
        (their_outcome,) = their_request.result(timeout=30)
    finally:
        writer.stop()

    assert their_outcome.error is not None
    assert their_outcome.error.code == "exceeds_credits"
    assert my_outcome.error is None
    assert account(db, other).credits_posted == 10


# -- verify covers transfers too ------------------------------------------------------------


def test_verify_detects_a_transfer_whose_amount_was_edited(fresh_db: Database) -> None:
    bank = open_account(fresh_db)
    wallet = open_account(fresh_db, NO_OVERDRAFT)
    transfer = move(fresh_db, bank, wallet, 1_000)
    assert service.verify(fresh_db).ok
    with psycopg.connect(fresh_db.url, autocommit=True) as conn:
        conn.execute("ALTER TABLE ledger_transfers DISABLE TRIGGER USER")
        conn.execute("UPDATE ledger_transfers SET amount = 1000000 WHERE id = %s", [transfer.id])
        conn.execute("ALTER TABLE ledger_transfers ENABLE TRIGGER USER")

    report = service.verify(fresh_db)

    assert not report.ok
    assert any(str(transfer.id) in problem for problem in report.problems)


def test_metadata_defects_leave_ordinary_metadata_alone(client: TestClient) -> None:
    """Guard for the tests above: ordinary nested metadata is stored and echoed as sent."""
    bank, wallet = api_account(client), api_account(client)
    metadata = {"order": {"id": 2**63 - 1, "lines": [1, 2, {"sku": "x"}]}}
    transfer = api_transfer(client, bank, wallet, 5, metadata=metadata)
    assert transfer["metadata"] == metadata
