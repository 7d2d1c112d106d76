"""Acquiring benchmark: payments per second into one merchant (the hot-account case) and spread
over many merchants, over HTTP, beside the same run's pgbench TPC-B figure on the same server.

    .venv/bin/python bench/payments_bench.py [--duration 20] [--clients 16] [--workers 2]
        [--merchants 1000] [--shards 16] [--rounds 1] [--database-url URL] [--json]

One run, one PostgreSQL server (a private embedded one in a temp dir unless --database-url):

1. Baseline: `pgbench -i -s 16`, then `pgbench -c <clients> -j 2 -T <duration> -M prepared`
   into a database of its own, as bench/ledger_bench.py does.
2. Setup, untimed, through the real services in this process: a fee plan, --merchants merchants
   (`payments.service.onboard_merchant`: enterprise customer, class I settlement e-account,
   clearing shards) and --payers-per-client payers per client (persons with a topped-up class I
   e-account). Each client pays from its own payers only, so no two requests in flight lock the
   same payer's e-account row: the hot spot measured is the merchant. Then ANALYZE.
3. `openbank serve --workers N`, then two scenarios at --clients keep-alive connections:
   "one merchant" (every order is one merchant's) and "spread" (orders of all the merchants,
   uniformly at random). A payment is one `POST /v1/payment-orders/{id}/pay` from an
   e-account, with its own Idempotency-Key, of an order made beforehand by
   `payments.service.create_order` (untimed: the figure is "pay", not "create + pay"). Both
   scenarios are warmed up, then each one's orders are made (three times what its warm-up
   rate would pay in --duration, or --orders), then each is measured for --duration seconds;
   with --rounds N the duration is split into N windows and the scenarios take turns
   (A B, B A, ...), so that other work on a shared machine falls on both alike.
4. After each window, for every merchant paid so far: the sum of its clearing shards in the
   ledger == the sum of `captured_amount` of the orders sent to it (read back through
   payments.service) == what the clients saw acknowledged == its flow counters; nothing
   pending in clearing.
5. A table of payments/s, p50/p99 latency and errors per scenario against pgbench's tps, the
   ratio one merchant / spread against the target (>= 0.8x), where the CPU went, and what the
   server's database sessions were doing (pg_stat_activity, sampled every 20 ms).

`--shards N` sets `payments.accounts.CLEARING_SHARDS` in this process before the merchants are
onboarded. A merchant keeps its shard count in its row and the server reads it from there, so
`--shards 1` measures the same code without the spreading of the hot merchant's row locks.

Exits 1 when a request failed or a check found a mismatch; a missed target is reported, not
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from ledger_bench import (
    CpuMeter,
    HttpConnection,
    PgbenchResult,
    Workload,
    analyze,
    connections_per_worker,
    find_postmaster,
    machine_info,
    open_balanced,
    openbank_server,
    quiet_logging,
    run_async,
    run_pgbench,
    server_settings,
    wait_for_workers,
)
from openbank.core.clock import SystemClock, business_date
from openbank.core.database import (
    Database,
    create_database,
    drop_database,
    embedded_server,
    libpq_url,
    unit_of_work,
)
from openbank.core.migrate import upgrade
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.ledger import service as ledger
from openbank.models import import_all_models
from openbank.payments import accounts
from openbank.payments import service as payments
from openbank.payments.schemas import FeePlanCreate, MerchantCreate, OrderCreate

ONE_VS_SPREAD = 0.8
PAYER_FUNDS = 10**12  # fen per payer: far more than any run spends
MAX_ORDER_AMOUNT = 20_000  # fen: orders of 0.01 to 200 yuan
SETUP_CHUNK = 50  # merchants or payers per setup transaction
ORDER_CHUNK = 500  # orders per setup transaction
SAMPLE_SECONDS = 0.02

log = Console(stderr=True)


# -- identities (valid check digits, computed here) -----------------------------------------

_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id(n: int) -> str:
    born = date(1960, 1, 1) + timedelta(days=n % 15_000)
    body = f"110105{born:%Y%m%d}{n // 15_000 % 1000:03d}"
    weighted = sum(int(d) * w for d, w in zip(body, _RESIDENT_WEIGHTS, strict=True))
    return body + "10X98765432"[weighted % 11]


def credit_code(n: int) -> str:
    digits = ""
    for _ in range(9):
        n, r = divmod(n, 31)
        digits += _CREDIT_ALPHABET[r]
    body = "91110000" + digits
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_ALPHABET[(31 - total % 31) % 31]


def card_number(n: int) -> str:
    payload = f"622202{n:09d}"
    total = 0
    for i, ch in enumerate(reversed(payload)):
        v = int(ch)
        if i % 2 == 0:  # doubled once the check digit is appended
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return payload + str((10 - total % 10) % 10)


# -- setup, through the services -----------------------------------------------------------


@dataclass
class World:
    merchants: list[uuid.UUID]
    payers: list[uuid.UUID]  # e-account ids
    seconds: float


def _chunks(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def make_world(db: Database, settings: Settings, merchants: int, payers: int) -> World:
    """A fee plan, the merchants and the funded payers."""
    clock = SystemClock()
    started = time.monotonic()
    plan = FeePlanCreate(code="bench-standard", name="Bench standard", rate_ppm=6000)
    unit_of_work(db, lambda s: payments.create_fee_plan(s, plan, clock.now()))

    def onboard(s: Session, numbers: range) -> list[uuid.UUID]:
        now = clock.now()
        return [
            payments.onboard_merchant(
                s,
                MerchantCreate(
                    legal_name=f"上海示例餐饮管理有限公司{n}",
                    unified_social_credit_code=credit_code(n),
                    legal_representative="张三",
                    phone="+8613800138000",
                    mcc="5812",
                    fee_plan_code=plan.code,
                    bound_account=BoundCardCreate(number=card_number(n), bank_name="中国工商银行"),
                ),
                now,
                settings,
            ).id
            for n in numbers
        ]

    def open_payers(s: Session, numbers: range) -> list[uuid.UUID]:
        now = clock.now()
        made = []
        for n in numbers:
            person = customers.create_customer(
                s,
                CustomerCreate(
                    type="person",
                    name="李四",
                    id_number=resident_id(n),
                    phone="+8613900139000",
                    kyc_level=3,
                ),
                now,
                settings,
            )
            e_account = customers.open_e_account(
                s,
                EAccountCreate(
                    customer_id=person.id,
                    account_class="I",
                    bound_card=BoundCardCreate(number=card_number(10**8 + n), bank_name="中国银行"),
                ),
                now,
            )
            customers.top_up(s, e_account.id, PAYER_FUNDS, now, settings)
            made.append(e_account.id)
        return made

    merchant_ids: list[uuid.UUID] = []
    for numbers in _chunks(merchants, SETUP_CHUNK):
        merchant_ids += unit_of_work(db, partial(onboard, numbers=numbers))
    payer_ids: list[uuid.UUID] = []
    for numbers in _chunks(payers, SETUP_CHUNK):
        payer_ids += unit_of_work(db, partial(open_payers, numbers=numbers))
    return World(merchant_ids, payer_ids, time.monotonic() - started)


@dataclass(frozen=True, slots=True)
class Order:
    id: uuid.UUID
    merchant_id: uuid.UUID
    amount: int


_process_db: dict[str, Database] = {}


def _make_orders_part(
    database_url: str,
    home: Path,
    merchant_ids: Sequence[uuid.UUID],
    numbers: range,
    tag: str,
    seed: int,
) -> list[Order]:
    """Orders numbered `numbers`, in transactions of ORDER_CHUNK, in a process of the pool
    (order making is Python-bound: one process per core)."""
    import_all_models()
    db = _process_db.get(database_url)
    if db is None:
        db = _process_db[database_url] = Database(Settings(database_url=database_url, home=home))
    settings = db.settings
    rng = random.Random(seed)
    clock = SystemClock()

    def work(s: Session, chunk: range) -> list[Order]:
        now = clock.now()
        made = []
        for n in chunk:
            merchant_id = rng.choice(merchant_ids)
            spec = OrderCreate(
                out_trade_no=f"{tag}-{n}",
                amount=rng.randint(1, MAX_ORDER_AMOUNT),
                currency="CNY",
                description="2 × 拿铁",
            )
            order, _created = payments.create_order(s, merchant_id, spec, now, settings)
            made.append(Order(order.id, merchant_id, order.amount))
        return made

    orders: list[Order] = []
    for chunk in _chunks(len(numbers), ORDER_CHUNK):
        part = range(numbers.start + chunk.start, numbers.start + chunk.stop)
        orders += unit_of_work(db, partial(work, chunk=part))
    return orders


@dataclass
class OrderMaker:
    """Makes unpaid orders through `payments.service.create_order` in a pool of processes."""

    pool: ProcessPoolExecutor
    processes: int
    database_url: str
    home: Path
    rng: random.Random

    def make(self, merchant_ids: Sequence[uuid.UUID], count: int, tag: str) -> list[Order]:
        """`count` orders, each of a merchant drawn uniformly from `merchant_ids`, shuffled."""
        size = -(-count // self.processes)
        futures = [
            self.pool.submit(
                _make_orders_part,
                self.database_url,
                self.home,
                list(merchant_ids),
                part,
                tag,
                self.rng.getrandbits(64),
            )
            for part in _chunks(count, size)
        ]
        orders = [order for future in futures for order in future.result()]
        self.rng.shuffle(orders)
        return orders


# -- what the database sessions were doing --------------------------------------------------

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?([a-z_]+)", re.IGNORECASE)


def _state_of(state: str | None, wait_type: str | None, wait: str | None, query: str) -> str:
    """One server session, in words: what it is doing right now."""
    if state == "idle in transaction":
        return "in transaction, waiting for openbank"
    if state != "active":
        return f"{state}"
    if wait_type is None:
        return "running on CPU"
    if wait_type == "Client":  # between the messages of one statement
        return "in transaction, waiting for openbank"
    if wait_type == "Lock":
        table = _TABLE.search(query)
        return f"waiting for a lock: {wait} in {table.group(1) if table else '?'}"
    return f"waiting: {wait_type}/{wait}"


class ActivitySampler:
    """Samples pg_stat_activity for the openbank server's sessions in a thread: the average
    number of sessions in each state over a window (Little's law: where the time goes)."""

    def __init__(self, url: str, database_name: str) -> None:
        self.url = url
        self.database_name = database_name
        self._stop = threading.Event()
        self._counts: Counter[str] = Counter()
        self._samples = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._counts = Counter()
        self._samples = 0
        self._thread = threading.Thread(target=self._run, name="activity-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(SAMPLE_SECONDS):
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'",
                    [self.database_name],
                ).fetchall()
                self._samples += 1
                for state, wait_type, wait, query in rows:
                    if state in (None, "idle"):
                        continue  # starting, or a pooled connection between transactions
                    self._counts[_state_of(state, wait_type, wait, query or "")] += 1

    def stop(self) -> tuple[Counter[str], int]:
        """Sessions seen in each state over the window, and how many samples were taken."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self._counts, self._samples


# -- load ---------------------------------------------------------------------------------


@dataclass
class PayRun:
    """What the clients saw in one window."""

    requests: int
    paid: int
    seconds: float
    errors: int
    first_error: str | None
    ran_out: bool  # the orders ran out before the window ended
    latencies: list[float]  # seconds, per request
    connections_per_worker: list[int]
    sent: list[Order]  # every order a client asked to pay
    acknowledged: dict[uuid.UUID, int]  # merchant -> fen the clients saw captured


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _pay_load(
    work: Workload, queue: deque[Order], payers: Sequence[list[str]], seconds: float
) -> PayRun:
    """Pay orders from `queue` over `len(payers)` connections until the window ends or the
    queue is empty; client i pays from payers[i] only, in turn."""
    latencies: list[float] = []
    counts = {"requests": 0, "paid": 0, "errors": 0}
    first_error: list[str] = []
    sent: list[Order] = []
    acknowledged: dict[uuid.UUID, int] = defaultdict(int)
    ran_out = [False]
    conns = await open_balanced(work, len(payers))
    spread = connections_per_worker(work.port, work.workers) if work.workers else []
    started = time.perf_counter()
    deadline = started + seconds

    async def client(conn: HttpConnection, mine: list[str]) -> None:
        turn = 0
        while time.perf_counter() < deadline:
            if not queue:
                ran_out[0] = True
                return
            order = queue.popleft()
            sent.append(order)
            body = orjson.dumps({"e_account_id": mine[turn % len(mine)]})
            turn += 1
            began = time.perf_counter()
            status, answer = await conn.request(
                "POST", f"/v1/payment-orders/{order.id}/pay", body, uuid.uuid4().hex
            )
            latencies.append(time.perf_counter() - began)
            counts["requests"] += 1
            if status == 200 and b'"status":"captured"' in answer:
                counts["paid"] += 1
                acknowledged[order.merchant_id] += order.amount
            else:
                counts["errors"] += 1
                if not first_error:
                    first_error.append(f"{status} {answer[:300].decode(errors='replace')}")

    try:
        await asyncio.gather(*(client(c, p) for c, p in zip(conns, payers, strict=True)))
    finally:
        for conn in conns:
            await conn.close()
    return PayRun(
        requests=counts["requests"],
        paid=counts["paid"],
        seconds=time.perf_counter() - started,
        errors=counts["errors"],
        first_error=first_error[0] if first_error else None,
        ran_out=ran_out[0],
        latencies=latencies,
        connections_per_worker=spread,
        sent=sent,
        acknowledged=dict(acknowledged),
    )


# -- correctness --------------------------------------------------------------------------


@dataclass
class Books:
    """Per merchant, across the scenarios so far: the orders sent to be paid and the money the
    clients saw acknowledged. Orders never sent are left out of the sums: had one been captured
    anyway, its money would be in the ledger's clearing and the books would not match."""

    acknowledged: dict[uuid.UUID, int] = field(default_factory=lambda: defaultdict(int))
    orders: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=lambda: defaultdict(list))

    def add_run(self, run: PayRun) -> None:
        for order in run.sent:
            self.orders[order.merchant_id].append(order.id)
        for merchant_id, amount in run.acknowledged.items():
            self.acknowledged[merchant_id] += amount


