"""The world of the cross-cutting object-level authorization matrix
(tests/platform/test_object_level_authorization.py): a victim customer of partner A's app with
e-accounts (two opened at the bank, one through the signed gateway), an authorised
account-access consent, a payment consent, a webhook endpoint with deliveries, a merchant
that came through partner A with orders the victim paid (unpaid, authorized, captured); and two
attackers: partner B's app acting for its own customer, and A's same app acting for another
of A's customers. Also the enumeration of the partner-facing routes and a snapshot of
everything of the victim's an attacker must not be able to change."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbank.core.models import OutboxEvent
from openbank.customers import models as customer_models
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.platform.consents import service as consents
from openbank.platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.customers.helpers import card_number, resident_id
from tests.platform.acquiring.support import (
    merchant_state,
    paid_order,
    partner_merchant,
    unpaid_order,
)
from tests.platform.consents.api_support import (
    Partner,
    account_token,
    payment_body,
    payment_token,
)
from tests.platform.consents.support import Bank, Holder
from tests.platform.signed.support import SignedApp, new_phone, open_account, signed_app
from tests.platform.tokens import Token, server_clock

VICTIM_BALANCE = 777_777  # fen, in each of the victim's bank-opened e-accounts: easy to spot
GATEWAY_BALANCE = 654_321  # fen, in the victim's e-account opened through the gateway
ATTACKER_BALANCE = 4_321
PARTNER_SCOPES = "accounts e_accounts payments"
# Tokens live 300 s (oauth_access_token_seconds); other tests may move the shared clock on.
WORLD_MAX_AGE = timedelta(seconds=150)
PARTNER_PREFIX = "/v1/open/"
GATEWAY = ("POST", "/v1/gateway")


# -- routes ---------------------------------------------------------------------------------


def _api_routes(routes: list[Any]) -> Iterator[tuple[str, frozenset[str]]]:
    """(path, methods) of every APIRoute, including those of included routers (FastAPI keeps
    them inside `_IncludedRouter` objects whose `effective_route_contexts()` resolves the
    prefixes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, frozenset(route.methods or ())
        effective = getattr(route, "effective_route_contexts", None)
        if effective is not None:
            for context in effective():
                if isinstance(context.original_route, APIRoute):
                    yield context.path, frozenset(context.methods)


def partner_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path) of every partner-facing operation: /v1/open/... and POST /v1/gateway,
    from the router and from the OpenAPI document (either alone could miss one)."""
    found: set[tuple[str, str]] = set()
    for path, methods in _api_routes(list(app.routes)):
        found.update((method, path) for method in methods - {"HEAD", "OPTIONS"})
    for path, operations in app.openapi()["paths"].items():
        found.update((method.upper(), path) for method in operations)
    return {
        (method, path)
        for method, path in found
        if path.startswith(PARTNER_PREFIX) or (method, path) == GATEWAY
    }


# -- people ---------------------------------------------------------------------------------


@dataclass
class Person:
    """A customer (KYC 3) as a partner knows them, and their e-accounts."""

    name: str
    phone: str  # 11 digits, the way a partner app sends it
    id_number: str
    customer_id: uuid.UUID
    e_account_ids: list[uuid.UUID]
    gateway_consent: uuid.UUID | None = None  # the consent the gateway opening granted
    gateway_e_account: uuid.UUID | None = None

    @property
    def holder(self) -> Holder:
        return Holder(self.customer_id, list(self.e_account_ids))


def person(bank: Bank, name: str, accounts: int, funded: int) -> Person:
    """A customer with `accounts` e-accounts opened at the bank, each holding `funded` fen."""
    phone = new_phone()
    id_number = resident_id()

    def work(session: Session) -> Person:
        customer = customers.create_customer(
            session,
            CustomerCreate(
                type="person",
                name=name,
                id_number=id_number,
                phone=phone,
                kyc_level=3,
                sandbox=True,
            ),
            bank.now(),
            bank.settings,
        )
        ids = []
        for _ in range(accounts):
            opened = customers.open_e_account(
                session,
                EAccountCreate(
                    customer_id=customer.id,
                    account_class="II",
                    bound_card=BoundCardCreate(number=card_number(), bank_name="中国银行"),
                ),
                bank.now(),
            )
            if funded:
                customers.top_up(session, opened.id, funded, bank.now(), bank.settings)
            ids.append(opened.id)
        return Person(name, phone, id_number, customer.id, ids)

    return bank.run(work)


def open_through_gateway(bank: Bank, sapp: SignedApp, someone: Person, funded: int) -> None:
    """An e-account for `someone` (the same customer: same name, ID and phone) opened through
    the signed gateway by `sapp`, which gets a consent for it; then `funded` fen put in."""
    opened = open_account(
        bank.client, sapp, name=someone.name, id_number=someone.id_number, phone=someone.phone
    )
    assert opened.customer_id == str(someone.customer_id), "the gateway made a second customer"
    e_account = uuid.UUID(opened.e_account_id)
    if funded:
        bank.run(lambda s: customers.top_up(s, e_account, funded, bank.now(), bank.settings))
    someone.e_account_ids.append(e_account)
    someone.gateway_e_account = e_account
    someone.gateway_consent = uuid.UUID(opened.consent_id)


# -- actors ---------------------------------------------------------------------------------


@dataclass
class Actor:
    """An app acting for one customer: its partner-level (client_credentials) token, the
    customer's tokens under their own consents, and its signed-gateway credentials (whose
    calls act for the customer of the consent named in biz_content)."""

    label: str
    sapp: SignedApp
    partner: Partner
    person: Person
    app_token: Token
    accounts: Token  # customer token, scope "accounts e_accounts", own account-access consent
    payments: Token  # customer token, scope "payments", own payment consent
    access_consent: uuid.UUID
    payment_consent: uuid.UUID
    payment_request: dict[str, Any]

    def token(self, kind: str) -> Token:
        tokens = {"app": self.app_token, "accounts": self.accounts, "payments": self.payments}
        return tokens[kind]

    @property
    def gateway_consent(self) -> uuid.UUID:
        assert self.person.gateway_consent is not None
        return self.person.gateway_consent


def actor(bank: Bank, label: str, sapp: SignedApp, someone: Person, payee: uuid.UUID) -> Actor:
    """`sapp` acting for `someone`: an authorised account-access consent over all their
    e-accounts and a payment consent from their first one to `payee`, each with a token."""
    partner = Partner(bank.client, sapp.app)
    access, accounts = account_token(bank, sapp.app, someone.holder)
    payment, payments = payment_token(bank, sapp.app, someone.holder, payee)
    return Actor(
        label=label,
        sapp=sapp,
        partner=partner,
        person=someone,
        app_token=partner.token(PARTNER_SCOPES),
        accounts=accounts,
        payments=payments,
        access_consent=access.id,
        payment_consent=payment.id,
        payment_request=payment_body(payment),
    )


# -- acquiring ------------------------------------------------------------------------------


@dataclass
class Shop:
    """Partner A's merchant (sandbox, it came through app A) and three of its orders, two of
    them paid from the victim's second e-account: an unpaid one (to close), an authorized
    one (to capture or void) and a captured one (to read and refund)."""

    merchant_id: uuid.UUID
    credit_code: str
    settlement_e_account_id: uuid.UUID
    unpaid: uuid.UUID
    authorized: uuid.UUID
    captured: uuid.UUID
    out_trade_nos: list[str]

    def secrets(self) -> list[str]:
        """The merchant's and its orders' ids and numbers: partner A's business only."""
        return [
            str(self.merchant_id),
            self.credit_code,
            str(self.settlement_e_account_id),
            str(self.unpaid),
            str(self.authorized),
            str(self.captured),
            *self.out_trade_nos,
        ]


