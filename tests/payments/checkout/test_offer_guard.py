"""The offer is no identity oracle: only the card that paid the order may be bound, whether the
bank knows an identity is told only to that card's holder, and every refused attempt counts on
the offer, which closes for good after a few."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.payments import service as payments
from openbank.payments.checkout import service
from openbank.payments.checkout.offers import MAX_ATTEMPTS
from openbank.payments.checkout.schemas import AccountForm, ResultPage, View
from tests.customers.helpers import card_number, resident_id
from tests.payments.checkout.support import (
    account_form,
    attempts,
    known_person,
    offer_of,
    open_order,
    open_result,
    paid_with_offer,
    person,
    post_account,
    shop,
)

OFFER_FORM = 'action="/checkout/{}/open-account"'
NOT_THE_CARD = "请绑定本次付款所用的银行卡"
KNOWN = "您已是 openbank 客户"
CLOSED = "开户邀请已失效"


def test_a_card_other_than_the_one_that_paid_is_refused_and_counted(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1)
    csrf, _card = paid_with_offer(web, order.id)
    form = account_form(card_number=card_number())  # Luhn-valid, but not the paying card
    response = post_account(web, order.id, csrf, form)
    assert response.status_code == 422
    assert NOT_THE_CARD in response.text
    assert OFFER_FORM.format(order.id) in response.text  # the payer may correct it
    assert person(db, form["id_number"]) is None
    assert attempts(db, order.id) == 1


def test_a_known_identity_with_another_card_is_not_told_it_is_a_customer(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1)
    known, existing = known_person(db, settings, now)
    csrf, _card = paid_with_offer(web, order.id)
    other_card = card_number()
    answers = [
        post_account(web, order.id, csrf, account_form(id_number=id_number, card_number=other_card))
        for id_number in (known, resident_id())
    ]
    # A known identity and an unknown one get the same answer.
    assert [a.status_code for a in answers] == [422, 422]
    assert all(NOT_THE_CARD in a.text and KNOWN not in a.text for a in answers)
    assert unit_of_work(db, lambda s: customers.e_accounts_of_customer(s, existing.id)) == []


def test_being_told_you_are_a_customer_counts_as_a_refused_attempt(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1)
    known, _person = known_person(db, settings, now)
    csrf, card = paid_with_offer(web, order.id)
    response = post_account(web, order.id, csrf, account_form(id_number=known, card_number=card))
    assert response.status_code == 409
    assert KNOWN in response.text
    assert attempts(db, order.id) == 1


def test_the_offer_closes_for_good_after_three_refused_attempts(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1)
    csrf, card = paid_with_offer(web, order.id)
    statuses = [
        post_account(web, order.id, csrf, account_form(card_number=card_number())).status_code
        for _ in range(MAX_ATTEMPTS)
    ]
    assert statuses == [422] * MAX_ATTEMPTS
    assert MAX_ATTEMPTS == 3
    # Even the holder of the paying card, with an identity the bank does not know, is refused.
    form = account_form(card_number=card)
    response = post_account(web, order.id, csrf, form)
    assert response.status_code == 409
    assert CLOSED in response.text
    assert OFFER_FORM.format(order.id) not in response.text
    assert person(db, form["id_number"]) is None
    offer = offer_of(db, order.id)
    assert offer is not None
    assert (offer.attempts, offer.converted_at) == (MAX_ATTEMPTS, None)
    html = open_result(web, order.id).text
    assert CLOSED in html
    assert OFFER_FORM.format(order.id) not in html


def test_identity_numbers_cannot_be_tried_more_than_three_times_with_the_paying_card(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1)
    csrf, card = paid_with_offer(web, order.id)
    known = [known_person(db, settings, now)[0] for _ in range(MAX_ATTEMPTS + 1)]
    answers = [
        post_account(web, order.id, csrf, account_form(id_number=k, card_number=card))
        for k in known
    ]
    assert [KNOWN in a.text for a in answers] == [True] * MAX_ATTEMPTS + [False]
    assert CLOSED in answers[-1].text
    assert answers[-1].status_code == 409


def test_refusals_racing_each_other_are_all_counted(
    web: TestClient, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1)
    paid_with_offer(web, order.id)
    forms = [account_form(card_number=card_number()) for _ in range(2 * MAX_ATTEMPTS)]
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
    assert all(isinstance(v, ResultPage) for v in views)
    statuses = sorted(v.status for v in views if isinstance(v, ResultPage))
    assert statuses == [409] * MAX_ATTEMPTS + [422] * MAX_ATTEMPTS
    assert attempts(db, order.id) == MAX_ATTEMPTS


@pytest.mark.parametrize("with_the_paying_card", [True, False])
def test_a_voided_payment_sends_the_form_back_to_the_checkout_page_and_opens_nothing(
    web: TestClient,
    db: Database,
    settings: Settings,
    checkout_clock: ShiftedClock,
    with_the_paying_card: bool,
) -> None:
    now = checkout_clock.now()
    order = open_order(db, settings, now, shop(db, settings, now).id, 1, capture_mode="manual")
    csrf, card = paid_with_offer(web, order.id)
    unit_of_work(db, lambda s: payments.void(s, order.id, now, settings))
    form = account_form(card_number=card if with_the_paying_card else card_number())
    response = post_account(web, order.id, csrf, form)
    assert response.status_code == 303
    assert response.headers["location"] == f"/checkout/{order.id}"
    assert person(db, form["id_number"]) is None
    assert attempts(db, order.id) == 0