@dataclass
class Check:
    merchants: int
    orders: int
    clearing: int  # fen in the merchants' clearing shards (posted)
    captured: int  # sum of captured_amount of their orders
    acknowledged: int
    flow: int  # payment volume in their flow counters
    mismatches: list[str]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check_books(db: Database, settings: Settings, books: Books, shards: int) -> Check:
    """Every merchant paid so far: ledger clearing == captured orders == acknowledged == flow,
    and nothing pending in clearing (immediate capture holds nothing)."""
    started = time.monotonic()
    merchant_ids = sorted(books.orders)
    today = business_date(SystemClock().now(), settings.tz)

    def read(s: Session) -> tuple[dict[uuid.UUID, tuple[int, int]], dict[uuid.UUID, int], int]:
        clearing: dict[uuid.UUID, tuple[int, int]] = {}
        for start in range(0, len(merchant_ids), 500):
            chunk = merchant_ids[start : start + 500]
            ids = [a for m in chunk for a in accounts.clearing_account_ids(m, shards)]
            found = iter(ledger.get_accounts(s, ids))
            for merchant_id in chunk:
                shard_rows = [next(found) for _ in range(shards)]
                clearing[merchant_id] = (
                    sum(a.credits_posted - a.debits_posted for a in shard_rows),
                    sum(a.credits_pending - a.debits_pending for a in shard_rows),
                )
        captured = {
            m: sum(payments.get_order(s, o, settings).captured_amount for o in books.orders[m])
            for m in merchant_ids
        }
        flow = {
            m: sum(day.payment_volume for day in payments.merchant_flow(s, m, today).daily)
            for m in merchant_ids
        }
        return clearing, captured, sum(flow.values())

    clearing, captured, flow_total = unit_of_work(db, read)
    mismatches = []
    for m in merchant_ids:
        posted, pending = clearing[m]
        seen = books.acknowledged.get(m, 0)
        if not posted == captured[m] == seen or pending:
            mismatches.append(
                f"merchant {m}: clearing {posted} (pending {pending}), captured orders"
                f" {captured[m]}, acknowledged {seen}"
            )
    total_captured = sum(captured.values())
    if flow_total != total_captured:
        mismatches.append(f"flow counters {flow_total} != captured orders {total_captured}")
    return Check(
        merchants=len(merchant_ids),
        orders=sum(len(v) for v in books.orders.values()),
        clearing=sum(posted for posted, _ in clearing.values()),
        captured=total_captured,
        acknowledged=sum(books.acknowledged.values()),
        flow=flow_total,
        mismatches=mismatches[:20],
        seconds=round(time.monotonic() - started, 1),
    )


