"""A real browser (headless Debian Chromium, driven by Playwright) against a real uvicorn
server: open the checkout page a QR code leads to, pay by card, land on the result page, take
the e-account offer with the card that paid and see the new account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import sync_playwright

from openbank.api import create_app
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.browser import CHROMIUM, CHROMIUM_ARGS, requires_chromium, served
from tests.customers.helpers import card_number, resident_id
from tests.payments.checkout.support import (
    PHONE,
    clearing_posted,
    offer_of,
    open_order,
    order_now,
    person,
    shop,
)

pytestmark = requires_chromium


@pytest.fixture
def server(db: Database, settings: Settings, checkout_clock: ShiftedClock) -> Iterator[str]:
    with served(create_app(settings, checkout_clock)) as url:
        yield url


def test_a_payer_pays_by_card_and_opens_an_e_account_in_a_real_browser(
    server: str, db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> None:
    now = checkout_clock.now()
    merchant = shop(db, settings, now, legal_name="北京胡同咖啡有限公司")
    order = open_order(db, settings, now, merchant.id, 3800, description="手冲咖啡")
    before = clearing_posted(db, merchant.id)
    id_number, card = resident_id(), card_number()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(java_script_enabled=False)  # the pages need none
            page.goto(f"{server}/checkout/{order.id}?via=qr")
            assert page.inner_text("#merchant") == "北京胡同咖啡有限公司"
            assert "¥38.00" in page.inner_text("#amount")
            assert page.locator("svg.qr").count() == 1

            page.fill("#card_number", card)
            page.fill("#holder_name", "钱七")
            with page.expect_navigation(url=f"{server}/checkout/{order.id}/result?via=qr"):
                page.click("button[type=submit]")
            assert "支付成功" in page.content()
            assert page.locator("#offer").count() == 1

            page.fill("#name", "钱七")
            page.fill("#id_number", id_number)
            page.fill("#phone", PHONE)
            page.fill("#card_number", card)  # only the card that paid may be bound
            page.fill("#bank_name", "招商银行")
            page.click("button[type=submit]")
            page.wait_for_selector("#opened")
            shown_account = page.inner_text("#e-account")
            shown_card = page.inner_text("#bound-card")
            assert "开户成功" in page.content()
        finally:
            browser.close()

    assert order_now(db, settings, order.id).status == "captured"
    assert clearing_posted(db, merchant.id) == before + 3800
    offer = offer_of(db, order.id)
    assert offer is not None
    assert offer.channel == "qr"
    assert offer.e_account_id is not None
    assert shown_account == f"{offer.e_account_id.hex[:4]}****{offer.e_account_id.hex[-4:]}"
    assert shown_card.startswith(card[:6])
    assert card[-4:] in shown_card
    opened = person(db, id_number)
    assert opened is not None
    assert opened.id == offer.customer_id
