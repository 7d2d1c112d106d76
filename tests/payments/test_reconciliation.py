"""Reconciliation: payments, refunds, fees, settlements and revenue shares tied to the ledger.
Clean after real business; every break injected below is found. Each test has a database of
its own: the report reads every merchant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import text

from openbank.core.clock import business_date
from openbank.core.database import Database, unit_of_work
from openbank.customers import service as customers
from openbank.ledger import service as ledger
from openbank.ledger.schemas import TransferCreate
from openbank.payments import accounts, service, settlement
from openbank.payments.schemas import Merchant, PaymentCreate
from tests.payments.settlement_support import Acquiring


@pytest.fixture
def bank(fresh_db: Database) -> Acquiring:
    return Acquiring(fresh_db, fresh_db.settings)


def busy_day(bank: Acquiring) -> tuple[Merchant, Merchant]:
    """Two merchants, one through a partner with an agreement, refunds, and a shortfall
    carried forward; settled over two days."""
    partner = bank.partner()
    bank.partner_account(partner)
    plan = bank.plan(rate_ppm=6000, fixed_fee=10, revenue_share_ppm=200_000)
    shop = bank.merchant(plan)
    other = bank.merchant(plan, partner_id=partner)
    made = bank.pay(shop.id, 100_000)
    bank.pay(shop.id, 2_000)
    bank.pay(other.id, 50_000)
    bank.refund(made.id, 30_000)
    bank.next_day()
    bank.settle()
    bank.refund(made.id, 70_000)  # more than the day brings: a shortfall
    bank.pay(shop.id, 1_000)
    bank.pay(other.id, 5_000)
    bank.next_day()
    bank.settle()
    return shop, other


def report(bank: Acquiring) -> settlement.ReconciliationReport:
    return settlement.reconciliation_report(bank.db, bank.today)


def kinds(found: settlement.ReconciliationReport) -> set[str]:
    return {b.kind for b in found.breaks}


def test_reconciliation_is_clean_after_settlement(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    found = report(bank)
    assert found.breaks == []
    assert found.ok
    assert (found.settlements, found.captures_checked, found.refunds_checked) == (2, 2, 1)
    assert bank.settlement_of(shop.id).carried_out < 0  # the shortfall is part of the check


def test_reconciliation_is_clean_with_payments_waiting_for_settlement(bank: Acquiring) -> None:
    busy_day(bank)
    shop = bank.merchant()
    bank.pay(shop.id, 7_000)
    found = report(bank)
    assert found.ok, found.breaks
    assert found.captures_checked == 3  # two settled today, one waiting from today


def test_money_moved_into_a_clearing_shard_outside_payments_is_a_break(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    payer = bank.payer(5_000)
    spec = TransferCreate(
        debit_account_id=payer.ledger_account_id,
        credit_account_id=accounts.clearing_account_id(shop.id, 3),
        amount=5_000,
        currency="CNY",
        code="stray",
    )
    bank.work(lambda s: ledger.transfer(s, ledger.transfer_command(spec), bank.now))
    found = report(bank)
    assert not found.ok
    assert [(b.kind, b.merchant_id) for b in found.breaks] == [
        ("clearing_balance_mismatch", shop.id)
    ]


def test_a_tampered_capture_amount_is_a_break(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text(
                "UPDATE payment_captures SET amount = amount + 1 WHERE id IN ("
                " SELECT i.item_id FROM payment_settlement_items AS i"
                " JOIN payment_settlements AS s ON s.id = i.settlement_id"
                " WHERE s.merchant_id = :m AND s.settled_on = :d AND i.kind = 'capture')"
            ),
            {"m": shop.id, "d": bank.today},
        ),
    )
    assert kinds(report(bank)) == {"capture_transfer_mismatch", "item_amount_mismatch"}


def test_a_capture_whose_ledger_transfer_is_missing_is_a_break(bank: Acquiring) -> None:
    busy_day(bank)
    shop = bank.merchant()
    made = bank.pay(shop.id, 7_000)
    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text("UPDATE payment_captures SET ledger_transfer_id = :t WHERE order_id = :o"),
            {"t": "00000000-0000-7000-8000-000000000000", "o": made.id},
        ),
    )
    found = report(bank)
    assert [(b.kind, b.subject.split()[0]) for b in found.breaks] == [
        ("capture_transfer_missing", "capture")
    ]


def test_a_tampered_settlement_fee_is_a_break(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text(
                "UPDATE payment_settlements SET fees = fees + 5, net = net - 5"
                " WHERE merchant_id = :m AND settled_on = :d"
            ),
            {"m": shop.id, "d": bank.today},
        ),
    )
    assert {"settlement_totals_mismatch", "fee_transfer_mismatch"} <= kinds(report(bank))


def test_a_missing_revenue_share_is_a_break(bank: Acquiring) -> None:
    _, other = busy_day(bank)
    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text("DELETE FROM payment_revenue_shares WHERE merchant_id = :m AND settled_on = :d"),
            {"m": other.id, "d": bank.today},
        ),
    )
    assert {"revenue_share_missing", "fee_income_balance_mismatch"} <= kinds(report(bank))


# -- the settlement_id column against the items -------------------------------------------


def column_breaks(found: settlement.ReconciliationReport) -> list[tuple[str, str]]:
    return [(b.subject, b.detail) for b in found.breaks if b.kind == "settlement_column_mismatch"]


def test_a_settled_capture_not_marked_settled_is_a_break(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    today = bank.settlement_of(shop.id)
    (capture,) = [line.item_id for line in today.lines if line.kind == "capture"]
    bank.sql("UPDATE payment_captures SET settlement_id = NULL WHERE id = :id", id=capture)
    found = report(bank)
    assert column_breaks(found) == [
        (
            f"capture {capture}",
            f"an item of settlement {today.id}, the capture is not marked settled",
        )
    ]
    # Counted unsettled, its money is missing from the clearing too.
    assert kinds(found) == {"settlement_column_mismatch", "clearing_balance_mismatch"}


def test_a_refund_marked_with_another_settlement_is_a_break(bank: Acquiring) -> None:
    shop, other = busy_day(bank)
    (refund,) = [
        line.item_id for line in bank.settlement_of(shop.id).lines if line.kind == "refund"
    ]
    elsewhere = bank.settlement_of(other.id).id  # a settlement of the same date
    bank.sql("UPDATE payment_refunds SET settlement_id = :s WHERE id = :id", s=elsewhere, id=refund)
    found = report(bank)
    assert [b.kind for b in found.breaks] == ["settlement_column_mismatch"]
    assert column_breaks(found)[0][0] == f"refund {refund}"
    assert column_breaks(found)[0][1].endswith(f"the refund is marked settled by {elsewhere}")


def test_a_capture_marked_settled_without_an_item_is_a_break(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    today = bank.settlement_of(shop.id)
    capture = bank.capture_id(bank.pay(shop.id, 4_000).id)  # today's: not settled
    bank.sql(
        "UPDATE payment_captures SET settlement_id = :s WHERE id = :id", s=today.id, id=capture
    )
    found = report(bank)
    assert column_breaks(found) == [
        (f"capture {capture}", f"marked settled by {today.id}, which has no item for it")
    ]
    # Counted settled, its money is left over in the clearing too.
    assert kinds(found) == {"settlement_column_mismatch", "clearing_balance_mismatch"}


def test_an_item_whose_capture_is_gone_is_a_break(bank: Acquiring) -> None:
    shop, _ = busy_day(bank)
    today = bank.settlement_of(shop.id)
    (capture,) = [line.item_id for line in today.lines if line.kind == "capture"]
    bank.sql("DELETE FROM payment_captures WHERE id = :id", id=capture)
    found = report(bank)
    assert column_breaks(found) == [
        (f"capture {capture}", f"an item of settlement {today.id}, and no such capture")
    ]
    assert kinds(found) == {"settlement_column_mismatch"}


def test_a_capture_marked_settled_is_left_by_the_batch_and_its_money_shows_later(
    bank: Acquiring,
) -> None:
    """The column is what the batch reads: a capture marked settled without an item is not
    taken by the next batch, and that date's report finds its money left in the clearing (the
    report of the date the column names is the one that names the capture)."""
    shop, _ = busy_day(bank)
    capture = bank.capture_id(bank.pay(shop.id, 4_000).id)
    bank.sql(
        "UPDATE payment_captures SET settlement_id = :s WHERE id = :id",
        s=bank.settlement_of(shop.id).id,
        id=capture,
    )
    bank.next_day()
    assert bank.settle().created == 0
    assert capture not in bank.item_counts(shop.id)
    later = report(bank)
    assert [(b.kind, b.merchant_id) for b in later.breaks] == [
        ("clearing_balance_mismatch", shop.id)
    ]


# -- the command line -----------------------------------------------------------------------


def payments_command(bank: Acquiring, *args: str) -> subprocess.CompletedProcess[str]:
    """`openbank payments ...` as a process of its own, on the bank's database (and the real
    clock: dates are given)."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from openbank.payments.cli import payments_app; payments_app(prog_name='payments')",
            *args,
        ],
        env={**os.environ, "OPENBANK_DATABASE_URL": bank.settings.database_url or ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_command_line_settles_reconciles_and_writes_the_file(
    bank: Acquiring, tmp_path: Path
) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000))
    made = bank.pay(shop.id, 100_000)
    # The command runs on the real clock: the payment is of the real yesterday.
    today = business_date(datetime.now(UTC), bank.settings.tz)
    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text("UPDATE payment_captures SET business_date = :d WHERE order_id = :o"),
            {"d": today - timedelta(days=1), "o": made.id},
        ),
    )
    settled = payments_command(bank, "settle", "--date", today.isoformat(), "--json")
    assert settled.returncode == 0, settled.stderr
    assert (json.loads(settled.stdout)["created"], json.loads(settled.stdout)["fees"]) == (1, 600)

    clean = payments_command(bank, "reconcile", "--date", today.isoformat(), "--json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["ok"] is True

    out = tmp_path / "settlement.csv"
    written = payments_command(
        bank, "settlement-file", "--merchant", str(shop.id), "--date", today.isoformat(),
        "--out", str(out),
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert out.read_text().splitlines()[0].startswith("kind,item_id,order_id")

    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text("UPDATE payment_captures SET amount = amount - 1 WHERE order_id = :o"),
            {"o": made.id},
        ),
    )
    broken = payments_command(bank, "reconcile", "--date", today.isoformat(), "--json")
    assert broken.returncode == 1
    assert "item_amount_mismatch" in {b["kind"] for b in json.loads(broken.stdout)["breaks"]}


