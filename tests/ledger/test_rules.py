"""The ledger's rules, one behaviour each, through the public service."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from psycopg import errors as pg_errors
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from openbank.core.database import Database, unit_of_work
from openbank.ledger import errors, service
from openbank.ledger.schemas import PendingResolution, Transfer, TransferCreate
from tests.ledger.support import (
    CREDIT_CAPPED,
    NO_OVERDRAFT,
    accounts,
    balance,
    move,
    open_account,
    utcnow,
)


def _funded(db: Database, amount: int = 1_000) -> tuple[uuid.UUID, uuid.UUID]:
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    move(db, bank, wallet, amount)
    return bank, wallet


def _resolve(
    db: Database, pending_id: uuid.UUID, *, post: bool, amount: int | None = None
) -> Transfer:
    command = service.resolution_command(pending_id, PendingResolution(amount=amount), post=post)
    return unit_of_work(db, lambda s: service.transfer(s, command, utcnow()))


def _batch(db: Database, specs: list[TransferCreate], *, linked: bool) -> list[str]:
    commands = service.batch_commands(specs, None, linked=linked)
    outcomes = unit_of_work(db, lambda s: service.execute(s, commands, utcnow()))
    return [o.error.code if o.error else "ok" for o in outcomes]


def _spec(debit: uuid.UUID, credit: uuid.UUID, amount: int, **extra: object) -> TransferCreate:
    return TransferCreate.model_validate(
        {
            "debit_account_id": debit,
            "credit_account_id": credit,
            "amount": amount,
            "currency": "CNY",
            "code": "t",
            **extra,
        }
    )


def test_no_overdraft_account_refuses_to_go_below_zero(db: Database) -> None:
    bank, wallet = _funded(db, 500)
    with pytest.raises(errors.ExceedsCredits):
        move(db, wallet, bank, 501)
    assert balance(accounts(db, [wallet])[0]) == 500


def test_credits_must_not_exceed_debits_caps_an_asset_account(db: Database) -> None:
    loan = open_account(db, CREDIT_CAPPED)
    cash = open_account(db)
    move(db, loan, cash, 1_000)  # disburse: the receivable is debited
    with pytest.raises(errors.ExceedsDebits):
        move(db, cash, loan, 1_001)  # repaying more than is owed
    move(db, cash, loan, 1_000)


def test_transfer_between_currencies_is_refused(db: Database) -> None:
    cny = open_account(db)
    usd = open_account(db, currency="USD")
    with pytest.raises(errors.CurrencyMismatch):
        move(db, cny, usd, 100)


def test_unknown_account_is_refused(db: Database) -> None:
    bank = open_account(db)
    with pytest.raises(errors.CreditAccountNotFound):
        move(db, bank, uuid.uuid4(), 100)
    with pytest.raises(errors.DebitAccountNotFound):
        move(db, uuid.uuid4(), bank, 100)


def test_closed_account_takes_no_transfer(db: Database) -> None:
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    unit_of_work(db, lambda s: service.close_account(s, wallet))
    with pytest.raises(errors.CreditAccountClosed):
        move(db, bank, wallet, 1)


def test_account_with_money_cannot_be_closed(db: Database) -> None:
    _, wallet = _funded(db, 1)
    with pytest.raises(errors.AccountNotEmpty):
        unit_of_work(db, lambda s: service.close_account(s, wallet))


def test_pending_transfer_reserves_funds_on_both_sides(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    move(db, wallet, bank, 600, pending=True)
    (account,) = accounts(db, [wallet])
    assert account.debits_pending == 600
    with pytest.raises(errors.ExceedsCredits):
        move(db, wallet, bank, 401)  # only 400 is still available


def test_posting_in_full_moves_the_reserved_amount(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True)
    posted = _resolve(db, pending.id, post=True)
    assert posted.kind == "post_pending"
    assert posted.amount == 600
    (account,) = accounts(db, [wallet])
    assert (balance(account), account.debits_pending) == (400, 0)


def test_posting_part_releases_the_rest(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True)
    _resolve(db, pending.id, post=True, amount=250)
    (account,) = accounts(db, [wallet])
    assert (balance(account), account.debits_pending) == (750, 0)
    stored = unit_of_work(db, lambda s: service.get_transfer(s, pending.id))
    assert (stored.state, stored.posted_amount) == ("posted", 250)


def test_posting_more_than_reserved_is_refused(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True)
    with pytest.raises(errors.ExceedsPendingTransferAmount):
        _resolve(db, pending.id, post=True, amount=601)


def test_void_releases_the_reservation(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True)
    _resolve(db, pending.id, post=False)
    (account,) = accounts(db, [wallet])
    assert (balance(account), account.debits_pending) == (1_000, 0)


def test_pending_transfer_resolves_at_most_once(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True)
    _resolve(db, pending.id, post=True)
    with pytest.raises(errors.PendingTransferAlreadyPosted):
        _resolve(db, pending.id, post=True)
    with pytest.raises(errors.PendingTransferAlreadyPosted):
        _resolve(db, pending.id, post=False)


def test_fifty_concurrent_posts_of_one_pending_transfer_post_it_once(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True)

    def post(_: int) -> str:
        try:
            _resolve(db, pending.id, post=True)
        except errors.PendingTransferAlreadyPosted:
            return "already"
        return "posted"

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(post, range(50)))
    assert results.count("posted") == 1
    assert balance(accounts(db, [wallet])[0]) == 400


def test_expired_pending_transfer_is_released_and_cannot_be_posted(fresh_db: Database) -> None:
    db = fresh_db  # out of reach of the session app's sweeper and its shifted clock
    bank, wallet = _funded(db, 1_000)
    pending = move(db, wallet, bank, 600, pending=True, timeout_seconds=60)
    later = utcnow() + timedelta(seconds=61)
    released = unit_of_work(db, lambda s: service.expire_pending_transfers(s, later))
    assert released >= 1
    (account,) = accounts(db, [wallet])
    assert (balance(account), account.debits_pending) == (1_000, 0)
    with pytest.raises(errors.PendingTransferExpired):
        _resolve(db, pending.id, post=True)


def test_pending_transfer_is_not_released_before_its_timeout(fresh_db: Database) -> None:
    db = fresh_db  # out of reach of the session app's sweeper and its shifted clock
    bank, wallet = _funded(db, 1_000)
    move(db, wallet, bank, 600, pending=True, timeout_seconds=60)
    unit_of_work(db, lambda s: service.expire_pending_transfers(s, utcnow()))
    assert accounts(db, [wallet])[0].debits_pending == 600


def test_timeout_on_a_single_phase_transfer_is_refused(db: Database) -> None:
    bank, wallet = _funded(db)
    with pytest.raises(errors.TimeoutReservedForPendingTransfer):
        move(db, bank, wallet, 1, timeout_seconds=10)


def test_linked_batch_applies_nothing_when_one_member_fails(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    other = open_account(db, NO_OVERDRAFT)
    results = _batch(
        db,
        [_spec(wallet, other, 700), _spec(wallet, other, 700), _spec(bank, other, 5)],
        linked=True,
    )
    assert results == ["linked_event_failed", "exceeds_credits", "linked_event_failed"]
    assert [balance(a) for a in accounts(db, [wallet, other])] == [1_000, 0]


def test_unlinked_batch_applies_each_transfer_on_its_own(db: Database) -> None:
    bank, wallet = _funded(db, 1_000)
    other = open_account(db, NO_OVERDRAFT)
    results = _batch(
        db,
        [_spec(wallet, other, 700), _spec(wallet, other, 700), _spec(bank, other, 5)],
        linked=False,
    )
    assert results == ["ok", "exceeds_credits", "ok"]
    assert [balance(a) for a in accounts(db, [wallet, other])] == [300, 705]


def test_linked_batch_sees_its_own_earlier_members(db: Database) -> None:
    bank = open_account(db)
    a = open_account(db, NO_OVERDRAFT)
    b = open_account(db, NO_OVERDRAFT)
    results = _batch(db, [_spec(bank, a, 100), _spec(a, b, 100)], linked=True)
    assert results == ["ok", "ok"]
    assert [balance(x) for x in accounts(db, [a, b])] == [0, 100]


def test_balancing_debit_moves_at_most_what_the_account_holds(db: Database) -> None:
    bank, wallet = _funded(db, 350)
    moved = move(db, wallet, bank, 1_000, balancing="debit")
    assert moved.amount == 350
    assert balance(accounts(db, [wallet])[0]) == 0


def test_balancing_debit_of_an_empty_account_is_refused(db: Database) -> None:
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    with pytest.raises(errors.ExceedsCredits):
        move(db, wallet, bank, 1_000, balancing="debit")


def test_same_idempotency_key_and_request_replays_the_first_transfer(db: Database) -> None:
    bank, wallet = _funded(db)
    key = f"k-{uuid.uuid4()}"
    first = move(db, bank, wallet, 10, key=key)
    second = move(db, bank, wallet, 10, key=key)
    assert first.id == second.id
    assert balance(accounts(db, [wallet])[0]) == 1_010


def test_same_idempotency_key_with_another_request_is_refused(db: Database) -> None:
    bank, wallet = _funded(db)
    key = f"k-{uuid.uuid4()}"
    move(db, bank, wallet, 10, key=key)
    with pytest.raises(errors.IdempotencyKeyReused):
        move(db, bank, wallet, 11, key=key)


def test_same_transfer_id_with_same_fields_is_a_replay(db: Database) -> None:
    bank, wallet = _funded(db)
    transfer_id = uuid.uuid4()
    move(db, bank, wallet, 10, id=transfer_id)
    again = move(db, bank, wallet, 10, id=transfer_id)
    assert again.id == transfer_id
    assert balance(accounts(db, [wallet])[0]) == 1_010


def test_same_transfer_id_with_other_fields_is_refused(db: Database) -> None:
    bank, wallet = _funded(db)
    transfer_id = uuid.uuid4()
    move(db, bank, wallet, 10, id=transfer_id)
    with pytest.raises(errors.TransferExistsWithDifferentFields):
        move(db, bank, wallet, 20, id=transfer_id)


def test_statement_carries_running_balances_in_order(db: Database) -> None:
    bank, wallet = _funded(db, 100)
    move(db, wallet, bank, 30)
    move(db, bank, wallet, 5)
    entries, cursor = unit_of_work(db, lambda s: service.list_entries(s, wallet, None, 2))
    rest, end = unit_of_work(db, lambda s: service.list_entries(s, wallet, cursor, 2))
    assert [e.credits_posted - e.debits_posted for e in entries + rest] == [100, 70, 75]
    assert [e.seq for e in entries + rest] == [1, 2, 3]
    assert end is None


def test_journal_refuses_updates(db: Database) -> None:
    _, wallet = _funded(db)
    with pytest.raises(DBAPIError) as refused:
        unit_of_work(
            db,
            lambda s: s.execute(
                text("UPDATE ledger_entries SET amount = 1 WHERE account_id = :a"), {"a": wallet}
            ),
        )
    assert isinstance(refused.value.orig, pg_errors.IntegrityConstraintViolation)


def test_verify_passes_on_a_consistent_ledger(fresh_db: Database) -> None:
    bank, wallet = _funded(fresh_db, 1_000)
    pending = move(fresh_db, wallet, bank, 300, pending=True)
    _resolve(fresh_db, pending.id, post=True, amount=100)
    report = service.verify(fresh_db)
    assert report.ok, report.problems
    assert report.entries == 6


def test_verify_detects_an_edited_journal_entry(fresh_db: Database) -> None:
    _, wallet = _funded(fresh_db, 1_000)
    with fresh_db.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # bypass triggers
        conn.execute(
            text("UPDATE ledger_entries SET amount = 999 WHERE account_id = :a"), {"a": wallet}
        )
    report = service.verify(fresh_db)
    assert not report.ok
    assert any("hash does not match" in p for p in report.problems)


def test_verify_detects_a_tampered_balance(fresh_db: Database) -> None:
    _, wallet = _funded(fresh_db, 1_000)
    with fresh_db.engine.begin() as conn:
        conn.execute(
            text("UPDATE ledger_accounts SET credits_posted = 5000 WHERE id = :a"), {"a": wallet}
        )
    report = service.verify(fresh_db)
    assert not report.ok
    assert any("differ from its journal" in p for p in report.problems)
    assert any("posted debits" in p for p in report.problems)
