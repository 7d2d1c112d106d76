"""Lending benchmark: the end-of-day batch over a book of loans, and the quote time of one
application, beside the same run's pgbench TPC-B figure on the same PostgreSQL server.

1. Baseline: `pgbench -i -s <scale>` and `pgbench -c 16 -j 2 -T <seconds> -M prepared` into a
   database of its own on the server the benchmark uses.
2. A book of `--loans` loans, every one made through the real service path (customer, class I
   e-account, application with its instant decision, acceptance and disbursement), by
   `--processes` processes; ten loans per customer.
3. End of day, timed, three times: an ordinary day (accrual only), the first due date (accrual
   and an auto-debit of every loan: the heaviest day), and that day again (idempotent: it must
   post nothing).
4. Quote time: `--quotes` quotes (decision + price + schedule + APR), p50 and p99.

Targets (issue 4): end of day over 100,000 loans <= 5 minutes; quote p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from ledger_bench import CpuMeter, machine_info, run_pgbench
from openbank.core.clock import ShiftedClock, business_date
from openbank.core.database import (
    Database,
    create_database,
    drop_database,
    embedded_server,
    unit_of_work,
)
from openbank.core.logging import configure_logging
from openbank.core.migrate import upgrade
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.lending import service as lending
from openbank.lending.schedules import add_months
from openbank.lending.schemas import ApplicationCreate, DeclaredFinances, OfferAccept
from openbank.models import import_all_models

T = TypeVar("T")
log = Console(stderr=True)
LOANS_PER_CUSTOMER = 10
PROFILE: dict[str, str | float | None] = {
    "status_of_existing_checking_account": "no checking account",
    "credit_history": "critical account/ other credits existing (not at this bank)",
    "savings_account_and_bonds": "... >= 1000 DM",
    "property": "real estate",
    "housing": "own",
}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(n: int) -> str:
    body = f"310104{1970 + n % 30}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    body = body[:17]
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def card(n: int) -> str:
    payload = f"621700{n:09d}"
    total = 0
    for i, ch in enumerate(reversed(payload)):
        v = int(ch)
        if i % 2 == 0:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return payload + str((10 - total % 10) % 10)


def make_loans(settings: Settings, first: int, count: int) -> None:
    """`count` customers' worth of loans (ten each), through the service, in a process of its
    own (the work is Python-bound: threads would share one interpreter lock)."""
    import_all_models()
    db = Database(settings)
    clock = ShiftedClock()

    def work(session: Session, n: int) -> None:
        now = clock.now()
        customer = customers.create_customer(
            session,
            CustomerCreate(
                type="person",
                name="赵六",
                id_number=resident_id(n),
                phone="+8613900139000",
                kyc_level=3,
            ),
            now,
            settings,
        )
        e_account = customers.open_e_account(
            session,
            EAccountCreate(
                customer_id=customer.id,
                account_class="I",
                bound_card=BoundCardCreate(number=card(n), bank_name="招商银行"),
            ),
            now,
        )
        customers.top_up(session, e_account.id, 10_000_000, now, settings)
        for _ in range(LOANS_PER_CUSTOMER):
            application = lending.apply(
                session,
                ApplicationCreate(
                    customer_id=customer.id,
                    product_code="ob-consumer-flex",
                    amount=1_000_000,
                    term_months=12,
                    purpose="bench",
                    declared=DeclaredFinances(monthly_income=100_000_000, credit_profile=PROFILE),
                ),
                now,
                settings,
            )
            assert application.decision == "approved", application.reasons
            lending.accept_offer(
                session, application.id, OfferAccept(e_account_id=e_account.id), now, settings
            )

    for n in range(first, first + count):
        unit_of_work(db, lambda s, n=n: work(s, n))  # type: ignore[misc]
    db.dispose()


def timed(label: str, fn: Callable[[], T]) -> tuple[T, float]:
    log.print(f"[bold]{label}[/bold] ...")
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--loans", type=int, default=100_000, help="loans in the book")
    parser.add_argument("--processes", type=int, default=2, help="processes making the book")
    parser.add_argument("--quotes", type=int, default=1000, help="quotes timed")
    parser.add_argument("--scale", type=int, default=16, help="pgbench -s")
    parser.add_argument("--pgbench-seconds", type=int, default=20, help="pgbench -T")
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", action="store_true", help="print a JSON object")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import_all_models()
    home = Path(tempfile.gettempdir()) / "openbank-lending-bench"
    configure_logging(Settings(home=home))  # log lines to stderr: stdout is the result
    server_url = args.database_url or str(embedded_server(Settings(home=home)).get_uri())
    pgbench = run_pgbench(server_url, args.scale, 16, args.pgbench_seconds, CpuMeter(), False)
    url = create_database(server_url, "lending_bench")
    settings = Settings(database_url=url, home=home)
    db = Database(settings)
    clock = ShiftedClock()
    try:
        upgrade(db.engine)
        documents = lending.read_product_file(lending.SAMPLE_LIBRARY)
        own = [d for d in documents if d.get("joint") is None]
        unit_of_work(db, lambda s: lending.import_products(s, own, clock.now(), settings))
        customers_needed = max(args.loans // LOANS_PER_CUSTOMER, 1)
        per_process = -(-customers_needed // args.processes)
        with Progress(
            TextColumn("making loans"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=log,
        ) as progress:
            task = progress.add_task("loans", total=customers_needed * LOANS_PER_CUSTOMER)
            done = threading.Event()

            def watch() -> None:
                while not done.wait(1):
                    made = unit_of_work(db, lending.count_open_contracts)
                    progress.update(task, completed=made)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            started = time.monotonic()
            with ProcessPoolExecutor(args.processes) as pool:
                futures = [
                    pool.submit(
                        make_loans,
                        settings,
                        t * per_process,
                        min(per_process, customers_needed - t * per_process),
                    )
                    for t in range(args.processes)
                    if t * per_process < customers_needed
                ]
                for future in futures:
                    future.result()
            making = time.monotonic() - started
            done.set()
        loans = unit_of_work(db, lending.count_open_contracts)

        def eod() -> Any:
            today = business_date(clock.now(), settings.tz)
            return lending.end_of_day(lambda fn: unit_of_work(db, fn), today, clock.now, settings)

        clock.advance(timedelta(days=10))
        ordinary, ordinary_s = timed("end of day, an ordinary day", eod)
        start = business_date(clock.now(), settings.tz) - timedelta(days=10)
        first_due = add_months(start, 1)
        clock.advance(timedelta(days=(first_due - start).days - 10))
        due_day, due_s = timed("end of day, the first due date (auto-debit)", eod)
        rerun, rerun_s = timed("end of day, the same date again", eod)

        contract_id = unit_of_work(db, lambda s: lending.list_contracts(s, None, None, 1)[0][0].id)
        contract = unit_of_work(
            db, lambda s: lending.get_contract(s, contract_id, clock.now(), settings)
        )
        request = ApplicationCreate(
            customer_id=contract.customer_id,
            product_code="ob-consumer-flex",
            amount=2_000_000,
            term_months=24,
            purpose="bench",
            declared=DeclaredFinances(monthly_income=100_000_000, credit_profile=PROFILE),
        )
        quote_ms: list[float] = []
        for _ in range(args.quotes):
            began = time.perf_counter()
            unit_of_work(db, lambda s: lending.quote(s, request, clock.now(), settings))
            quote_ms.append((time.perf_counter() - began) * 1000)
        quote_ms.sort()
    finally:
        db.dispose()
        if not args.keep:
            drop_database(server_url, url)

    result = {
        "machine": machine_info(),
        "pgbench_tps": pgbench.tps,
        "loans": loans,
        "making_loans_s": round(making, 1),
        "loans_per_s": round(loans / making, 1),
        "eod_ordinary_s": round(ordinary_s, 1),
        "eod_ordinary_transfers": ordinary.transfers,
        "eod_due_day_s": round(due_s, 1),
        "eod_due_day_transfers": due_day.transfers,
        "eod_due_day_auto_debits": due_day.auto_debits,
        "eod_rerun_s": round(rerun_s, 1),
        "eod_rerun_transfers": rerun.transfers,
        "eod_loans_per_s_due_day": round(loans / due_s, 1),
        "quote_p50_ms": round(statistics.median(quote_ms), 2),
        "quote_p99_ms": round(quote_ms[int(len(quote_ms) * 0.99) - 1], 2),
        "targets": {"eod_100k_s": 300, "quote_p99_ms": 50},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"pgbench TPC-B (same server, same run):     {pgbench.tps:,.0f} tps")
    print(f"loans made through the service:            {loans:,} in {making:,.0f} s")
    print(f"end of day, ordinary day:        {ordinary_s:,.1f} s, {ordinary.transfers:,} transfers")
    print(
        f"end of day, due date:            {due_s:,.1f} s, {due_day.transfers:,} transfers,"
        f" {due_day.auto_debits:,} auto-debits  (target: 100,000 loans <= 300 s)"
    )
    print(
        f"end of day, same date again:               {rerun_s:,.1f} s, {rerun.transfers} transfers"
    )
    print(
        f"quote (decision + price + schedule + APR): p50 {result['quote_p50_ms']} ms,"
        f" p99 {result['quote_p99_ms']} ms  (target: p99 <= 50 ms)"
    )


if __name__ == "__main__":
    main()