# -- scenarios ----------------------------------------------------------------------------


@dataclass
class Bench:
    db: Database
    orders: OrderMaker
    settings: Settings
    database_url: str
    work: Workload
    payers: list[list[str]]
    meter: CpuMeter
    sampler: ActivitySampler
    books: Books
    shards: int


@dataclass
class ScenarioResult:
    name: str
    merchants: int
    clients: int
    windows: int
    requests: int
    paid: int
    seconds: float
    payments_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    first_error: str | None
    ran_out: bool
    warmup_payments_per_s: float
    orders_made: int
    orders_seconds: float
    connections_per_worker: list[int]
    cpu: dict[str, float]
    cpu_us_per_payment: dict[str, float]
    sessions: dict[str, float]  # average openbank database sessions per state
    check: dict[str, Any]


@dataclass
class Scenario:
    """One scenario's orders and what its measured windows added up to."""

    key: str
    name: str
    merchant_ids: Sequence[uuid.UUID]
    queue: deque[Order] = field(default_factory=deque)
    warm_rate: float = 0.0
    orders_made: int = 0
    orders_seconds: float = 0.0
    runs: list[PayRun] = field(default_factory=list)
    core_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    meter_seconds: float = 0.0
    session_counts: Counter[str] = field(default_factory=Counter)
    session_samples: int = 0
    checks: list[Check] = field(default_factory=list)

    def warm_up(self, bench: Bench, seconds: float) -> None:
        """Unmeasured load, whose rate sizes the measured windows' orders."""
        clients = len(bench.payers)
        log.print(f"[bold]{self.name}[/bold]: warm-up, {seconds:g} s ...")
        orders = deque(bench.orders.make(self.merchant_ids, clients * 100, f"{self.key}-w"))
        run = run_async(_pay_load(bench.work, orders, bench.payers, seconds))
        bench.books.add_run(run)
        self.warm_rate = run.paid / run.seconds if run.seconds else 0.0
        if run.errors:
            log.print(f"  warm-up: {run.errors} error(s); first: {run.first_error}")

    def provision(self, bench: Bench, duration: float, fixed: int) -> None:
        """The measured windows' orders, made now (untimed): three times what the warm-up rate
        would pay in `duration`, or `fixed`."""
        count = fixed or max(int(self.warm_rate * duration * 3), len(bench.payers) * 100)
        started = time.monotonic()
        self.queue.extend(bench.orders.make(self.merchant_ids, count, self.key))
        self.orders_made += count
        self.orders_seconds += time.monotonic() - started
        log.print(
            f"[bold]{self.name}[/bold]: {count:,} orders made in"
            f" {time.monotonic() - started:.1f} s (untimed)"
        )

    def measure(self, bench: Bench, seconds: float) -> None:
        """One measured window, then the books of every merchant paid so far."""
        log.print(f"[bold]{self.name}[/bold]: {len(bench.payers)} clients, {seconds:g} s ...")
        before = bench.meter.sample()
        bench.sampler.start()
        run = run_async(_pay_load(bench.work, self.queue, bench.payers, seconds))
        counts, samples = bench.sampler.stop()
        after = bench.meter.sample()
        window = after.at - before.at
        for who, cores in bench.meter.usage(before, after).items():
            self.core_seconds[who] += cores * window
        self.meter_seconds += window
        self.session_counts.update(counts)
        self.session_samples += samples
        self.runs.append(run)
        bench.books.add_run(run)
        latencies = sorted(run.latencies)
        log.print(
            f"  {run.paid / run.seconds if run.seconds else 0:,.0f} payments/s,"
            f" p50 {_percentile(latencies, 0.5) * 1000:.1f} ms,"
            f" p99 {_percentile(latencies, 0.99) * 1000:.1f} ms, {run.errors} error(s)"
            f"{' (orders ran out)' if run.ran_out else ''}"
        )
        check = check_books(bench.db, bench.settings, bench.books, bench.shards)
        self.checks.append(check)
        log.print(
            f"  books: {check.merchants:,} merchant(s), clearing {check.clearing:,} fen,"
            f" captured {check.captured:,}, acknowledged {check.acknowledged:,},"
            f" flow {check.flow:,}: {'ok' if check.ok else 'MISMATCH'} ({check.seconds:.1f} s)"
        )

    def result(self, clients: int) -> ScenarioResult:
        paid = sum(r.paid for r in self.runs)
        seconds = sum(r.seconds for r in self.runs)
        rate = paid / seconds if seconds else 0.0
        latencies = sorted(x for r in self.runs for x in r.latencies)
        meter_seconds = max(self.meter_seconds, 1e-9)
        cpu = {who: core_s / meter_seconds for who, core_s in self.core_seconds.items()}
        errors = [r.first_error for r in self.runs if r.first_error]
        last = self.checks[-1]
        failed = next((c for c in self.checks if not c.ok), last)
        samples = max(self.session_samples, 1)
        return ScenarioResult(
            name=self.name,
            merchants=len(self.merchant_ids),
            clients=clients,
            windows=len(self.runs),
            requests=sum(r.requests for r in self.runs),
            paid=paid,
            seconds=round(seconds, 2),
            payments_per_s=round(rate, 1),
            p50_ms=round(_percentile(latencies, 0.50) * 1000, 2),
            p90_ms=round(_percentile(latencies, 0.90) * 1000, 2),
            p99_ms=round(_percentile(latencies, 0.99) * 1000, 2),
            max_ms=round((latencies[-1] if latencies else 0.0) * 1000, 2),
            errors=sum(r.errors for r in self.runs),
            first_error=errors[0] if errors else None,
            ran_out=any(r.ran_out for r in self.runs),
            warmup_payments_per_s=round(self.warm_rate, 1),
            orders_made=self.orders_made,
            orders_seconds=round(self.orders_seconds, 1),
            connections_per_worker=self.runs[-1].connections_per_worker,
            cpu={k: round(v, 2) for k, v in cpu.items()},
            cpu_us_per_payment={
                who: round(cpu.get(who, 0.0) / rate * 1e6, 1) if rate else 0.0
                for who in ("postgres", "openbank", "load_generator")
            },
            sessions={
                state: round(count / samples, 2)
                for state, count in self.session_counts.most_common()
            },
            check={
                **asdict(failed),
                "ok": all(c.ok for c in self.checks),
                "checks": len(self.checks),
            },
        )


