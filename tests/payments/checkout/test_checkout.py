"""The checkout page a payer opens, and paying it by bank card: what the page shows, its QR
code, the payment that moves the money, and every refusal that moves none."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.payments import service as payments
from openbank.payments.checkout import pages
from tests.conftest import BASE_URL
from tests.customers.helpers import card_number
from tests.payments.checkout.support import (
    clearing_posted,
    csrf_of,
    open_checkout,
    open_order,
    order_now,
    pay_by_card,
    post_payment,
    shop,
)
from tests.payments.support import pay_from, payer

CARD_FORM = 'name="card_number"'


def test_the_page_shows_the_merchant_the_order_and_its_amount_in_yuan(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now, legal_name="杭州西湖茶馆有限公司")
    order = open_order(db, settings, now, merchant.id, 123456789, description="龙井 <特级>")
    html = open_checkout(web, order.id).text
    assert "杭州西湖茶馆有限公司" in html
    assert "¥1,234,567.89" in html
    assert "龙井 &lt;特级&gt;" in html  # escaped, never markup
    assert order.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") in html
    assert CARD_FORM in html
    assert 'name="holder_name"' in html


def test_the_page_is_in_chinese_with_english_beneath_and_no_script(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    response = open_checkout(web, order.id)
    assert "银行卡支付" in response.text
    assert "Pay by bank card" in response.text
    assert "<script" not in response.text.lower()
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "0.00"), (1, "0.01"), (99, "0.99"), (100, "1.00"), (2599, "25.99"),
     (100_000_000, "1,000,000.00"), (2**63 - 1, "92,233,720,368,547,758.07"), (-150, "-1.50")],
)  # fmt: skip
def test_fen_are_shown_as_exact_yuan(fen: int, shown: str) -> None:
    assert pages.yuan(fen) == shown


def test_the_qr_code_encodes_the_pages_own_url_marked_as_a_scan(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    html = open_checkout(web, order.id).text
    expected = f"{BASE_URL}/checkout/{order.id}?via=qr"
    assert "<svg" in html
    assert pages.qr_svg(expected) in html
    # A QR code of another URL would draw another picture.
    assert pages.qr_svg(f"{BASE_URL}/checkout/{order.id}") not in html


@pytest.mark.parametrize("order_id", ["0196f3a2-7c1e-7d4b-9a10-2b3c4d5e6f70", "not-an-order"])
def test_an_unknown_order_is_a_404_page(web: TestClient, order_id: str) -> None:
    response = web.get(f"/checkout/{order_id}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "找不到该订单" in response.text


def test_an_order_past_its_expiry_shows_as_expired_before_the_sweeper_closes_it(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(
        db, settings, now, merchant.id, 100, expires_at=(now + timedelta(seconds=30)).isoformat()
    )
    checkout_clock.advance(timedelta(seconds=31))
    html = open_checkout(web, order.id).text
    assert order_now(db, settings, order.id).status == "created"  # not swept yet
    assert "已过期" in html
    assert "expired" in html
    assert CARD_FORM not in html
    assert "<svg" not in html


def test_a_paid_order_shows_that_it_is_paid_instead_of_the_form(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 500)
    pay_from(db, settings, now, order.id, payer(db, settings, now, 500).id)
    html = open_checkout(web, order.id).text
    assert "该订单已支付" in html
    assert CARD_FORM not in html
    assert f"/checkout/{order.id}/result" in html


def test_a_closed_order_shows_that_it_is_closed_instead_of_the_form(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 500)
    unit_of_work(db, lambda s: payments.close_order(s, order.id, now, settings))
    html = open_checkout(web, order.id).text
    assert "该订单已关闭" in html
    assert CARD_FORM not in html


def test_paying_by_card_captures_into_the_merchants_clearing_and_redirects_to_the_result(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 2599)
    before = clearing_posted(db, merchant.id)
    response = pay_by_card(web, order.id, "qr")
    assert response.headers["location"] == f"/checkout/{order.id}/result?via=qr"
    paid = order_now(db, settings, order.id)
    assert (paid.status, paid.payer_kind, paid.captured_amount) == ("captured", "card", 2599)
    assert clearing_posted(db, merchant.id) == before + 2599


def test_a_payment_from_a_link_lands_on_the_result_page_without_the_qr_mark(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    assert pay_by_card(web, order.id).headers["location"] == f"/checkout/{order.id}/result"


# -- refusals: the page again, a 4xx, and nothing moved ---------------------------------------


def _refused_payment(
    web: TestClient, db: Database, settings: Settings, order_id: uuid.UUID, merchant_id: uuid.UUID,
    csrf: str, number: str | None = None, holder_name: str = "王五",
) -> tuple[int, str]:  # fmt: skip
    before = clearing_posted(db, merchant_id)
    status_before = order_now(db, settings, order_id).status
    response = post_payment(web, order_id, csrf, number, holder_name)
    assert clearing_posted(db, merchant_id) == before
    assert order_now(db, settings, order_id).status == status_before
    assert response.headers["content-type"].startswith("text/html")
    return response.status_code, response.text


@pytest.mark.parametrize("number", ["6222020200112345670", "12345", "6222 abcd"])
def test_a_bad_card_number_is_refused_on_the_page_and_moves_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock, number: str
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    status, html = _refused_payment(web, db, settings, order.id, merchant.id, csrf, number)
    assert status == 422
    assert "银行卡号无效" in html
    assert "The bank card number is not valid" in html
    assert CARD_FORM in html  # the payer may try again
    assert 'value="王五"' in html  # what they typed stays, except the card number
    assert f'value="{number}"' not in html


@pytest.mark.parametrize("holder_name", ["王\x00五", "王\x1f五", "王五\x7f", "\n王五"])
def test_control_characters_in_the_holders_name_are_refused_on_the_page_and_move_nothing(
    web: TestClient,
    db: Database,
    settings: Settings,
    checkout_clock: ShiftedClock,
    holder_name: str,
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    status, html = _refused_payment(
        web, db, settings, order.id, merchant.id, csrf, holder_name=holder_name
    )
    assert status == 422
    assert "控制字符" in html
    assert CARD_FORM in html
    assert 'value="王五"' in html  # shown again without the control character


def test_a_control_character_in_the_card_number_is_refused_and_moves_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    number = card_number()
    status, html = _refused_payment(
        web, db, settings, order.id, merchant.id, csrf, number[:8] + "\x1f" + number[8:]
    )
    assert status == 422
    assert "控制字符" in html


def test_paying_an_expired_order_is_refused_and_moves_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(
        db, settings, now, merchant.id, 100, expires_at=(now + timedelta(seconds=20)).isoformat()
    )
    csrf = csrf_of(open_checkout(web, order.id).text)
    checkout_clock.advance(timedelta(seconds=21))
    status, html = _refused_payment(web, db, settings, order.id, merchant.id, csrf)
    assert status == 409
    assert "订单已过期" in html
    assert CARD_FORM not in html


def test_paying_a_closed_order_is_refused_and_moves_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    unit_of_work(db, lambda s: payments.close_order(s, order.id, now, settings))
    status, html = _refused_payment(web, db, settings, order.id, merchant.id, csrf)
    assert status == 409
    assert "订单已关闭" in html


def test_paying_an_order_twice_is_refused_and_moves_nothing_the_second_time(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    assert post_payment(web, order.id, csrf).status_code == 303
    status, html = _refused_payment(web, db, settings, order.id, merchant.id, csrf)
    assert status == 409
    assert "该订单已支付" in html
    assert order_now(db, settings, order.id).captured_amount == 100


def test_paying_a_frozen_merchant_is_refused_and_moves_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    unit_of_work(db, lambda s: payments.set_merchant_status(s, merchant.id, "frozen"))
    status, html = _refused_payment(web, db, settings, order.id, merchant.id, csrf)
    assert status == 409
    assert "商户暂停收款" in html
    assert CARD_FORM not in html


# -- CSRF ---------------------------------------------------------------------------------------


def test_a_payment_without_the_forms_token_is_refused_with_403_and_moves_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    open_checkout(web, order.id)  # the browser has its cookie
    status, html = _refused_payment(web, db, settings, order.id, merchant.id, csrf="")
    assert status == 403
    assert "页面已过期" in html


def test_a_token_made_for_another_order_is_refused(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    other = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, other.id).text)
    status, _html = _refused_payment(web, db, settings, order.id, merchant.id, csrf)
    assert status == 403


def test_a_token_posted_from_another_browser_is_refused(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    web.cookies.clear()  # a forged form, sent by a browser that never opened the page
    status, _html = _refused_payment(web, db, settings, order.id, merchant.id, csrf)
    assert status == 403
