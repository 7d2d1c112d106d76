"""Partner-acquiring test data: a partner's app with its client_credentials token, merchants
that came through the partner (onboarded through payments.service), funded payers, paid
orders, the partner-facing routes, and a snapshot of everything a refused call must leave
as it was."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import dataclass
from typing import Any

from httpx import Response
from sqlalchemy import func, select

from openbank.core.models import OutboxEvent
from openbank.customers import service as customers
from openbank.payments import models as payment_models
from openbank.payments import service as payments
from openbank.payments.schemas import Merchant, PaymentCreate, PaymentOrder
from tests.payments.support import fee_plan, flow_totals, merchant_spec, order
from tests.platform.consents.api_support import Partner
from tests.platform.consents.support import Bank, Holder
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import Token

PREFIX = "/v1/open/acquiring"
_serial = itertools.count(random.randrange(10**6))


def out_trade_no() -> str:
    return f"P{next(_serial)}"


def order_body(amount: int = 1000, **fields: Any) -> dict[str, Any]:
    return {
        "out_trade_no": out_trade_no(),
        "amount": amount,
        "currency": "CNY",
        "description": "1 × 美式",
        **fields,
    }


@dataclass
class Acquirer:
    """A partner's app speaking to the acquiring API with its client_credentials token."""

    partner: Partner
    token: Token

    @property
    def app(self) -> PartnerApp:
        return self.partner.app

    @property
    def app_id(self) -> uuid.UUID:
        return uuid.UUID(self.app.app_id)

    @property
    def partner_id(self) -> uuid.UUID:
        return uuid.UUID(self.app.partner_id)

    def get(self, url: str) -> Response:
        return self.partner.get(self.token, url)

    def post(
        self, url: str, body: dict[str, Any] | None = None, key: str | None = "new"
    ) -> Response:
        return self.partner.post(self.token, url, body, key)


def acquirer(
    bank: Bank,
    partner_id: str | None = None,
    environment: str = "sandbox",
    products: tuple[str, ...] = ("payments",),
    scope: str = "payments",
) -> Acquirer:
    """An app (of a new partner unless one is named) with a client_credentials token."""
    app = create_app(bank.client, partner_id, products=products, environment=environment)
    partner = Partner(bank.client, app)
    return Acquirer(partner, partner.token(scope))


def partner_merchant(
    bank: Bank, app: PartnerApp | None, sandbox: bool = True, **fields: Any
) -> Merchant:
    """A merchant that came through `app`'s partner (none: a merchant of the bank's own)."""
    plan = fee_plan(bank.db, bank.now())
    if app is not None:
        fields = {"partner_id": app.partner_id, "app_id": app.app_id, **fields}
    spec = merchant_spec(plan, sandbox=sandbox, **fields)
    return bank.run(lambda s: payments.onboard_merchant(s, spec, bank.now(), bank.settings))


def payer(bank: Bank, funded: int = 100_000) -> uuid.UUID:
    """A sandbox person's e-account holding `funded` fen."""
    holder: Holder = bank.holder(accounts=1, funded=funded)
    return holder.e_account_ids[0]


def paid_order(
    bank: Bank, merchant_id: uuid.UUID, payer_account: uuid.UUID, amount: int, manual: bool = False
) -> PaymentOrder:
    """An order of the merchant (made the operator's way) paid from `payer_account`:
    captured at once, or only authorized when `manual`."""
    made = order(
        bank.db,
        bank.settings,
        bank.now(),
        merchant_id,
        amount,
        capture_mode="manual" if manual else "immediate",
    )
    spec = PaymentCreate(e_account_id=payer_account)
    return bank.run(lambda s: payments.pay(s, made.id, spec, bank.now(), bank.settings))


def unpaid_order(bank: Bank, merchant_id: uuid.UUID, amount: int = 1000) -> PaymentOrder:
    return order(bank.db, bank.settings, bank.now(), merchant_id, amount)


def balances(bank: Bank, e_account_id: uuid.UUID) -> tuple[int, int]:
    """(balance, available) of an e-account."""
    found = bank.run(lambda s: customers.get_e_account(s, e_account_id))
    return found.balance, found.available


def merchant_state(bank: Bank, merchant_id: uuid.UUID) -> dict[str, Any]:
    """Everything of a merchant's acquiring a refused call must not change: its orders and
    their amounts, refunds and captures, flow counters, and the webhook events of its
    orders."""
    o = payment_models.PaymentOrder
    orders = bank.run(
        lambda s: s.execute(
            select(
                o.id,
                o.status,
                o.authorized_amount,
                o.captured_amount,
                o.refunded_amount,
                o.app_id,
                o.updated_at,
            )
            .where(o.merchant_id == merchant_id)
            .order_by(o.id)
        ).all()
    )
    ids = [f"payment-orders/{row[0]}" for row in orders]
    return {
        "orders": [tuple(row) for row in orders],
        "refunds": bank.run(
            lambda s: s.execute(
                select(func.count()).where(payment_models.PaymentRefund.merchant_id == merchant_id)
            ).scalar_one()
        ),
        "captures": bank.run(
            lambda s: s.execute(
                select(func.count()).where(payment_models.PaymentCapture.merchant_id == merchant_id)
            ).scalar_one()
        ),
        "flow": flow_totals(bank.db, merchant_id),
        "events": bank.run(
            lambda s: s.execute(
                select(func.count()).where(OutboxEvent.subject.in_(ids))
            ).scalar_one()
        ),
    }
