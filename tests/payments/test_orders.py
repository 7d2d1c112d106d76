"""Payment orders through the service: creation, payment, authorization and capture, void,
refunds, closing and expiry; each state change announced to the merchant."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.payments import service
from openbank.payments.schemas import CaptureCreate, Card, OrderCreate, PaymentCreate, RefundCreate
from tests.customers.helpers import card_number
from tests.payments.support import (
    available,
    balance,
    clearing,
    events_of,
    flow_totals,
    merchant,
    order,
    pay_from,
    payer,
)


def refused(db: Database, work: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        unit_of_work(db, work)  # type: ignore[arg-type]
    return caught.value


def test_an_order_is_created_once_per_out_trade_no(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    spec = OrderCreate(out_trade_no="A-1", amount=2599, currency="CNY", description="拿铁")
    first, created = unit_of_work(
        db, lambda s: service.create_order(s, shop.id, spec, now, settings)
    )
    again, created_again = unit_of_work(
        db, lambda s: service.create_order(s, shop.id, spec, now, settings)
    )
    assert (created, created_again) == (True, False)
    assert again.id == first.id


def test_the_same_out_trade_no_with_another_request_is_refused(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    first = order(db, settings, now, shop.id, 100, out_trade_no="B-1")
    other = OrderCreate(out_trade_no="B-1", amount=200, currency="CNY", description="拿铁")
    error = refused(db, lambda s: service.create_order(s, shop.id, other, now, settings))
    assert error.code == "out_trade_no_reused"
    assert error.extra["order_id"] == str(first.id)


def test_orders_are_taken_in_cny_only(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    spec = OrderCreate(out_trade_no="C-1", amount=100, currency="USD", description="x")
    error = refused(db, lambda s: service.create_order(s, shop.id, spec, now, settings))
    assert error.code == "currency_not_supported"


def test_an_expiry_in_the_past_is_refused(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    spec = OrderCreate(
        out_trade_no="D-1", amount=100, currency="CNY", description="x",
        expires_at=now - timedelta(seconds=1),
    )  # fmt: skip
    assert refused(db, lambda s: service.create_order(s, shop.id, spec, now, settings)).code == (
        "invalid_expiry"
    )


def test_paying_from_an_e_account_captures_into_the_merchants_clearing(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 2_599)
    paid = pay_from(db, settings, now, made.id, wallet.id)
    assert (paid.status, paid.captured_amount, paid.payer_kind) == ("captured", 2_599, "e_account")
    assert balance(db, wallet.id) == 10_000 - 2_599
    assert clearing(db, shop.id) == (2_599, 0)
    assert flow_totals(db, shop.id) == (1, 2_599, 0, 0)
    assert events_of(db, made.id) == ["payment_order.created", "payment_order.captured"]


def test_paying_with_a_card_captures_from_card_clearing(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    made = order(db, settings, now, shop.id, 5_000)
    card = PaymentCreate(card=Card(number=card_number(), holder_name="王五"))
    paid = unit_of_work(db, lambda s: service.pay(s, made.id, card, now, settings))
    assert (paid.status, paid.payer_kind) == ("captured", "card")
    assert clearing(db, shop.id) == (5_000, 0)


def test_a_bad_card_number_is_refused_and_nothing_moves(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    made = order(db, settings, now, shop.id, 5_000)
    bad = PaymentCreate(card=Card(number="6222020200112345670", holder_name="王五"))
    error = refused(db, lambda s: service.pay(s, made.id, bad, now, settings))
    assert error.code == "invalid_card_number"
    assert clearing(db, shop.id) == (0, 0)
    assert unit_of_work(db, lambda s: service.get_order(s, made.id, settings)).status == "created"


def test_a_paid_order_cannot_be_paid_again(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 1_000)
    pay_from(db, settings, now, made.id, wallet.id)
    error = refused(
        db, lambda s: service.pay(s, made.id, PaymentCreate(e_account_id=wallet.id), now, settings)
    )
    assert error.code == "payment_order_already_paid"
    assert balance(db, wallet.id) == 9_000


def test_an_expired_order_cannot_be_paid_and_nothing_moves(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 1_000, expires_at=(now + timedelta(minutes=5)))
    later = now + timedelta(minutes=5)
    error = refused(
        db,
        lambda s: service.pay(s, made.id, PaymentCreate(e_account_id=wallet.id), later, settings),
    )
    assert error.code == "payment_order_expired"
    assert balance(db, wallet.id) == 10_000
    assert clearing(db, shop.id) == (0, 0)


def test_a_closed_order_cannot_be_paid(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 1_000)
    closed = unit_of_work(db, lambda s: service.close_order(s, made.id, now, settings))
    assert (closed.status, closed.close_reason) == ("closed", "closed_by_merchant")
    error = refused(
        db, lambda s: service.pay(s, made.id, PaymentCreate(e_account_id=wallet.id), now, settings)
    )
    assert error.code == "payment_order_closed"
    assert balance(db, wallet.id) == 10_000


def test_a_payer_without_enough_money_is_refused_and_nothing_moves(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 500)
    made = order(db, settings, now, shop.id, 1_000)
    error = refused(
        db, lambda s: service.pay(s, made.id, PaymentCreate(e_account_id=wallet.id), now, settings)
    )
    assert error.code == "exceeds_credits"
    assert balance(db, wallet.id) == 500
    assert unit_of_work(db, lambda s: service.get_order(s, made.id, settings)).status == "created"
    assert flow_totals(db, shop.id) == (0, 0, 0, 0)


def test_class_ii_non_bound_limit_applies_to_merchant_payments(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    limit = settings.class_ii_non_bound_daily_limit
    wallet = payer(db, settings, now, limit + 10_000, account_class="II")
    pay_from(db, settings, now, order(db, settings, now, shop.id, limit).id, wallet.id)
    one_more = order(db, settings, now, shop.id, 1)
    error = refused(
        db,
        lambda s: service.pay(s, one_more.id, PaymentCreate(e_account_id=wallet.id), now, settings),
    )
    assert error.code == "limit_exceeded"
    assert balance(db, wallet.id) == 10_000


def test_a_frozen_merchant_takes_no_orders_or_payments(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 1_000)
    unit_of_work(db, lambda s: service.set_merchant_status(s, shop.id, "frozen"))
    error = refused(
        db, lambda s: service.pay(s, made.id, PaymentCreate(e_account_id=wallet.id), now, settings)
    )
    assert error.code == "merchant_not_active"
    spec = OrderCreate(out_trade_no="F-2", amount=100, currency="CNY", description="x")
    assert refused(db, lambda s: service.create_order(s, shop.id, spec, now, settings)).code == (
        "merchant_not_active"
    )
    assert balance(db, wallet.id) == 10_000


# -- authorize, capture, void ---------------------------------------------------------------


def test_a_manual_order_authorizes_by_holding_the_money(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    held = pay_from(db, settings, now, made.id, wallet.id)
    assert (held.status, held.authorized_amount, held.captured_amount) == ("authorized", 3_000, 0)
    assert (balance(db, wallet.id), available(db, wallet.id)) == (10_000, 7_000)
    assert clearing(db, shop.id) == (0, 3_000)
    assert flow_totals(db, shop.id) == (0, 0, 0, 0)


def test_a_partial_capture_gives_the_rest_back_to_the_payer(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    pay_from(db, settings, now, made.id, wallet.id)
    done = unit_of_work(
        db, lambda s: service.capture(s, made.id, CaptureCreate(amount=2_000), now, settings)
    )
    assert (done.status, done.captured_amount) == ("captured", 2_000)
    assert (balance(db, wallet.id), available(db, wallet.id)) == (8_000, 8_000)
    assert clearing(db, shop.id) == (2_000, 0)
    assert flow_totals(db, shop.id) == (1, 2_000, 0, 0)
    assert events_of(db, made.id)[-2:] == ["payment_order.authorized", "payment_order.captured"]


def test_capturing_more_than_authorized_is_refused(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    pay_from(db, settings, now, made.id, wallet.id)
    error = refused(
        db, lambda s: service.capture(s, made.id, CaptureCreate(amount=3_001), now, settings)
    )
    assert error.code == "capture_exceeds_authorized"
    assert clearing(db, shop.id) == (0, 3_000)


def test_an_order_is_captured_once(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    pay_from(db, settings, now, made.id, wallet.id)
    unit_of_work(
        db, lambda s: service.capture(s, made.id, CaptureCreate(amount=1_000), now, settings)
    )
    error = refused(
        db, lambda s: service.capture(s, made.id, CaptureCreate(amount=1_000), now, settings)
    )
    assert error.code == "payment_order_state_conflict"
    assert clearing(db, shop.id) == (1_000, 0)


def test_a_void_releases_the_held_money(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    pay_from(db, settings, now, made.id, wallet.id)
    voided = unit_of_work(db, lambda s: service.void(s, made.id, now, settings))
    assert voided.status == "voided"
    assert (balance(db, wallet.id), available(db, wallet.id)) == (10_000, 10_000)
    assert clearing(db, shop.id) == (0, 0)


def test_an_authorization_past_its_hold_cannot_be_captured(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    held = pay_from(db, settings, now, made.id, wallet.id)
    assert held.authorization_expires_at is not None
    later = held.authorization_expires_at
    error = refused(db, lambda s: service.capture(s, made.id, CaptureCreate(), later, settings))
    assert error.code == "authorization_expired"


# -- refunds --------------------------------------------------------------------------------


def test_partial_refunds_add_up_to_a_full_refund(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000)
    pay_from(db, settings, now, made.id, wallet.id)
    for number, amount in (("R1", 1_000), ("R2", 2_000)):
        spec = RefundCreate(out_refund_no=number, amount=amount)
        unit_of_work(
            db, partial(service.refund, order_id=made.id, spec=spec, now=now, settings=settings)
        )
    done = unit_of_work(db, lambda s: service.get_order(s, made.id, settings))
    assert (done.status, done.refunded_amount) == ("refunded", 3_000)
    assert balance(db, wallet.id) == 10_000
    assert clearing(db, shop.id) == (0, 0)
    assert flow_totals(db, shop.id) == (1, 3_000, 2, 3_000)
    assert events_of(db, made.id)[-2:] == ["payment_order.refunded", "payment_order.refunded"]


def test_a_refund_more_than_captured_is_refused_and_nothing_moves(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000)
    pay_from(db, settings, now, made.id, wallet.id)
    unit_of_work(
        db,
        lambda s: service.refund(
            s, made.id, RefundCreate(out_refund_no="R1", amount=2_000), now, settings
        ),
    )
    spec = RefundCreate(out_refund_no="R2", amount=1_001)
    error = refused(db, lambda s: service.refund(s, made.id, spec, now, settings))
    assert error.code == "refund_exceeds_captured"
    assert error.extra["refundable"] == 1_000
    assert balance(db, wallet.id) == 9_000
    assert clearing(db, shop.id) == (1_000, 0)


def test_a_refund_retried_with_its_number_is_made_once(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000)
    pay_from(db, settings, now, made.id, wallet.id)
    spec = RefundCreate(out_refund_no="R1", amount=500)
    first, created = unit_of_work(db, lambda s: service.refund(s, made.id, spec, now, settings))
    again, created_again = unit_of_work(
        db, lambda s: service.refund(s, made.id, spec, now, settings)
    )
    assert (created, created_again, again.id) == (True, False, first.id)
    assert balance(db, wallet.id) == 7_500
    other = RefundCreate(out_refund_no="R1", amount=600)
    assert refused(db, lambda s: service.refund(s, made.id, other, now, settings)).code == (
        "out_refund_no_reused"
    )


def test_an_authorization_is_voided_not_refunded(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 3_000, capture_mode="manual")
    pay_from(db, settings, now, made.id, wallet.id)
    spec = RefundCreate(out_refund_no="R1", amount=100)
    assert refused(db, lambda s: service.refund(s, made.id, spec, now, settings)).code == (
        "payment_order_state_conflict"
    )


def test_a_card_payment_is_refunded_to_card_clearing(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    made = order(db, settings, now, shop.id, 5_000)
    card = PaymentCreate(card=Card(number=card_number(), holder_name="王五"))
    unit_of_work(db, lambda s: service.pay(s, made.id, card, now, settings))
    spec = RefundCreate(out_refund_no="R1", amount=5_000)
    unit_of_work(db, lambda s: service.refund(s, made.id, spec, now, settings))
    assert clearing(db, shop.id) == (0, 0)


# -- closing and expiry ---------------------------------------------------------------------


def test_unpaid_orders_close_when_they_expire(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    made = order(db, settings, now, shop.id, 1_000, expires_at=(now + timedelta(minutes=1)))
    unit_of_work(db, lambda s: service.close_expired_orders(s, now, settings))
    assert unit_of_work(db, lambda s: service.get_order(s, made.id, settings)).status == "created"
    later = now + timedelta(minutes=1)
    unit_of_work(db, lambda s: service.close_expired_orders(s, later, settings))
    closed = unit_of_work(db, lambda s: service.get_order(s, made.id, settings))
    assert (closed.status, closed.close_reason) == ("closed", "expired")
    assert events_of(db, made.id)[-1] == "payment_order.closed"


def test_a_paid_order_cannot_be_closed(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 10_000)
    made = order(db, settings, now, shop.id, 1_000)
    pay_from(db, settings, now, made.id, wallet.id)
    assert refused(db, lambda s: service.close_order(s, made.id, now, settings)).code == (
        "payment_order_state_conflict"
    )


# -- found in review ------------------------------------------------------------------------


def test_an_order_above_the_largest_amount_is_refused(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    spec = OrderCreate(
        out_trade_no="BIG-1", amount=settings.payments_max_order_amount + 1, currency="CNY",
        description="x",
    )  # fmt: skip
    error = refused(db, lambda s: service.create_order(s, shop.id, spec, now, settings))
    assert (error.code, error.extra["max_amount"]) == (
        "amount_too_large",
        settings.payments_max_order_amount,
    )


def test_one_expiry_written_with_two_offsets_is_one_request(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    at = (now + timedelta(hours=1)).replace(microsecond=0)
    in_utc = OrderCreate(
        out_trade_no="TZ-1", amount=100, currency="CNY", description="x",
        expires_at=at.astimezone(ZoneInfo("UTC")),
    )  # fmt: skip
    in_beijing = in_utc.model_copy(update={"expires_at": at.astimezone(ZoneInfo("Asia/Shanghai"))})
    first, _ = unit_of_work(db, lambda s: service.create_order(s, shop.id, in_utc, now, settings))
    again, created = unit_of_work(
        db, lambda s: service.create_order(s, shop.id, in_beijing, now, settings)
    )
    assert (again.id, created) == (first.id, False)


def test_a_retry_is_answered_after_the_merchant_was_frozen(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    spec = OrderCreate(out_trade_no="FRZ-1", amount=100, currency="CNY", description="x")
    first, _ = unit_of_work(db, lambda s: service.create_order(s, shop.id, spec, now, settings))
    unit_of_work(db, lambda s: service.set_merchant_status(s, shop.id, "frozen"))
    again, created = unit_of_work(
        db, lambda s: service.create_order(s, shop.id, spec, now, settings)
    )
    assert (again.id, created) == (first.id, False)


def test_a_voided_authorization_frees_the_payers_limit(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    limit = settings.class_ii_non_bound_daily_limit
    wallet = payer(db, settings, now, limit + 10_000)
    held = order(db, settings, now, shop.id, limit, capture_mode="manual")
    pay_from(db, settings, now, held.id, wallet.id)
    blocked = order(db, settings, now, shop.id, 1)
    error = refused(
        db,
        lambda s: service.pay(s, blocked.id, PaymentCreate(e_account_id=wallet.id), now, settings),
    )
    assert error.code == "limit_exceeded"  # the hold counts while it holds
    unit_of_work(db, lambda s: service.void(s, held.id, now, settings))
    assert pay_from(db, settings, now, blocked.id, wallet.id).status == "captured"


def test_only_the_captured_part_of_an_authorization_uses_the_limit(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    limit = settings.class_ii_non_bound_daily_limit
    wallet = payer(db, settings, now, limit + 10_000)
    held = order(db, settings, now, shop.id, limit, capture_mode="manual")
    pay_from(db, settings, now, held.id, wallet.id)
    unit_of_work(
        db, lambda s: service.capture(s, held.id, CaptureCreate(amount=100), now, settings)
    )
    rest = order(db, settings, now, shop.id, limit - 100)
    assert pay_from(db, settings, now, rest.id, wallet.id).status == "captured"
    over = order(db, settings, now, shop.id, 1)
    error = refused(
        db, lambda s: service.pay(s, over.id, PaymentCreate(e_account_id=wallet.id), now, settings)
    )
    assert error.code == "limit_exceeded"


def test_a_refund_the_paying_e_account_cannot_take_goes_to_its_bound_card(
    db: Database, settings: Settings
) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 3_000)
    made = order(db, settings, now, shop.id, 3_000)
    pay_from(db, settings, now, made.id, wallet.id)
    unit_of_work(db, lambda s: customers.close_e_account(s, wallet.id, now))
    spec = RefundCreate(out_refund_no="R1", amount=3_000)
    made_refund, _ = unit_of_work(db, lambda s: service.refund(s, made.id, spec, now, settings))
    assert made_refund.destination == "bound_card"
    assert clearing(db, shop.id) == (0, 0)
    assert str(wallet.id) not in made_refund.model_dump_json()


def test_a_closed_merchant_refunds_no_more(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    wallet = payer(db, settings, now, 3_000)
    made = order(db, settings, now, shop.id, 3_000)
    pay_from(db, settings, now, made.id, wallet.id)
    unit_of_work(db, lambda s: service.set_merchant_status(s, shop.id, "closed"))
    spec = RefundCreate(out_refund_no="R1", amount=1_000)
    assert refused(db, lambda s: service.refund(s, made.id, spec, now, settings)).code == (
        "merchant_closed"
    )
    assert balance(db, wallet.id) == 0


def test_the_checkout_knows_the_card_that_paid(db: Database, settings: Settings) -> None:
    now = ShiftedClock().now()
    shop = merchant(db, settings, now)
    made = order(db, settings, now, shop.id, 5_000)
    paid_with, other = card_number(), card_number()
    spec = PaymentCreate(card=Card(number=paid_with, holder_name="王五"))
    unit_of_work(db, lambda s: service.pay(s, made.id, spec, now, settings))
    assert unit_of_work(db, lambda s: service.card_paid_with(s, made.id, paid_with))
    assert not unit_of_work(db, lambda s: service.card_paid_with(s, made.id, other))
    assert not unit_of_work(db, lambda s: service.card_paid_with(s, made.id, "not a card"))
