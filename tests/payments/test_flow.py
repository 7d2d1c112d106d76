"""A merchant's transaction flow and its payment-flow limit, read from the daily aggregates
(`payments.flow`, reached through payments.service) and over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from openbank.api import create_app
from openbank.core.clock import ShiftedClock, business_date
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.settings import Settings
from openbank.credit import service as credit
from openbank.customers import service as customers
from openbank.customers.schemas import CustomerCreate
from openbank.payments import models, service
from openbank.payments.flow import MerchantFlow
from openbank.payments.schemas import Merchant, RefundCreate
from tests.conftest import AUTH, BASE_URL
from tests.customers.helpers import credit_code, resident_id
from tests.payments.flow_support import (
    day_rows,
    full_months_before,
    monthly_rows,
    put_flow,
)
from tests.payments.support import merchant, order, pay_from, payer

AS_OF = date(2026, 7, 15)
MONTHS = full_months_before(AS_OF, 6)  # January to June 2026
LONG_AGO = date(2025, 1, 10)


@pytest.fixture
def shop(db: Database, settings: Settings) -> Merchant:
    return merchant(db, settings, ShiftedClock().now())


def flow_of(db: Database, merchant_id: uuid.UUID, days: int = 365) -> MerchantFlow:
    return unit_of_work(db, lambda s: service.merchant_flow(s, merchant_id, AS_OF, days))


def limit_of(db: Database, customer_id: uuid.UUID) -> credit.FlowLimit | None:
    return unit_of_work(db, lambda s: service.payment_flow_limit(s, customer_id, AS_OF))


def test_a_merchants_day_is_the_sum_of_its_shards(db: Database, shop: Merchant) -> None:
    day = AS_OF - timedelta(days=3)
    put_flow(
        db, day_rows(shop.id, day, count=7, volume=70_001, refund_count=3, refunded=999, shards=3)
    )
    (row,) = flow_of(db, shop.id).daily
    assert (row.business_date, row.payment_count, row.payment_volume) == (day, 7, 70_001)
    assert (row.refund_count, row.refund_volume) == (3, 999)


def test_the_daily_rows_are_the_last_days_up_to_as_of(db: Database, shop: Merchant) -> None:
    days = [AS_OF + timedelta(days=1), AS_OF, AS_OF - timedelta(days=29), AS_OF - timedelta(30)]
    put_flow(db, [r for d in days for r in day_rows(shop.id, d, count=1, volume=100)])
    listed = [row.business_date for row in flow_of(db, shop.id, days=30).daily]
    assert listed == [AS_OF - timedelta(days=29), AS_OF]


def test_the_limit_is_computed_from_the_merchants_flow(db: Database, shop: Merchant) -> None:
    put_flow(db, day_rows(shop.id, LONG_AGO, count=1, volume=100))
    put_flow(db, monthly_rows(shop.id, MONTHS, 2_000_000, refunded=40_000))
    flow = flow_of(db, shop.id)
    assert flow.summary.months == 6
    assert flow.summary.payment_volume == 12_000_000
    assert flow.summary.refund_rate == Decimal("0.02")
    assert flow.summary.active_days == 120
    assert flow.limit.stable_monthly_net_volume == 1_960_000
    assert flow.limit.cuts == []
    assert flow.limit.limit == 5_880_000
    assert [m.net_volume for m in flow.limit.months] == [1_960_000] * 6


def test_tenure_runs_from_the_first_day_with_a_payment_however_long_ago(
    db: Database, shop: Merchant
) -> None:
    first = AS_OF - timedelta(days=800)  # before the year of days the limit reads
    put_flow(db, day_rows(shop.id, first, count=1, volume=100))
    put_flow(db, monthly_rows(shop.id, MONTHS, 1_000_000))
    summary = flow_of(db, shop.id, days=30).summary
    assert summary.first_payment_date == first
    assert summary.tenure_months == 26


def test_a_new_merchant_has_its_tenure_cut(db: Database, shop: Merchant) -> None:
    put_flow(db, monthly_rows(shop.id, MONTHS[-2:], 1_000_000))
    flow = flow_of(db, shop.id)
    assert flow.summary.tenure_months == 2
    assert [(c.code, c.factor) for c in flow.limit.cuts] == [("short_tenure", Decimal(0))]
    assert flow.limit.limit == 0


def test_an_unknown_merchant_is_not_found(db: Database) -> None:
    with pytest.raises(DomainError) as refused:
        flow_of(db, uuid.uuid4())
    assert (refused.value.code, refused.value.status) == ("merchant_not_found", 404)


def test_a_customer_who_runs_no_merchant_has_no_flow_limit(
    db: Database, settings: Settings
) -> None:
    spec = CustomerCreate(
        type="person", name="李四", id_number=resident_id(), phone="+8613900139000", kyc_level=3
    )
    now = ShiftedClock().now()
    person = unit_of_work(db, lambda s: customers.create_customer(s, spec, now, settings))
    assert limit_of(db, person.id) is None


def test_a_merchant_without_payments_has_a_limit_of_nothing(db: Database, shop: Merchant) -> None:
    limit = limit_of(db, shop.customer_id)
    assert limit is not None
    assert limit.limit == 0
    assert limit.summary.first_payment_date is None


def test_a_customers_merchants_count_together_day_by_day(
    db: Database, settings: Settings, shop: Merchant
) -> None:
    # A second merchant of the same customer (onboarding makes one customer per credit code,
    # so this one is written directly, sharing the first's settlement account).
    def second_merchant(s: Session) -> uuid.UUID:
        first = s.get(models.Merchant, shop.id)
        columns = models.Merchant.__table__.columns
        other = models.Merchant(**{c.key: getattr(first, c.key) for c in columns})
        other.id, other.unified_social_credit_code = uuid.uuid4(), credit_code()
        s.add(other)
        return other.id

    other_id = unit_of_work(db, second_merchant)
    put_flow(db, day_rows(shop.id, LONG_AGO, count=1, volume=100))
    put_flow(db, monthly_rows(shop.id, MONTHS, 600_000, active_days=6))
    put_flow(db, monthly_rows(other_id, MONTHS, 400_000, active_days=6))
    together = limit_of(db, shop.customer_id)
    assert together is not None
    assert together.stable_monthly_net_volume == 1_000_000
    # Each has 6 active days a month, the same 6: together still too few active days.
    assert together.summary.active_days == 36
    assert [c.code for c in together.cuts] == ["few_active_days"]
    assert together.limit == 2_100_000
    alone = flow_of(db, shop.id).limit
    assert alone.stable_monthly_net_volume == 600_000


def test_payments_and_refunds_taken_through_the_service_show_in_the_flow(
    db: Database, settings: Settings, shop: Merchant
) -> None:
    now = ShiftedClock().now()
    today = business_date(now, settings.tz)
    wallet = payer(db, settings, now, 100_000)
    for amount in (12_000, 3_000):
        paid = pay_from(db, settings, now, order(db, settings, now, shop.id, amount).id, wallet.id)
    spec = RefundCreate(out_refund_no="R-1", amount=1_000)
    unit_of_work(db, lambda s: service.refund(s, paid.id, spec, now, settings))
    flow = unit_of_work(db, lambda s: service.merchant_flow(s, shop.id, today, 1))
    (day,) = flow.daily
    assert (day.business_date, day.payment_count, day.payment_volume) == (today, 2, 15_000)
    assert (day.refund_count, day.refund_volume) == (1, 1_000)
    assert flow.summary.first_payment_date == today


# -- over HTTP ------------------------------------------------------------------------------

PATH = "/v1/merchants/{}/flow"


@pytest.fixture(scope="module")
def api(db: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, ShiftedClock())
    with TestClient(app, headers=AUTH, base_url=BASE_URL) as client:
        yield client


def test_the_flow_endpoint_gives_the_days_the_summary_and_the_limit_with_its_cuts(
    api: TestClient, db: Database, shop: Merchant
) -> None:
    put_flow(db, day_rows(shop.id, LONG_AGO, count=1, volume=100))
    put_flow(db, monthly_rows(shop.id, MONTHS, 1_000_000, refunded=100_000))
    response = api.get(PATH.format(shop.id), params={"as_of": AS_OF.isoformat(), "days": 31})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["as_of"] == "2026-07-15"
    assert [d["business_date"] for d in body["daily"]][:2] == ["2026-06-15", "2026-06-16"]
    assert body["summary"]["refund_rate"] == "0.1000"  # ratios as decimal strings
    assert body["limit"]["cuts"] == [
        {"code": "refund_rate", "factor": "0.8", "detail": "refund rate 10.00 % is above 5.00 %"}
    ]
    assert body["limit"]["limit"] == 3 * 900_000 * 8 // 10


def test_the_flow_endpoint_answers_404_for_an_unknown_merchant(api: TestClient) -> None:
    response = api.get(PATH.format(uuid.uuid4()))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "merchant_not_found"


def test_the_flow_endpoint_needs_an_operator(api: TestClient, shop: Merchant) -> None:
    response = api.get(PATH.format(shop.id), headers={"Authorization": ""})
    assert response.status_code == 401