def test_the_command_line_refuses_a_bad_date(bank: Acquiring) -> None:
    result = payments_command(bank, "settle", "--date", "2026-02-30")
    assert result.returncode == 2
    assert "is not a date" in result.stderr


# -- concurrency ----------------------------------------------------------------------------


def test_settlement_racing_payments_and_refunds_ends_clean(bank: Acquiring) -> None:
    """While the batch settles yesterday's business (four merchants at once), payers pay and
    are refunded, and one merchant's settlement e-account pays another merchant: no deadlock
    reaches anyone, and everything reconciles."""
    partner = bank.partner()
    bank.partner_account(partner)
    plan = bank.plan(rate_ppm=6000, revenue_share_ppm=300_000)
    shops = [bank.merchant(plan, partner_id=partner if i % 2 else None) for i in range(6)]
    payers = [bank.payer(10_000_000) for _ in range(6)]
    yesterday = [bank.pay(shop.id, 20_000, payers[i]) for i, shop in enumerate(shops) for _ in "ab"]
    bank.next_day()
    # The first merchant's settlement e-account will pay the second merchant.
    bank.work(
        lambda s: customers.top_up(
            s, shops[0].settlement_e_account_id, 1_000_000, bank.now, bank.settings
        )
    )
    errors: list[BaseException] = []

    def pay(worker: int) -> None:
        try:
            for n in range(6):
                shop = shops[(worker + n) % len(shops)]
                bank.pay(shop.id, 1_000 + n, payers[worker])
                bank.refund(yesterday[(worker * 2 + n) % len(yesterday)].id, 100)
            merchant_payer = PaymentCreate(e_account_id=shops[0].settlement_e_account_id)
            for _ in range(3):
                made = bank.order(shops[1].id, 500)
                bank.work(
                    partial(
                        service.pay,
                        order_id=made.id,
                        spec=merchant_payer,
                        now=bank.now,
                        settings=bank.settings,
                    )
                )
        except BaseException as exc:
            errors.append(exc)

    def settle() -> None:
        try:
            run = settlement.run_settlement(
                lambda fn: unit_of_work(bank.db, fn), bank.now, bank.settings, workers=4
            )
            assert run.failed == []
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pay, args=(w,)) for w in range(len(payers))]
    threads.append(threading.Thread(target=settle))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(bank.settlements_of(shops[0].id)) == 1
    found = report(bank)
    assert found.breaks == []