def run_scenarios(
    bench: Bench,
    scenarios: list[Scenario],
    duration: float,
    warmup: float,
    rounds: int,
    fixed_orders: int,
) -> None:
    """Warm-ups, then every scenario's orders, then `rounds` rounds of measured windows of
    duration/rounds seconds, the scenarios alternating (A B, B A, ...) so that load from
    elsewhere on the machine falls on both alike."""
    if warmup > 0:
        for scenario in scenarios:
            scenario.warm_up(bench, warmup)
    for scenario in scenarios:
        scenario.provision(bench, duration, fixed_orders)
    analyze(bench.database_url)
    for round_ in range(rounds):
        for scenario in scenarios if round_ % 2 == 0 else scenarios[::-1]:
            scenario.measure(bench, duration / rounds)


# -- report -------------------------------------------------------------------------------


def build_report(
    machine: dict[str, Any],
    config: dict[str, Any],
    pgbench: PgbenchResult,
    setup: dict[str, Any],
    scenarios: dict[str, ScenarioResult],
    elapsed: float,
) -> dict[str, Any]:
    one, spread = scenarios["one_merchant"], scenarios["spread"]
    ratio = round(one.payments_per_s / spread.payments_per_s, 2) if spread.payments_per_s else 0.0
    problems = [
        f"{s.name}: {s.errors} failed request(s); first: {s.first_error}"
        for s in scenarios.values()
        if s.errors
    ]
    problems += [
        f"{s.name}: books do not match: {s.check['mismatches']}"
        for s in scenarios.values()
        if not s.check["ok"]
    ]
    notes = [
        f"{s.name}: the {s.orders_made:,} orders ran out after {s.seconds:.1f} s of"
        " measurement (use --orders)"
        for s in scenarios.values()
        if s.ran_out
    ]
    return {
        "machine": machine,
        "config": config,
        "pgbench": asdict(pgbench),
        "setup": setup,
        "scenarios": {k: asdict(v) for k, v in scenarios.items()},
        "one_vs_spread": {
            "ratio": ratio,
            "target": f">= {ONE_VS_SPREAD}x",
            "met": ratio >= ONE_VS_SPREAD,
        },
        "problems": problems,
        "notes": notes,
        "ok": not problems,
        "elapsed_s": round(elapsed, 1),
    }


