"""Test data for the checkout pages: sandbox merchants and their orders (through the payments
service), a browser's steps through the pages, and readings of what they left behind."""

from __future__ import annotations

import itertools
import random
import re
import uuid
from datetime import datetime
from typing import Any, NamedTuple

from fastapi.testclient import TestClient
from httpx import Response

from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import Customer, CustomerCreate
from openbank.payments import service as payments
from openbank.payments.checkout import offers
from openbank.payments.checkout.schemas import Offer
from openbank.payments.schemas import Merchant, OrderCreate, PaymentOrder
from tests.customers.helpers import card_number, resident_id
from tests.payments.support import clearing, merchant

_serial = itertools.count(random.randrange(10**6))

PHONE = "13800138000"


def shop(db: Database, settings: Settings, now: datetime, **fields: Any) -> Merchant:
    """A sandbox merchant (its payers' new accounts are sandbox accounts too)."""
    return merchant(db, settings, now, sandbox=True, **fields)


def open_order(
    db: Database,
    settings: Settings,
    now: datetime,
    merchant_id: uuid.UUID,
    amount: int,
    *,
    partner_id: uuid.UUID | None = None,
    **fields: Any,
) -> PaymentOrder:
    spec = OrderCreate.model_validate(
        {
            "out_trade_no": f"CO{next(_serial)}",
            "amount": amount,
            "currency": "CNY",
            "description": "2 × 拿铁",
            **fields,
        }
    )
    made, _created = unit_of_work(
        db,
        lambda s: payments.create_order(s, merchant_id, spec, now, settings, partner_id=partner_id),
    )
    return made


def order_now(db: Database, settings: Settings, order_id: uuid.UUID) -> PaymentOrder:
    return unit_of_work(db, lambda s: payments.get_order(s, order_id, settings))


def offer_of(db: Database, order_id: uuid.UUID) -> Offer | None:
    return unit_of_work(db, lambda s: offers.get_offer(s, order_id))


def clearing_posted(db: Database, merchant_id: uuid.UUID) -> int:
    """What the merchant's clearing accounts hold, posted, over all shards."""
    posted, _pending = clearing(db, merchant_id)
    return posted


def known_person(db: Database, settings: Settings, now: datetime) -> tuple[str, Customer]:
    """A sandbox person the bank already knows, with no e-account: (resident ID, customer)."""
    id_number = resident_id()
    spec = CustomerCreate(
        type="person", name="赵六", id_number=id_number, phone=PHONE, sandbox=True
    )
    made = unit_of_work(db, lambda s: customers.create_customer(s, spec, now, settings))
    return id_number, made


def person(db: Database, id_number: str) -> Customer | None:
    """The sandbox person holding this resident ID, if the bank knows one."""
    return unit_of_work(db, lambda s: customers.find_person_by_resident_id(s, id_number, True))


# -- a browser's steps ----------------------------------------------------------------------


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def via(channel: str | None) -> dict[str, str]:
    return {"via": channel} if channel else {}


def open_checkout(web: TestClient, order_id: uuid.UUID, channel: str | None = None) -> Response:
    response: Response = web.get(f"/checkout/{order_id}", params=via(channel))
    assert response.status_code == 200, response.text
    return response


def post_payment(
    web: TestClient,
    order_id: uuid.UUID,
    csrf: str,
    number: str | None = None,
    holder_name: str = "王五",
    channel: str | None = None,
) -> Response:
    form = {
        "csrf": csrf,
        "card_number": number or card_number(),
        "holder_name": holder_name,
        "via": channel or "",
    }
    response: Response = web.post(f"/checkout/{order_id}/pay", data=form)
    return response


def pay_by_card(
    web: TestClient, order_id: uuid.UUID, channel: str | None = None, number: str | None = None
) -> Response:
    """Open the checkout page and pay it with a valid card (`number`, or a new one): the 303
    to the result page."""
    page = open_checkout(web, order_id, channel)
    response = post_payment(web, order_id, csrf_of(page.text), number, channel=channel)
    assert response.status_code == 303, response.text
    return response


def open_result(web: TestClient, order_id: uuid.UUID, channel: str | None = None) -> Response:
    response: Response = web.get(f"/checkout/{order_id}/result", params=via(channel))
    assert response.status_code == 200, response.text
    return response


def account_form(**fields: str) -> dict[str, str]:
    """The account-opening form filled with a new, valid identity (and a new card: pass the
    card that paid as `card_number` to take the offer)."""
    return {
        "name": "赵六",
        "id_number": resident_id(),
        "phone": PHONE,
        "card_number": card_number(),
        "bank_name": "中国建设银行",
        **fields,
    }


def post_account(
    web: TestClient, order_id: uuid.UUID, csrf: str, form: dict[str, str], channel: str = ""
) -> Response:
    response: Response = web.post(
        f"/checkout/{order_id}/open-account", data={"csrf": csrf, "via": channel, **form}
    )
    return response


class Offered(NamedTuple):
    """A result page with the offer on it: its form's CSRF token, and the card that paid."""

    csrf: str
    card: str


def paid_with_offer(web: TestClient, order_id: uuid.UUID, channel: str | None = None) -> Offered:
    """Pay by card and open the result page."""
    card = card_number()
    pay_by_card(web, order_id, channel, card)
    page = open_result(web, order_id, channel)
    return Offered(csrf_of(page.text), card)


def attempts(db: Database, order_id: uuid.UUID) -> int:
    """The refused attempts counted on the order's offer."""
    offer = offer_of(db, order_id)
    assert offer is not None
    return offer.attempts
