"""The offer's conversion numbers for operators: shown, converted and the rate, overall and by
channel, merchant and partner platform, for business days the operator names."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock, business_date
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.payments.checkout.offers import conversion_rate
from tests.payments.checkout.support import (
    account_form,
    open_order,
    paid_with_offer,
    pay_by_card,
    post_account,
    shop,
)
from tests.payments.support import pay_from, payer

SUMMARY = "/v1/payments/checkout-offers/summary"


def _a_new_business_day(clock: ShiftedClock, settings: Settings) -> date:
    """Move this app's clock to just after the next midnight in the bank's time zone: offers
    shown from now on are the only ones on that business day."""
    now = clock.now()
    midnight = datetime.combine(
        business_date(now, settings.tz) + timedelta(days=1), time(), settings.tz
    )
    clock.advance(midnight - now + timedelta(minutes=1))
    return business_date(clock.now(), settings.tz)


def _summary(web: TestClient, start: date, end: date) -> dict[str, Any]:
    response = web.get(SUMMARY, params={"from": start.isoformat(), "to": end.isoformat()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _counts(shown: int, converted: int, rate: str | None) -> dict[str, Any]:
    return {"shown": shown, "converted": converted, "conversion_rate": rate}


def test_the_summary_counts_offers_shown_and_converted_by_channel_merchant_and_partner(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    day = _a_new_business_day(checkout_clock, settings)
    now = checkout_clock.now()
    partner = uuid.uuid4()
    a, b = shop(db, settings, now), shop(db, settings, now)

    def shown(merchant_id: uuid.UUID, channel: str | None, convert: bool, **fields: Any) -> None:
        order = open_order(db, settings, now, merchant_id, 100, **fields)
        csrf, card = paid_with_offer(web, order.id, channel)
        if convert:
            form = account_form(card_number=card)
            assert post_account(web, order.id, csrf, form).status_code == 200

    shown(a.id, "qr", True, partner_id=partner)
    shown(a.id, None, False, partner_id=partner)
    shown(b.id, None, True)
    shown(b.id, "qr", False)
    shown(b.id, "qr", False)
    paid_from_e_account = open_order(db, settings, now, b.id, 100)
    pay_from(db, settings, now, paid_from_e_account.id, payer(db, settings, now, 100).id)
    web.get(f"/checkout/{paid_from_e_account.id}/result")  # no offer: not counted
    unseen = open_order(db, settings, now, b.id, 100)
    pay_by_card(web, unseen.id)  # the result page never opened: not counted

    body = _summary(web, day, day)
    assert body["from"] == body["to"] == day.isoformat()
    assert {k: body[k] for k in ("shown", "converted", "conversion_rate")} == _counts(
        5, 2, "0.4000"
    )
    assert body["by_channel"] == [
        {"channel": "checkout", **_counts(2, 1, "0.5000")},
        {"channel": "qr", **_counts(3, 1, "0.3333")},
    ]
    assert body["by_merchant"] == [
        {"merchant_id": str(b.id), **_counts(3, 1, "0.3333")},
        {"merchant_id": str(a.id), **_counts(2, 1, "0.5000")},
    ]
    assert body["by_partner"] == [
        {"partner_id": None, **_counts(3, 1, "0.3333")},
        {"partner_id": str(partner), **_counts(2, 1, "0.5000")},
    ]


def test_a_day_with_no_offers_has_no_rate(web: TestClient) -> None:
    far = date(2001, 1, 1)
    body = _summary(web, far, far)
    assert {k: body[k] for k in ("shown", "converted", "conversion_rate")} == _counts(0, 0, None)
    assert body["by_channel"] == body["by_merchant"] == body["by_partner"] == []


@pytest.mark.parametrize(
    ("shown", "converted", "rate"),
    [(0, 0, None), (1, 0, "0.0000"), (1, 1, "1.0000"), (3, 1, "0.3333"), (3, 2, "0.6667"),
     (8, 1, "0.1250"), (20000, 1, "0.0000"), (20000, 3, "0.0002")],
)  # fmt: skip
def test_the_conversion_rate_is_an_exact_decimal_string(
    shown: int, converted: int, rate: str | None
) -> None:
    assert conversion_rate(shown, converted) == rate


@pytest.mark.parametrize(
    ("start", "end"), [("2026-03-02", "2026-03-01"), ("2024-01-01", "2025-01-01")]
)
def test_a_range_backwards_or_longer_than_a_year_is_refused(
    web: TestClient, start: str, end: str
) -> None:
    response = web.get(SUMMARY, params={"from": start, "to": end})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_date_range"


@pytest.mark.parametrize(
    ("start", "end"), [("9999-12-31", "9999-12-31"), ("9999-01-01", "9999-12-31")]
)
def test_a_range_ending_in_the_last_representable_year_is_refused(
    web: TestClient, start: str, end: str
) -> None:
    response = web.get(SUMMARY, params={"from": start, "to": end})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_date_range"


@pytest.mark.parametrize("day", [date(9998, 12, 31), date(1, 1, 1)])
def test_the_earliest_and_latest_days_allowed_have_a_summary(web: TestClient, day: date) -> None:
    body = _summary(web, day, day)
    assert body["shown"] == 0


def test_the_summary_is_for_operators_only(web: TestClient) -> None:
    response = web.get(
        SUMMARY,
        params={"from": "2026-01-01", "to": "2026-01-31"},
        headers={"Authorization": "Bearer not-an-operator"},
    )
    assert response.status_code == 401