def print_report(report: dict[str, Any]) -> None:
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)
    pg, cfg, m = report["pgbench"], report["config"], report["machine"]
    out.print(
        f"\n[bold]openbank acquiring vs pgbench[/bold] on {m['nproc']} cores /"
        f" {m['memory_gib']} GiB ({m['cpu_model']}), PostgreSQL"
        f" {cfg['postgres']['server_version']} ({cfg['database']}), {cfg['workers']} openbank"
        f" worker(s), {cfg['shards']} clearing shard(s) per merchant, {cfg['duration_s']} s per"
        f" scenario in {cfg['rounds']} window(s)"
    )
    out.print(
        "A payment is POST /v1/payment-orders/{id}/pay from a class I e-account (immediate"
        " capture) of an order created beforehand, untimed; each client pays from its own"
        f" {cfg['payers_per_client']} payer(s)."
    )
    table = Table(title="Payments per second (same server, same run)")
    for column in (
        "scenario",
        "merchants",
        "clients",
        "conns/worker",
        "payments/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs pgbench",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_row(
        f"pgbench TPC-B -s {pg['scale']} -M prepared (baseline)",
        "",
        str(pg["clients"]),
        "",
        f"{pg['tps']:,.0f} tps",
        f"avg {pg['latency_avg_ms']:.2f}",
        "",
        str(pg["failed"]),
        "1.00x",
    )
    for s in report["scenarios"].values():
        table.add_row(
            s["name"],
            f"{s['merchants']:,}",
            str(s["clients"]),
            "/".join(map(str, s["connections_per_worker"])),
            f"{s['payments_per_s']:,.0f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            str(s["errors"]),
            f"{s['payments_per_s'] / pg['tps']:.2f}x" if pg["tps"] else "",
        )
    out.print(table)
    target = report["one_vs_spread"]
    out.print(
        f"one merchant ÷ spread: [bold]{target['ratio']:.2f}x[/bold] (target {target['target']}):"
        f" {'[green]met[/green]' if target['met'] else '[red]not met[/red]'}"
    )

    cpu = Table(title="Where the CPU went (cores, average over each measured window)")
    for column in ("phase", "postgres", "openbank", "load gen", "other work", "idle", "µs/payment"):
        cpu.add_column(column, justify="left" if column == "phase" else "right")
    c = pg["cpu"]
    cpu.add_row(
        "pgbench",
        f"{c['postgres']:.2f}",
        "",
        f"{c['load_generator']:.2f}",
        f"{c['other']:.2f}",
        f"{c['idle']:.2f}",
        f"{c['postgres'] / pg['tps'] * 1e6:.0f} (pg)" if pg["tps"] else "",
    )
    for s in report["scenarios"].values():
        c, us = s["cpu"], s["cpu_us_per_payment"]
        cpu.add_row(
            s["name"],
            f"{c['postgres']:.2f}",
            f"{c['openbank']:.2f}",
            f"{c['load_generator']:.2f}",
            f"{c['other']:.2f}",
            f"{c['idle']:.2f}",
            f"{us['postgres']:.0f} pg + {us['openbank']:.0f} app",
        )
    out.print(cpu)

    sessions = Table(
        title="What openbank's database sessions were doing (average sessions, sampled)"
    )
    sessions.add_column("state")
    names = list(report["scenarios"])
    for name in names:
        sessions.add_column(report["scenarios"][name]["name"], justify="right")
    states: list[str] = []
    for name in names:
        states += [k for k in report["scenarios"][name]["sessions"] if k not in states]
    for state in states:
        sessions.add_row(
            state, *(f"{report['scenarios'][n]['sessions'].get(state, 0.0):.2f}" for n in names)
        )
    out.print(sessions)

    for s in report["scenarios"].values():
        k = s["check"]
        verdict = "[green]books match[/green]" if k["ok"] else "[red]books do not match[/red]"
        out.print(
            f"{s['name']}: {verdict} after each of its {k['checks']} window(s); "
            f"{'the first mismatch' if not k['ok'] else 'the last check'}: {k['merchants']:,}"
            f" merchant(s), {k['orders']:,} orders sent; clearing {k['clearing']:,}, captured"
            f" {k['captured']:,}, acknowledged {k['acknowledged']:,}, flow {k['flow']:,} fen"
        )
    st = report["setup"]
    out.print(
        f"setup (untimed): {st['merchants']:,} merchants and {st['payers']:,} payers in"
        f" {st['seconds']:.0f} s"
    )
    for note in report["notes"]:
        out.print(f"[yellow]note:[/yellow] {note}")
    for problem in report["problems"]:
        out.print(f"[red]problem:[/red] {problem}")
    out.print(f"total run time {report['elapsed_s']:.0f} s")


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per scenario")
    parser.add_argument("--clients", type=int, default=16, help="connections (and pgbench -c)")
    parser.add_argument("--workers", type=int, default=2, help="openbank serve --workers")
    parser.add_argument("--merchants", type=int, default=1000, help="merchants for 'spread'")
    parser.add_argument(
        "--payers-per-client", type=int, default=4, help="payers each client pays from in turn"
    )
    parser.add_argument(
        "--shards",
        type=int,
        default=accounts.CLEARING_SHARDS,
        help="clearing shards per merchant (sets payments.accounts.CLEARING_SHARDS in this"
        " process before onboarding)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="split each scenario's --duration into this many windows, the scenarios taking"
        " turns (for a machine shared with other work)",
    )
    parser.add_argument(
        "--orders", type=int, default=0, help="orders per measured window (0: from the warm-up)"
    )
    parser.add_argument("--scale", type=int, default=16, help="pgbench -s")
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    args = parser.parse_args(argv)
    if min(args.shards, args.merchants, args.clients, args.payers_per_client, args.rounds) < 1:
        parser.error(
            "--shards, --merchants, --clients, --payers-per-client and --rounds must be >= 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_logging()
    import_all_models()
    accounts.CLEARING_SHARDS = args.shards  # read by onboard_merchant; merchants keep it
    started = time.monotonic()
    machine = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="openbank-payments-bench-"))
    tmp.chmod(0o755)  # the embedded server runs as its own user when we are root
    meter = CpuMeter()
    embedded: Any = None
    try:
        if args.database_url:
            server_url = libpq_url(Settings(database_url=args.database_url, home=tmp))
        else:
            log.print(f"starting the embedded PostgreSQL under {tmp} ...")
            embedded = embedded_server(Settings(home=tmp))
            server_url = str(embedded.get_uri())
        meter.postmaster = find_postmaster(server_url)
        pg_settings = server_settings(server_url)

        pgbench = run_pgbench(server_url, args.scale, args.clients, args.duration, meter, args.keep)
        log.print(f"  pgbench TPC-B: {pgbench.tps:,.0f} tps")

        database_url = create_database(server_url, "payments_bench")
        database_name = database_url.partition("?")[0].rsplit("/", 1)[1]
        settings = Settings(database_url=database_url, home=tmp)
        db = Database(settings)
        processes = min(os.cpu_count() or 2, 8)
        pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
        scenarios: dict[str, ScenarioResult] = {}
        try:
            upgrade(db.engine)
            payers_total = args.clients * args.payers_per_client
            log.print(
                f"setup: {args.merchants:,} merchants ({args.shards} clearing shard(s) each),"
                f" {payers_total:,} payers ..."
            )
            world = make_world(db, settings, args.merchants, payers_total)
            analyze(database_url)
            log.print(f"  ready in {world.seconds:.0f} s")
            payer_ids = [str(p) for p in world.payers]
            per_client = [payer_ids[i :: args.clients] for i in range(args.clients)]
            token = secrets.token_urlsafe(24)
            log.print(f"starting openbank serve --workers {args.workers} ...")
            with openbank_server(database_url, args.workers, tmp, token, tmp / "serve.log") as (
                port,
                proc,
            ):
                meter.server_group = proc.pid
                workers = wait_for_workers(proc.pid, args.workers)
                work = Workload("127.0.0.1", port, token, [], "", 1, workers)
                bench = Bench(
                    db=db,
                    orders=OrderMaker(pool, processes, database_url, tmp, random.Random()),
                    settings=settings,
                    database_url=database_url,
                    work=work,
                    payers=per_client,
                    meter=meter,
                    sampler=ActivitySampler(server_url, database_name),
                    books=Books(),
                    shards=args.shards,
                )
                plan = [
                    Scenario("one_merchant", "one merchant", world.merchants[:1]),
                    Scenario(
                        "spread", f"spread over {len(world.merchants):,} merchants", world.merchants
                    ),
                ]
                run_scenarios(bench, plan, args.duration, args.warmup, args.rounds, args.orders)
                scenarios = {p.key: p.result(args.clients) for p in plan}
        finally:
            pool.shutdown()
            db.dispose()
            if not args.keep:
                drop_database(server_url, database_url)

        config = {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "clients": args.clients,
            "workers": args.workers,
            "merchants": args.merchants,
            "payers_per_client": args.payers_per_client,
            "shards": args.shards,
            "rounds": args.rounds,
            "orders": args.orders or "from the warm-up rate",
            "payment": "POST /v1/payment-orders/{id}/pay of a pre-created order (untimed create)",
            "database": "external" if args.database_url else "embedded (pgserver)",
            "postgres": pg_settings,
        }
        setup = {
            "merchants": len(world.merchants),
            "payers": len(world.payers),
            "seconds": round(world.seconds, 1),
        }
        report = build_report(
            machine, config, pgbench, setup, scenarios, time.monotonic() - started
        )
    finally:
        if embedded is not None:
            embedded.cleanup()  # stops the server (its data goes with the temp dir)
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print_report(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
