"""Settlement benchmark: the daily settlement batch over N payments (default 1,000,000) spread
over 1,000 merchants, beside the same run's pgbench TPC-B figure on the same PostgreSQL server.

    .venv/bin/python bench/settlement_bench.py [--payments 1000000] [--merchants 1000]
                                               [--history 100000]
                                               [--database-url URL] [--json]

1. Baseline: `pgbench -i -s <scale>` and `pgbench -c 16 -j 2 -T <seconds> -M prepared` into a
   database of its own on the server the benchmark uses (see bench/ledger_bench.py).
2. Real data, made as fast as possible (its time is reported apart; it is not the measured
   figure): a fee plan with a revenue share, `--merchants` merchants onboarded through
   `payments.service` (enterprise customer, settlement e-account, clearing shards), a few
   partner platforms with payout e-accounts and agreements. Then the payments of one business
   day: every one a real card payment in the ledger (card clearing -> a random clearing shard
   of its merchant, applied by the ledger engine in batches), with its order and capture rows
   loaded by COPY; `--refund-ratio` of them partly refunded the same way (clearing shard ->
   card clearing). A tenth of the payments come through a partner platform. Then ANALYZE.
3. Measured: `run_settlement` for the next business day (every merchant settled in a
   transaction of its own: items, fees set-based in SQL, the fee, payout and revenue share
   transfers through the ledger). Then the reconciliation report, which must find no break.
4. With `--history N`: a later day on top of that settled history. The first batch's old row
   versions are vacuumed (what autovacuum does in the day between two batches; timed apart),
   N payments are made on the next business day the same way, and that day's batch and its
   reconciliation are measured: they should cost what N payments cost, not the history.

Target (issue 5): 1,000,000 payments settled in <= 120 s. Exits 1 when the batch failed a
merchant, settled fewer payments than were made, or the reconciliation found a break; a
missed time target is reported, not failed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text

from ledger_bench import CpuMeter, machine_info, run_pgbench
from openbank.core.clock import business_date
from openbank.core.database import (
    Database,
    create_database,
    drop_database,
    embedded_server,
    unit_of_work,
)
from openbank.core.ids import new_id
from openbank.core.logging import configure_logging
from openbank.core.migrate import upgrade
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.ledger import service as ledger
from openbank.models import import_all_models
from openbank.payments import accounts, service, settlement
from openbank.payments.schemas import FeePlanCreate, MerchantCreate
from openbank.platform import service as platform
from openbank.platform.schemas import PartnerCreate

log = Console(stderr=True)
TARGET_SECONDS = 120.0
TARGET_PAYMENTS = 1_000_000
LEDGER_BATCH = 5_000
PARTNERS = 5

_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code(n: int) -> str:
    """A valid unified social credit code (GB 32100 check character), one per `n`."""
    digits = ""
    for _ in range(9):
        n, r = divmod(n, 31)
        digits += _CREDIT_ALPHABET[r]
    body = "91310000" + digits
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_ALPHABET[(31 - total % 31) % 31]


def card(n: int) -> str:
    payload = f"621700{n:09d}"
    total = 0
    for i, ch in enumerate(reversed(payload)):
        v = int(ch)
        if i % 2 == 0:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return payload + str((10 - total % 10) % 10)


def progress(label: str) -> Progress:
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=log
    )


# -- the parties ----------------------------------------------------------------------------


def make_parties(
    db: Database, settings: Settings, now: datetime, merchants: int, seed: int
) -> tuple[list[tuple[uuid.UUID, int]], list[uuid.UUID]]:
    """The merchants (id, clearing shards) and the partner platforms, through the services."""
    plan = FeePlanCreate(
        code="bench-standard",
        name="Standard retail",
        rate_ppm=6000,
        fixed_fee=0,
        min_fee=1,
        max_fee=5000,
        tiers=[{"name": "gold", "min_average_deposit_balance": 10**8, "rate_reduction_ppm": 1500}],
        revenue_share_ppm=200_000,
    )
    unit_of_work(db, lambda s: service.create_fee_plan(s, plan, now))
    partners: list[uuid.UUID] = []
    for p in range(PARTNERS):

        def partner(s: Any, p: int = p) -> uuid.UUID:
            made = platform.create_partner(
                s,
                PartnerCreate(
                    legal_name=f"平台{p}",
                    unified_social_credit_code=credit_code(seed + 10_000_000 + p),
                    contact_name="王五",
                    contact_email="ops@example.com",
                    contact_phone="+8613800138000",
                ),
                now,
            )
            owner = customers.create_customer(
                s,
                CustomerCreate(
                    type="enterprise",
                    name=f"平台{p}",
                    id_number=credit_code(seed + 20_000_000 + p),
                    phone="+8613800138000",
                    kyc_level=3,
                ),
                now,
                settings,
            )
            account = customers.open_e_account(
                s,
                EAccountCreate(
                    customer_id=owner.id,
                    account_class="I",
                    bound_card=BoundCardCreate(
                        number=card(seed + 20_000_000 + p), bank_name="银行"
                    ),
                ),
                now,
            )
            settlement.set_revenue_share_agreement(
                s, made.id, settlement.RevenueShareAgreementSet(payout_e_account_id=account.id), now
            )
            return made.id

        partners.append(unit_of_work(db, partner))
    made: list[tuple[uuid.UUID, int]] = []
    with progress("onboarding merchants") as bar:
        task = bar.add_task("merchants", total=merchants)
        for m in range(merchants):
            spec = MerchantCreate.model_validate(
                {
                    "legal_name": f"示例商户{m}",
                    "unified_social_credit_code": credit_code(seed + m),
                    "legal_representative": "张三",
                    "phone": "+8613800138000",
                    "mcc": "5812",
                    "fee_plan_code": plan.code,
                    "bound_account": {"number": card(seed + m), "bank_name": "中国工商银行"},
                }
            )
            merchant = unit_of_work(
                db, partial(service.onboard_merchant, spec=spec, now=now, settings=settings)
            )
            made.append((merchant.id, accounts.CLEARING_SHARDS))
            bar.advance(task)
    return made, partners


# -- the payments ---------------------------------------------------------------------------

ORDER_COLUMNS = (
    "id, merchant_id, out_trade_no, request_hash, amount, currency, description, capture_mode,"
    " status, expires_at, partner_id, app_id, payer_kind, payer_e_account_id, clearing_shard,"
    " authorized_amount, captured_amount, refunded_amount, created_at, updated_at, paid_at"
)
CAPTURE_COLUMNS = (
    "id, order_id, merchant_id, partner_id, amount, currency, ledger_transfer_id, business_date,"
    " captured_at"
)
REFUND_COLUMNS = (
    "id, order_id, merchant_id, partner_id, out_refund_no, request_hash, amount, currency,"
    " ledger_transfer_id, destination, business_date, refunded_at"
)


def write_batch(
    session: Any,
    commands: list[ledger.Command],
    orders: list[tuple[Any, ...]],
    captures: list[tuple[Any, ...]],
    refunds: list[tuple[Any, ...]],
    now: datetime,
) -> None:
    """One batch of payments: their transfers by the ledger engine, their rows by COPY."""
    outcomes = ledger.execute(session, commands, now)
    failed = [o.error for o in outcomes if o.error is not None]
    if failed:
        raise RuntimeError(f"ledger refused {len(failed)} transfers: {failed[0]}")
    conn = session.connection().connection.driver_connection
    with conn.cursor() as cur:
        for table, columns, rows in (
            ("payment_orders", ORDER_COLUMNS, orders),
            ("payment_captures", CAPTURE_COLUMNS, captures),
            ("payment_refunds", REFUND_COLUMNS, refunds),
        ):
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)


def make_payments(
    db: Database,
    settings: Settings,
    now: datetime,
    merchants: list[tuple[uuid.UUID, int]],
    partners: list[uuid.UUID],
    count: int,
    refund_ratio: float,
    rng: random.Random,
    number_from: int = 0,
) -> tuple[int, int, int]:
    """`count` card payments of one business day (and some refunds): the money through the
    ledger engine in batches, the rows by COPY, each batch in one transaction; the merchants'
    numbers for them (out_trade_no) from `number_from` on. Returns (payments, refunds, ledger
    transfers)."""
    day = business_date(now, settings.tz)
    card_clearing = unit_of_work(db, lambda s: customers.card_clearing(s, now))
    transfers = refunds = 0
    with progress("payments") as bar:
        task = bar.add_task("payments", total=count)
        for offset in range(0, count, LEDGER_BATCH):
            size = min(LEDGER_BATCH, count - offset)
            orders: list[tuple[Any, ...]] = []
            captures: list[tuple[Any, ...]] = []
            refund_rows: list[tuple[Any, ...]] = []
            commands: list[ledger.Command] = []
            for n in range(offset, offset + size):
                # A merchant's payments side by side: a ledger batch then touches few accounts.
                merchant_id, shards = merchants[n * len(merchants) // count]
                shard = rng.randrange(shards)
                clearing = accounts.clearing_account_id(merchant_id, shard)
                amount = rng.randint(100, 200_000)
                partner = partners[n % len(partners)] if partners and n % 10 == 0 else None
                order_id, capture_id, transfer_id = new_id(), new_id(), new_id()
                number = number_from + n  # the merchant's out_trade_no and out_refund_no
                commands.append(
                    ledger.Command(
                        kind="single", id=transfer_id, debit_account_id=card_clearing,
                        credit_account_id=clearing, amount=amount, currency="CNY",
                        code="card_payment", metadata={"payment_order_id": str(order_id)},
                    )
                )  # fmt: skip
                captures.append(
                    (capture_id, order_id, merchant_id, partner, amount, "CNY", transfer_id, day,
                     now)
                )  # fmt: skip
                refunded = rng.randint(1, amount) if rng.random() < refund_ratio else 0
                if refunded:
                    refund_transfer = new_id()
                    commands.append(
                        ledger.Command(
                            kind="single", id=refund_transfer, debit_account_id=clearing,
                            credit_account_id=card_clearing, amount=refunded, currency="CNY",
                            code="card_refund", metadata={"payment_order_id": str(order_id)},
                        )
                    )  # fmt: skip
                    refund_rows.append(
                        (new_id(), order_id, merchant_id, partner, f"R{number}", b"\0" * 32,
                         refunded, "CNY", refund_transfer, "card", day, now)
                    )  # fmt: skip
                status = "captured" if not refunded else (
                    "refunded" if refunded == amount else "partially_refunded"
                )  # fmt: skip
                orders.append(
                    (order_id, merchant_id, f"B{number}", b"\0" * 32, amount, "CNY", "bench",
                     "immediate", status, now + timedelta(hours=2), partner, None, "card", None,
                     shard, amount, amount, refunded, now, now, now)
                )  # fmt: skip

            unit_of_work(
                db,
                partial(
                    write_batch,
                    commands=commands,
                    orders=orders,
                    captures=captures,
                    refunds=refund_rows,
                    now=now,
                ),
            )
            transfers += len(commands)
            refunds += len(refund_rows)
            bar.advance(task, size)
    with psycopg.connect(db.url, autocommit=True) as conn:
        # The flow aggregates the payments keep as they happen, in one statement here.
        conn.execute(
            "INSERT INTO merchant_flow_daily SELECT o.merchant_id, %s, o.clearing_shard,"
            " count(*), sum(o.captured_amount), count(*) FILTER (WHERE o.refunded_amount > 0),"
            " sum(o.refunded_amount) FROM payment_orders AS o WHERE o.created_at = %s"
            " GROUP BY 1, 2, 3",
            [day, now],
        )
        conn.execute("ANALYZE")
    return count, refunds, transfers


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--payments", type=int, default=TARGET_PAYMENTS, help="payments made")
    parser.add_argument("--merchants", type=int, default=1000, help="merchants they go to")
    parser.add_argument(
        "--refund-ratio", type=float, default=0.02, help="part of the payments partly refunded"
    )
    parser.add_argument("--scale", type=int, default=16, help="pgbench -s")
    parser.add_argument("--pgbench-seconds", type=int, default=20, help="pgbench -T")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data")
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        metavar="N",
        help="then N payments on the next day, settled on top of the first day's history",
    )
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    return parser.parse_args(argv)


@dataclass
class Batch:
    """One measured batch and its reconciliation."""

    run: settlement.SettlementRun
    report: settlement.ReconciliationReport
    settled: int  # payments (captures) its settlements took


def settle_and_reconcile(db: Database, settings: Settings, settle_at: datetime) -> Batch:
    log.print(f"[bold]settlement[/bold] {business_date(settle_at, settings.tz)} ...")
    with progress("settling merchants") as bar:
        task = bar.add_task("merchants", total=None)
        run = settlement.run_settlement(
            lambda fn: unit_of_work(db, fn),
            settle_at,
            settings,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    log.print("[bold]reconciliation[/bold] ...")
    report = settlement.reconciliation_report(db, run.settled_on)
    settled = unit_of_work(
        db,
        lambda s: s.execute(
            text(
                "SELECT count(*) FROM payment_settlement_items AS i"
                " JOIN payment_settlements AS s ON s.id = i.settlement_id"
                " WHERE i.kind = 'capture' AND s.settled_on = :day"
            ),
            {"day": run.settled_on},
        ).scalar_one(),
    )
    return Batch(run, report, settled)


def vacuum(db: Database) -> float:
    """What autovacuum does between two days' batches: the row versions the batch replaced
    (marking what it settled) cleared from the tables and the partial indexes."""
    started = time.monotonic()
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) payment_captures, payment_refunds, payment_settlement_items")
    return time.monotonic() - started


def problems_of(batch: Batch, payments: int, label: str) -> list[str]:
    found: list[str] = []
    if batch.run.failed:
        found.append(
            f"{label}: {len(batch.run.failed)} merchants failed: {batch.run.failed[0].detail}"
        )
    if batch.settled != payments:
        found.append(f"{label}: {batch.settled:,} payments settled of {payments:,}")
    if not batch.report.ok:
        found.append(
            f"{label}: {len(batch.report.breaks)} reconciliation breaks:"
            f" {batch.report.breaks[0].detail}"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import_all_models()
    home = Path(tempfile.gettempdir()) / "openbank-settlement-bench"
    configure_logging(Settings(home=home))  # log lines to stderr: stdout is the result
    server_url = args.database_url or str(embedded_server(Settings(home=home)).get_uri())
    pgbench = run_pgbench(server_url, args.scale, 16, args.pgbench_seconds, CpuMeter(), False)
    log.print(f"  pgbench TPC-B: {pgbench.tps:,.0f} tps")
    url = create_database(server_url, "settlement_bench")
    settings = Settings(database_url=url, home=home)
    db = Database(settings)
    rng = random.Random(args.seed)
    # Payments at noon of one business day, settled at noon of the next (T+1); with a history,
    # a day earlier, so that the later day is not after today.
    days_back = 2 if args.history else 1
    paid_on = business_date(datetime.now(settings.tz), settings.tz) - timedelta(days=days_back)
    paid_at = datetime.combine(paid_on, clock_time(12), tzinfo=settings.tz)
    settle_at = paid_at + timedelta(days=1)
    later: Batch | None = None
    history: dict[str, Any] = {}
    try:
        upgrade(db.engine)
        started = time.monotonic()
        merchants, partners = make_parties(db, settings, paid_at, args.merchants, args.seed * 10**6)
        parties_s = time.monotonic() - started
        started = time.monotonic()
        payments, refunds, transfers = make_payments(
            db, settings, paid_at, merchants, partners, args.payments, args.refund_ratio, rng
        )
        generation_s = time.monotonic() - started
        first = settle_and_reconcile(db, settings, settle_at)
        if args.history:
            log.print("[bold]history[/bold]: vacuum, then the next day's payments ...")
            vacuum_s = vacuum(db)
            started = time.monotonic()
            later_payments, later_refunds, _ = make_payments(
                db, settings, settle_at, merchants, partners, args.history, args.refund_ratio,
                rng, number_from=args.payments,
            )  # fmt: skip
            history = {
                "payments": later_payments,
                "refunds": later_refunds,
                "vacuum_s": round(vacuum_s, 1),
                "generation_s": round(time.monotonic() - started, 1),
            }
            later = settle_and_reconcile(db, settings, settle_at + timedelta(days=1))
    finally:
        db.dispose()
        if not args.keep:
            drop_database(server_url, url)

    run, report = first.run, first.report
    problems = problems_of(first, payments, "first day")
    if later is not None:
        problems += problems_of(later, history["payments"], "later day")
        history.update(
            payments_settled=later.settled,
            settlement_s=later.run.seconds,
            payments_per_s=(
                round(later.settled / later.run.seconds, 1) if later.run.seconds else None
            ),
            reconciliation_s=later.report.seconds,
            reconciliation_breaks=len(later.report.breaks),
        )
    # The target is for 1,000,000 payments; a smaller run is held to the same rate.
    allowed = TARGET_SECONDS * args.payments / TARGET_PAYMENTS
    result: dict[str, Any] = {
        "machine": machine_info(),
        "pgbench_tps": round(pgbench.tps, 1),
        "merchants": len(merchants),
        "payments": payments,
        "refunds": refunds,
        "parties_s": round(parties_s, 1),
        "generation_s": round(generation_s, 1),
        "generation_ledger_transfers": transfers,
        "payments_settled": first.settled,
        "settlements": run.created,
        "settlement_items": run.items,
        "settlement_s": run.seconds,
        "payments_per_s": round(payments / run.seconds, 1) if run.seconds else None,
        "fees": run.fees,
        "paid_out": run.paid_out,
        "revenue_shares_paid": run.revenue_shares_paid,
        "reconciliation_s": report.seconds,
        "reconciliation_breaks": len(report.breaks),
        "target_s": round(allowed, 1),
        "target_met": run.seconds <= allowed,
        "history": history or None,
        "problems": problems,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table = Table(title="settlement benchmark", show_header=True)
        table.add_column("figure")
        table.add_column("value", justify="right")
        table.add_row("pgbench TPC-B, same server (tps)", f"{pgbench.tps:,.0f}")
        table.add_row("merchants", f"{len(merchants):,}")
        table.add_row("payments made (refunds)", f"{payments:,} ({refunds:,})")
        table.add_row("data generation, not measured (s)", f"{generation_s:,.1f}")
        table.add_row("payments settled", f"{first.settled:,}")
        table.add_row("settlements made", f"{run.created:,}")
        table.add_row("settlement (s)", f"{run.seconds:,.1f}")
        table.add_row("payments settled per second", f"{result['payments_per_s']:,}")
        table.add_row("reconciliation (s)", f"{report.seconds:,.1f}")
        table.add_row("reconciliation breaks", f"{len(report.breaks)}")
        verdict = "[green]met[/green]" if result["target_met"] else "[red]not met[/red]"
        scaled = "" if args.payments == TARGET_PAYMENTS else " (scaled to this run's size)"
        table.add_row(f"target <= {allowed:,.0f} s{scaled}", verdict)
        if later is not None:
            table.add_row("[bold]the next day, on that history[/bold]", "")
            table.add_row("vacuum between the days, not measured (s)", f"{history['vacuum_s']}")
            table.add_row(
                "payments made (refunds)", f"{history['payments']:,} ({history['refunds']:,})"
            )
            table.add_row("payments settled", f"{later.settled:,}")
            table.add_row("settlement (s)", f"{later.run.seconds:,.1f}")
            table.add_row("payments settled per second", f"{history['payments_per_s']:,}")
            table.add_row("reconciliation (s)", f"{later.report.seconds:,.1f}")
            table.add_row("reconciliation breaks", f"{len(later.report.breaks)}")
        Console().print(table)
        for problem in problems:
            log.print(f"[red]problem:[/red] {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