def open_shop(bank: Bank, sapp: SignedApp, payer: uuid.UUID) -> Shop:
    merchant = partner_merchant(bank, sapp.app)
    unpaid = unpaid_order(bank, merchant.id)
    authorized = paid_order(bank, merchant.id, payer, 2_000, manual=True)
    captured = paid_order(bank, merchant.id, payer, 3_000)
    return Shop(
        merchant_id=merchant.id,
        credit_code=merchant.unified_social_credit_code,
        settlement_e_account_id=merchant.settlement_e_account_id,
        unpaid=unpaid.id,
        authorized=authorized.id,
        captured=captured.id,
        out_trade_nos=[o.out_trade_no for o in (unpaid, authorized, captured)],
    )


# -- the world ------------------------------------------------------------------------------


@dataclass
class World:
    bank: Bank
    built_at: datetime
    victim: Actor
    attackers: dict[str, Actor]
    payee: Person
    endpoint_id: str
    endpoint_url: str
    delivery_ids: list[str]
    shop: Shop
    before: dict[str, Any] = field(default_factory=dict)

    @property
    def app_id(self) -> uuid.UUID:
        return uuid.UUID(self.victim.sapp.app_id)

    def stale(self) -> bool:
        return server_clock(self.bank.client).now() - self.built_at > WORLD_MAX_AGE

    def customer_secrets(self) -> list[str]:
        """What identifies the victim customer or their money: no attacker may see any."""
        victim = self.victim.person
        accounts = self.bank.run(
            lambda s: [customers.get_e_account(s, i) for i in victim.e_account_ids]
        )
        return [
            str(victim.customer_id),
            victim.name,
            victim.phone,
            victim.id_number,
            victim.id_number[:6] + "*" * 8 + victim.id_number[-4:],
            str(self.victim.access_consent),
            str(self.victim.payment_consent),
            str(self.victim.gateway_consent),
            str(VICTIM_BALANCE),
            str(GATEWAY_BALANCE),
            *(str(a.id) for a in accounts),
            *(a.id.hex for a in accounts),
            *(f"类电子账户 ··· {a.id.hex[-4:]}" for a in accounts),
            *(a.bound_card.masked_number for a in accounts),
        ]

    def app_secrets(self) -> list[str]:
        """What belongs to app A itself (its webhook endpoint and deliveries, its partner's
        merchant and orders): another partner may not see it; A's own tokens may."""
        return [self.endpoint_id, self.endpoint_url, *self.delivery_ids, *self.shop.secrets()]


