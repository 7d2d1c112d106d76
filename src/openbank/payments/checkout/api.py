"""HTTP endpoints of the checkout: server-rendered pages for payers under /checkout/, and the
offer's conversion numbers for operators.

Each page handler checks the form's CSRF token, calls one service function in one unit of
work and renders the view it gets back; the pages answer errors as pages (4xx), never as
JSON."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Query
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    DatabaseDep,
    Operator,
    SettingsDep,
)
from openbank.core.settings import Settings
from openbank.payments.checkout import csrf, pages, service
from openbank.payments.checkout.errors import CsrfFailed
from openbank.payments.checkout.schemas import AccountForm, OfferSummary, View

router = APIRouter()

FormText = Annotated[str, Form()]
BrowserCookie = Annotated[str | None, Cookie(alias=csrf.COOKIE)]
Via = Annotated[
    str | None, Query(description="`qr` when the page was opened by scanning its QR code")
]
PAGES: list[str | Enum] = ["checkout pages"]
OFFERS: list[str | Enum] = ["checkout offers"]


def _canonical(order_id: str) -> str:
    try:
        return str(uuid.UUID(order_id))
    except ValueError:
        return order_id


def _page(
    db: Database,
    settings: Settings,
    cookie: str | None,
    order_id: str,
    step: Callable[[Session, str], View],
    *,
    posted: str | None = None,
) -> Response:
    """Run one page step in a unit of work and render it. `step` gets the CSRF token its
    forms carry; a POST (`posted`: the form's token) must carry the right one first."""
    key, new = csrf.browser_key(cookie)
    token = csrf.form_token(key, _canonical(order_id))
    view: View
    if posted is not None and (new or not csrf.verify(cookie, _canonical(order_id), posted)):
        view = service.error_page(CsrfFailed())
    else:
        try:
            view = unit_of_work(db, lambda s: step(s, token))
        except DomainError as exc:
            view = service.error_page(exc)
    response = pages.render(view, settings.tz)
    if new:
        response.set_cookie(
            csrf.COOKIE,
            key,
            path=csrf.COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=settings.public_url.startswith("https://"),
        )
    return response


@router.get("/checkout/{order_id}", response_class=HTMLResponse, tags=PAGES)
def checkout(
    order_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    via: Via = None,
    cookie: BrowserCookie = None,
) -> Response:
    """The checkout page a payer opens from a link or a QR code: the order, a QR code of the
    page, and a bank-card form (or why the order cannot be paid). Unknown orders: 404 page."""
    return _page(
        db,
        settings,
        cookie,
        order_id,
        lambda s, token: service.checkout_page(s, order_id, via, token, clock.now(), settings),
    )


@router.post("/checkout/{order_id}/pay", response_class=HTMLResponse, tags=PAGES)
def pay(
    order_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    cookie: BrowserCookie = None,
    csrf_token: Annotated[str, Form(alias="csrf")] = "",
    card_number: FormText = "",
    holder_name: FormText = "",
    via: FormText = "",
) -> Response:
    """Pay by bank card: 303 to the result page; a refusal shows the checkout page again
    with the reason and a 4xx status (nothing moved)."""
    return _page(
        db,
        settings,
        cookie,
        order_id,
        lambda s, token: service.pay_by_card(
            s, order_id, card_number, holder_name, via, token, clock.now(), settings
        ),
        posted=csrf_token,
    )


@router.get("/checkout/{order_id}/result", response_class=HTMLResponse, tags=PAGES)
def result(
    order_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    via: Via = None,
    cookie: BrowserCookie = None,
) -> Response:
    """The payment's outcome; a card payer is offered an openbank e-account (the offer is
    recorded as shown, once per order)."""
    return _page(
        db,
        settings,
        cookie,
        order_id,
        lambda s, token: service.result_page(s, order_id, via, token, clock.now(), settings),
    )


@router.post("/checkout/{order_id}/open-account", response_class=HTMLResponse, tags=PAGES)
def open_account(
    order_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    cookie: BrowserCookie = None,
    csrf_token: Annotated[str, Form(alias="csrf")] = "",
    name: FormText = "",
    id_number: FormText = "",
    phone: FormText = "",
    card_number: FormText = "",
    bank_name: FormText = "",
    via: FormText = "",
) -> Response:
    """Take the offer: a class II e-account bound to the card that paid, recorded as the
    offer's conversion. Another card: 422; with the paying card, an identity the bank knows:
    409; an offer taken, or closed after 3 refused attempts: 409; nothing made."""
    form = AccountForm(name, id_number, phone, card_number, bank_name)
    return _page(
        db,
        settings,
        cookie,
        order_id,
        lambda s, token: service.open_account(s, order_id, form, via, token, clock.now(), settings),
        posted=csrf_token,
    )


@router.get(
    "/v1/payments/checkout-offers/summary",
    response_model=OfferSummary,
    tags=OFFERS,
    responses=PROBLEM_RESPONSES,
)
def offer_summary(
    _: Operator,
    db: DatabaseDep,
    settings: SettingsDep,
    start: Annotated[date, Query(alias="from", description="First business day, YYYY-MM-DD")],
    end: Annotated[date, Query(alias="to", description="Last business day, inclusive")],
) -> OfferSummary:
    """How often the payment-result page's e-account offer was shown and taken, by channel
    (QR scan or checkout link), merchant and partner platform."""
    return unit_of_work(db, lambda s: service.offer_summary(s, start, end, settings))
