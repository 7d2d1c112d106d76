"""The payment-result page and its e-account offer: shown to card payers and recorded once per
order; taken, it opens a class II e-account bound to the payer's card and records where the
offer converted; refused, it creates nothing."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.payments import service as payments
from openbank.payments.checkout import service
from openbank.payments.checkout.schemas import AccountForm, AccountOpenedPage, ResultPage, View
from openbank.payments.schemas import CaptureCreate, PaymentOrder, RefundCreate
from tests.payments.checkout.support import (
    PHONE,
    account_form,
    attempts,
    csrf_of,
    known_person,
    offer_of,
    open_checkout,
    open_order,
    open_result,
    paid_with_offer,
    pay_by_card,
    person,
    post_account,
    post_payment,
    shop,
)
from tests.payments.support import merchant, pay_from, payer

OFFER_FORM = 'action="/checkout/{}/open-account"'


def test_the_result_page_shows_the_payment(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now, legal_name="成都锦里小吃店")
    order = open_order(db, settings, now, merchant.id, 4250)
    pay_by_card(web, order.id)
    html = open_result(web, order.id).text
    assert "支付成功" in html
    assert "Payment successful" in html
    assert "¥42.50" in html
    assert "成都锦里小吃店" in html
    assert now.astimezone(settings.tz).strftime("%Y-%m-%d") in html


def test_a_card_payer_is_offered_an_e_account_and_the_offer_is_recorded_once(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    partner_id = uuid.uuid4()
    order = open_order(db, settings, now, merchant.id, 100, partner_id=partner_id)
    pay_by_card(web, order.id, "qr")
    first = open_result(web, order.id, "qr")
    assert "开立 openbank 电子账户" in first.text
    assert "Open an openbank e-account" in first.text
    assert OFFER_FORM.format(order.id) in first.text
    shown = offer_of(db, order.id)
    assert shown is not None
    checkout_clock.advance(timedelta(seconds=5))
    open_result(web, order.id)  # again, by link this time
    again = offer_of(db, order.id)
    assert again == shown  # one row: the first view's time and channel stay
    assert (shown.channel, shown.merchant_id, shown.partner_id) == ("qr", merchant.id, partner_id)
    assert shown.converted_at is None


def test_an_offer_opened_by_link_is_recorded_for_the_checkout_channel(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    paid_with_offer(web, order.id)
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.channel == "checkout"


def test_an_e_account_payer_is_not_offered_an_account(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 300)
    pay_from(db, settings, now, order.id, payer(db, settings, now, 300).id)
    html = open_result(web, order.id).text
    assert "支付成功" in html
    assert OFFER_FORM.format(order.id) not in html
    assert offer_of(db, order.id) is None


def test_the_result_of_an_unpaid_order_sends_the_payer_to_its_checkout_page(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    response = web.get(f"/checkout/{order.id}/result", params={"via": "qr"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/checkout/{order.id}?via=qr"
    assert offer_of(db, order.id) is None


def test_taking_the_offer_opens_a_class_ii_e_account_bound_to_the_card_and_records_it(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    csrf, card = paid_with_offer(web, order.id, "qr")
    form = account_form(card_number=card)
    response = post_account(web, order.id, csrf, form, "qr")
    assert response.status_code == 200, response.text
    assert "开户成功" in response.text
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.converted_at is not None
    assert offer.customer_id is not None
    e_account_id = offer.e_account_id
    assert e_account_id is not None
    e_account = unit_of_work(db, lambda s: customers.get_e_account(s, e_account_id))
    assert e_account.customer_id == offer.customer_id
    assert e_account.account_class == "II"
    assert (
        e_account.bound_card.masked_number
        == form["card_number"][:6]
        + "*" * (len(form["card_number"]) - 10)
        + form["card_number"][-4:]
    )
    assert e_account.bound_card.bank_name == "中国建设银行"
    opened = person(db, form["id_number"])
    assert opened is not None
    assert opened.id == offer.customer_id
    assert (opened.name, opened.phone, opened.kyc_level, opened.sandbox) == (
        "赵六", "+86" + PHONE, 2, True,
    )  # fmt: skip


def test_the_new_account_is_shown_masked(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    csrf, card = paid_with_offer(web, order.id)
    form = account_form(card_number=card)
    html = post_account(web, order.id, csrf, form).text
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.e_account_id is not None
    assert service.mask_reference(offer.e_account_id) in html
    assert offer.e_account_id.hex not in html
    assert str(offer.e_account_id) not in html
    assert form["card_number"][-4:] in html
    assert form["card_number"] not in html
    assert form["id_number"] not in html
    assert "+86 138****8000" in html
    assert re.search(r"II 类", html)


def test_an_offer_converts_only_once(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    csrf, card = paid_with_offer(web, order.id)
    assert post_account(web, order.id, csrf, account_form(card_number=card)).status_code == 200
    converted = offer_of(db, order.id)
    second = account_form(card_number=card)
    response = post_account(web, order.id, csrf, second)
    assert response.status_code == 409
    assert "不能重复开户" in response.text
    assert person(db, second["id_number"]) is None
    assert offer_of(db, order.id) == converted
    # The result page now says the offer was taken, with no form.
    html = open_result(web, order.id).text
    assert OFFER_FORM.format(order.id) not in html
    assert "已通过本次支付开立" in html


def test_an_identity_the_bank_knows_is_refused_with_409_to_the_paying_card_and_changes_nothing(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    known, existing = known_person(db, settings, now)
    csrf, card = paid_with_offer(web, order.id)
    form = account_form(id_number=known, card_number=card)
    response = post_account(web, order.id, csrf, form)
    assert response.status_code == 409
    assert "您已是 openbank 客户" in response.text
    assert "You are already an openbank customer" in response.text
    assert OFFER_FORM.format(order.id) in response.text  # the offer still stands
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.converted_at is None
    assert unit_of_work(db, lambda s: customers.e_accounts_of_customer(s, existing.id)) == []


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("id_number", "110105199001011234", "身份证号码无效"),
        ("phone", "12345", "手机号码无效"),
        ("card_number", "6222020200112345670", "银行卡号无效"),
        ("name", "   ", "请完整填写表单"),
        ("bank_name", "", "请完整填写表单"),
    ],
)
def test_bad_details_are_refused_on_the_page_and_create_nothing(
    web: TestClient,
    db: Database,
    settings: Settings,
    checkout_clock: ShiftedClock,
    field: str,
    value: str,
    words: str,
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    csrf, card = paid_with_offer(web, order.id)
    form = account_form(**{"card_number": card, field: value})
    response = post_account(web, order.id, csrf, form)
    assert response.status_code == 422
    assert words in response.text
    assert OFFER_FORM.format(order.id) in response.text
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.converted_at is None
    assert offer.attempts == 0  # malformed details tell nothing, so they cost no attempt
    if field != "id_number":
        assert person(db, form["id_number"]) is None
        assert f'value="{form["id_number"]}"' in response.text  # kept for the retry


def test_an_order_whose_offer_was_never_shown_cannot_convert(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    assert post_payment(web, order.id, csrf).status_code == 303  # the result page never opened
    form = account_form()
    response = post_account(web, order.id, csrf, form)
    assert response.status_code == 404
    assert "没有开户邀请" in response.text
    assert person(db, form["id_number"]) is None
    assert offer_of(db, order.id) is None


def test_an_e_account_payers_order_cannot_convert(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now)
    order = open_order(db, settings, now, merchant.id, 100)
    csrf = csrf_of(open_checkout(web, order.id).text)
    pay_from(db, settings, now, order.id, payer(db, settings, now, 100).id)
    open_result(web, order.id)
    form = account_form()
    assert post_account(web, order.id, csrf, form).status_code == 404
    assert person(db, form["id_number"]) is None


def test_opening_an_account_without_the_forms_token_is_refused_with_403(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    card = paid_with_offer(web, order.id).card
    form = account_form(card_number=card)
    response = post_account(web, order.id, "", form)
    assert response.status_code == 403
    assert person(db, form["id_number"]) is None
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.converted_at is None


def test_a_production_merchants_payer_becomes_a_production_customer(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, merchant(db, settings, now).id, 100)
    csrf, card = paid_with_offer(web, order.id)
    form = account_form(card_number=card)
    assert post_account(web, order.id, csrf, form).status_code == 200
    found = unit_of_work(
        db, lambda s: customers.find_person_by_resident_id(s, form["id_number"], False)
    )
    assert found is not None
    assert found.sandbox is False
    assert person(db, form["id_number"]) is None  # no sandbox twin


def test_two_submissions_at_once_open_one_account(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    card = paid_with_offer(web, order.id).card
    forms = [account_form(card_number=card), account_form(card_number=card)]
    start = threading.Barrier(len(forms))

    def submit(form: dict[str, str]) -> View:
        start.wait()
        return unit_of_work(
            db,
            lambda s: service.open_account(
                s, str(order.id), AccountForm(**form), None, "token", now, settings
            ),
        )

    with ThreadPoolExecutor(len(forms)) as pool:
        views = list(pool.map(submit, forms))
    opened = [v for v in views if isinstance(v, AccountOpenedPage)]
    refused = [v for v in views if isinstance(v, ResultPage)]
    assert len(opened) == 1
    assert [v.status for v in refused] == [409]
    created = [f for f in forms if person(db, f["id_number"]) is not None]
    assert len(created) == 1
    offer = offer_of(db, order.id)
    assert offer is not None
    winner = person(db, created[0]["id_number"])
    assert winner is not None
    assert offer.customer_id == winner.id


# -- what the result page says came of the payment ------------------------------------------


def _manual_order_paid_by_card(
    web: TestClient, db: Database, settings: Settings, now: datetime, amount: int
) -> PaymentOrder:
    order = open_order(db, settings, now, shop(db, settings, now).id, amount, capture_mode="manual")
    pay_by_card(web, order.id)
    return order


def test_an_authorized_payment_shows_the_amount_held_and_not_yet_taken(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = _manual_order_paid_by_card(web, db, settings, now, 5000)
    html = open_result(web, order.id).text
    assert "付款已授权" in html
    assert "支付成功" not in html
    assert "¥50.00" in html


def test_a_partly_captured_payment_shows_the_captured_amount(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = _manual_order_paid_by_card(web, db, settings, now, 5000)
    unit_of_work(
        db, lambda s: payments.capture(s, order.id, CaptureCreate(amount=3000), now, settings)
    )
    html = open_result(web, order.id).text
    assert "支付成功" in html
    assert "¥30.00" in html
    assert "¥50.00" not in html  # the authorized amount: the rest was released


def _refund(db: Database, settings: Settings, now: datetime, order_id: uuid.UUID, fen: int) -> None:
    spec = RefundCreate(out_refund_no=f"R{uuid.uuid4().hex[:12]}", amount=fen)
    unit_of_work(db, lambda s: payments.refund(s, order_id, spec, now, settings))


def test_a_refunded_payment_says_refunded_not_successful(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 4000)
    pay_by_card(web, order.id)
    _refund(db, settings, now, order.id, 4000)
    html = open_result(web, order.id).text
    assert "已退款" in html
    assert "Refunded" in html
    assert "支付成功" not in html
    assert "Payment successful" not in html
    assert re.search(r'id="refunded">¥40\.00<', html)


def test_a_partly_refunded_payment_says_so_with_the_amount_refunded(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 4000)
    pay_by_card(web, order.id)
    _refund(db, settings, now, order.id, 1000)
    html = open_result(web, order.id).text
    assert "已部分退款" in html
    assert "支付成功" not in html
    assert re.search(r'id="amount">¥40\.00<', html)
    assert re.search(r'id="refunded">¥10\.00<', html)


# -- form fields: no control characters ------------------------------------------------------


def _with(text: str, char: str) -> str:
    """`text` with `char` in its middle."""
    middle = len(text) // 2
    return text[:middle] + char + text[middle:]


@pytest.mark.parametrize(
    ("field", "char"),
    [("name", "\x00"), ("bank_name", "\x00"), ("name", "\x7f"), ("bank_name", "\x1b"),
     ("phone", "\x00"), ("id_number", "\x00"), ("card_number", "\x1f")],
)  # fmt: skip
def test_control_characters_in_the_account_form_are_refused_on_the_page(
    web: TestClient,
    db: Database,
    settings: Settings,
    checkout_clock: ShiftedClock,
    field: str,
    char: str,
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 100)
    csrf, card = paid_with_offer(web, order.id)
    clean = account_form(card_number=card)
    response = post_account(web, order.id, csrf, {**clean, field: _with(clean[field], char)})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "控制字符" in response.text
    assert char not in response.text  # never echoed back
    assert OFFER_FORM.format(order.id) in response.text
    assert person(db, clean["id_number"]) is None
    assert attempts(db, order.id) == 0
