"""Acquiring under real concurrency: many connections at once against real PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from sqlalchemy import select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.settings import Settings
from openbank.payments import models, service
from openbank.payments.schemas import CaptureCreate, OrderCreate, RefundCreate
from tests.payments.support import (
    balance,
    clearing,
    flow_totals,
    merchant,
    order,
    pay_from,
    payer,
)

T = TypeVar("T")


def all_at_once(calls: list[Callable[[], T]], threads: int = 16) -> list[T | DomainError]:
    """Run the calls on `threads` connections, released together; a refusal is a result."""
    start = threading.Barrier(min(threads, len(calls)))

    def run(call: Callable[[], T], index: int) -> T | DomainError:
        if index < threads:
            start.wait()
        try:
            return call()
        except DomainError as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, calls, range(len(calls))))


def test_many_payers_paying_one_merchant_at_once_all_land_exactly_once(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    payers = [payer(db, settings, now, 10_000) for _ in range(40)]
    orders = [
        (order(db, settings, now, shop.id, 100 + i), wallet) for i, wallet in enumerate(payers * 4)
    ]
    results = all_at_once([partial(pay_from, db, settings, now, o.id, w.id) for o, w in orders])
    assert [getattr(r, "status", r) for r in results] == ["captured"] * len(orders)
    total = sum(o.amount for o, _ in orders)
    assert clearing(db, shop.id) == (total, 0)
    assert flow_totals(db, shop.id) == (len(orders), total, 0, 0)
    spent = Counter[uuid.UUID]()
    for o, w in orders:
        spent[w.id] += o.amount
    assert all(balance(db, w.id) == 10_000 - spent[w.id] for w in payers)
    shards = unit_of_work(
        db,
        lambda s: set(
            s.execute(
                select(models.PaymentOrder.clearing_shard).where(
                    models.PaymentOrder.merchant_id == shop.id
                )
            ).scalars()
        ),
    )
    assert len(shards) > 1  # the payments spread over the clearing shards


def test_racing_refunds_never_add_up_to_more_than_captured(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000)
    pay_from(db, settings, now, made.id, wallet.id)

    def refund(i: int) -> object:
        spec = RefundCreate(out_refund_no=f"R{i}", amount=1_000)
        return unit_of_work(db, lambda s: service.refund(s, made.id, spec, now, settings))

    results = all_at_once([partial(refund, i) for i in range(10)], threads=10)
    refusals = [r.code for r in results if isinstance(r, DomainError)]
    assert refusals == ["refund_exceeds_captured"] * 7
    final = unit_of_work(db, lambda s: service.get_order(s, made.id, settings))
    assert (final.status, final.refunded_amount) == ("refunded", 3_000)
    assert balance(db, wallet.id) == 10_000
    assert clearing(db, shop.id) == (0, 0)


def test_refunds_racing_the_capture_refund_only_what_was_captured(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    pay_from(db, settings, now, made.id, wallet.id)

    def capture() -> object:
        spec = CaptureCreate(amount=2_000)
        return unit_of_work(db, lambda s: service.capture(s, made.id, spec, now, settings))

    def refund(i: int) -> object:
        spec = RefundCreate(out_refund_no=f"R{i}", amount=500)
        return unit_of_work(db, lambda s: service.refund(s, made.id, spec, now, settings))

    calls: list[Callable[[], object]] = [capture, *[partial(refund, i) for i in range(6)]]
    results = all_at_once(calls, threads=7)
    assert not isinstance(results[0], DomainError)  # the capture itself never loses
    refunded = sum(1 for r in results[1:] if not isinstance(r, DomainError)) * 500
    codes = {r.code for r in results[1:] if isinstance(r, DomainError)}
    assert codes <= {"payment_order_state_conflict", "refund_exceeds_captured"}
    final = unit_of_work(db, lambda s: service.get_order(s, made.id, settings))
    assert final.captured_amount == 2_000
    assert final.refunded_amount == refunded <= 2_000
    assert clearing(db, shop.id) == (2_000 - refunded, 0)
    assert balance(db, wallet.id) == 10_000 - 2_000 + refunded


def test_racing_creations_with_one_out_trade_no_make_one_order(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    spec = OrderCreate(out_trade_no="SAME-1", amount=1_000, currency="CNY", description="x")
    results = all_at_once(
        [
            lambda: unit_of_work(
                db, lambda s: service.create_order(s, shop.id, spec, now, settings)
            )
            for _ in range(8)
        ],
        threads=8,
    )
    made = [r for r in results if not isinstance(r, DomainError)]
    assert len(made) == 8
    assert len({o.id for o, _created in made}) == 1
    assert sorted(created for _o, created in made) == [False] * 7 + [True]


def test_two_payers_racing_for_one_order_pay_it_once(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallets = [payer(db, settings, now, 10_000) for _ in range(6)]
    made = order(db, settings, now, shop.id, 1_000)
    results = all_at_once([partial(pay_from, db, settings, now, made.id, w.id) for w in wallets])
    paid = [r for r in results if not isinstance(r, DomainError)]
    assert len(paid) == 1
    assert {r.code for r in results if isinstance(r, DomainError)} == {"payment_order_already_paid"}
    assert sum(balance(db, w.id) for w in wallets) == 6 * 10_000 - 1_000
    assert clearing(db, shop.id) == (1_000, 0)