def _undispatched(bank: Bank, app_id: uuid.UUID) -> int:
    return bank.run(
        lambda s: s.execute(
            select(func.count()).where(
                OutboxEvent.app_id == app_id, OutboxEvent.dispatched_at.is_(None)
            )
        ).scalar_one()
    )


def wait_for_fan_out(bank: Bank, app_id: uuid.UUID, timeout: float = 20.0) -> None:
    """Until the API process's webhook dispatcher has queued deliveries for all of the app's
    events (it polls every webhook_poll_seconds)."""
    deadline = time.monotonic() + timeout
    while _undispatched(bank, app_id):
        if time.monotonic() > deadline:
            raise AssertionError("the webhook dispatcher did not fan the app's events out")
        time.sleep(0.05)


def build_world(bank: Bank) -> World:
    client = bank.client
    built_at = server_clock(client).now()
    app_a = signed_app(client, products=("e_accounts", "payments"))
    app_b = signed_app(client, products=("e_accounts", "payments"))
    payee = person(bank, "端木收款", accounts=1, funded=0)

    # A's webhook endpoint first, so the events below are delivered to it.
    partner_a = Partner(client, app_a.app)
    endpoint_url = f"http://127.0.0.1:9/hooks/{uuid.uuid4().hex}"  # nothing listens there
    created = partner_a.post(
        partner_a.token(PARTNER_SCOPES),
        "/v1/open/webhook-endpoints",
        {"url": endpoint_url, "event_types": ["*"]},
    )
    assert created.status_code == 201, created.text

    victim = person(bank, "欧阳受害", accounts=2, funded=VICTIM_BALANCE)
    open_through_gateway(bank, app_a, victim, GATEWAY_BALANCE)
    neighbour = person(bank, "司马邻居", accounts=1, funded=ATTACKER_BALANCE)
    open_through_gateway(bank, app_a, neighbour, ATTACKER_BALANCE)
    intruder = person(bank, "上官外人", accounts=1, funded=ATTACKER_BALANCE)
    open_through_gateway(bank, app_b, intruder, ATTACKER_BALANCE)
    payee_account = payee.e_account_ids[0]
    # The victim pays partner A's merchant from their second e-account (the first keeps
    # VICTIM_BALANCE, which the leak check looks for).
    shop = open_shop(bank, app_a, victim.e_account_ids[1])

    world = World(
        bank=bank,
        built_at=built_at,
        victim=actor(bank, "victim", app_a, victim, payee_account),
        attackers={
            "other partner": actor(bank, "other partner", app_b, intruder, payee_account),
            "same app, other customer": actor(
                bank, "same app, other customer", app_a, neighbour, payee_account
            ),
        },
        payee=payee,
        endpoint_id=str(created.json()["id"]),
        endpoint_url=endpoint_url,
        delivery_ids=[],
        shop=shop,
    )
    wait_for_fan_out(bank, world.app_id)
    listed = partner_a.get(world.victim.app_token, "/v1/open/webhook-deliveries?limit=100")
    assert listed.status_code == 200, listed.text
    world.delivery_ids = [str(d["id"]) for d in listed.json()["data"]]
    assert world.delivery_ids, "no webhook delivery for the victim's app"
    world.before = snapshot(world)
    return world


def snapshot(world: World) -> dict[str, Any]:
    """Everything of the victim's an attacker must not change: balances and movements of
    the victim's e-accounts, the victim's consents and their statuses, app A's webhook
    endpoints, deliveries and events, partner A's merchant's orders, refunds, captures and
    flow counters."""
    victim = world.victim.person
    app_id = world.app_id
    wait_for_fan_out(world.bank, app_id)
    now = world.bank.now()

    def work(session: Session) -> dict[str, Any]:
        accounts = [customers.get_e_account(session, i) for i in victim.e_account_ids]
        movements = session.execute(
            select(func.count()).where(
                customer_models.EAccountMovement.e_account_id.in_(victim.e_account_ids)
            )
        ).scalar_one()
        return {
            "balances": [(a.balance, a.available, a.status) for a in accounts],
            "movements": movements,
            "consents": sorted(
                (str(c.id), c.status)
                for c in consents.list_for_customer(session, victim.customer_id, now)
            ),
            "endpoints": sorted(
                (str(e.id), e.status)
                for e in session.execute(
                    select(WebhookEndpoint).where(WebhookEndpoint.app_id == app_id)
                ).scalars()
            ),
            "deliveries": session.execute(
                select(func.count()).where(WebhookDelivery.app_id == app_id)
            ).scalar_one(),
            "events": session.execute(
                select(func.count()).where(OutboxEvent.app_id == app_id)
            ).scalar_one(),
        }

    return {**world.bank.run(work), "acquiring": merchant_state(world.bank, world.shop.merchant_id)}


@dataclass
class Worlds:
    """Builds the world once per module and again when its tokens would expire (other tests
    may move the shared clock on between this module's tests under xdist)."""

    bank: Bank
    current: World | None = None

    def get(self) -> World:
        if self.current is None or self.current.stale():
            self.current = build_world(self.bank)
        return self.current
