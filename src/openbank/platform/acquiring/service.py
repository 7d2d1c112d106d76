"""Acquiring for partner platforms: the payment orders of the merchants a partner brought,
through `payments.service`, with the object-level check in front of every call.

Who may reach what. A call is the partner's own (a client_credentials token: no customer,
no consent) with scope `payments`. It reaches a merchant only when the merchant came
through the caller's partner (`merchant.partner_id`, whichever of the partner's apps calls)
and belongs to the app's environment: a sandbox app reaches sandbox merchants only (the
merchant's customer is a sandbox customer), a production app production ones only. It
reaches an order only through the order's merchant. Anything else answers exactly as an
unknown id would (404 `merchant_not_found`, `payment_order_not_found`), before anything is
written, so a partner can neither change nor learn of another's merchants and orders.

Paying is not here: an in-app payment from a customer's e-account needs that customer's
payment consent (`/v1/open/payments`), and card payers pay on the bank's checkout page.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.payments import service as payments
from openbank.payments.errors import MerchantNotFound, OrderNotFound
from openbank.payments.schemas import (
    CaptureCreate,
    Merchant,
    OrderCreate,
    PaymentOrder,
    Refund,
    RefundCreate,
)
from openbank.platform.acquiring.errors import PartnerTokenRequired
from openbank.platform.oauth.errors import InsufficientScope
from openbank.platform.principal import PartnerCall

SCOPE = "payments"

__all__ = [
    "SCOPE",
    "capture",
    "close_order",
    "create_order",
    "find_order",
    "get_order",
    "refund",
    "void",
]


def _require_partner(call: PartnerCall) -> None:
    """The router's token check asks for the scope too; this keeps every path honest. A
    customer's token acts for that customer under a consent, never for the partner's
    merchants."""
    if SCOPE not in call.scopes:
        raise InsufficientScope(f"this operation needs the scope {SCOPE}", scope=SCOPE)
    if call.customer_id is not None or call.consent_id is not None:
        raise PartnerTokenRequired(
            "a token bound to a customer's consent cannot act for the partner's merchants"
        )


def _reaches(session: Session, call: PartnerCall, merchant: Merchant) -> bool:
    if merchant.partner_id is None or merchant.partner_id != call.partner_id:
        return False
    sandbox = customers.get_customer(session, merchant.customer_id).sandbox
    return sandbox == (call.environment == "sandbox")


def _merchant(session: Session, call: PartnerCall, merchant_id: uuid.UUID) -> Merchant:
    """The caller's merchant; another partner's (or environment's) is an unknown one."""
    _require_partner(call)
    try:
        merchant = payments.get_merchant(session, merchant_id)
    except MerchantNotFound:
        merchant = None
    if merchant is None or not _reaches(session, call, merchant):
        raise MerchantNotFound(f"no merchant {merchant_id}")
    return merchant


def _order(
    session: Session, call: PartnerCall, order_id: uuid.UUID, settings: Settings
) -> PaymentOrder:
    """An order of one of the caller's merchants; anyone else's is an unknown one."""
    _require_partner(call)
    try:
        order = payments.get_order(session, order_id, settings)
    except OrderNotFound:
        order = None
    if order is None or not _reaches(
        session, call, payments.get_merchant(session, order.merchant_id)
    ):
        raise OrderNotFound(f"no payment order {order_id}")
    return order


def create_order(
    session: Session,
    call: PartnerCall,
    merchant_id: uuid.UUID,
    spec: OrderCreate,
    now: datetime,
    settings: Settings,
) -> tuple[PaymentOrder, bool]:
    """A payment order for the caller's merchant, stamped with the calling app and its
    partner (revenue sharing, webhooks); once per `out_trade_no` (False: the first order,
    asked for again with the same request)."""
    _merchant(session, call, merchant_id)
    return payments.create_order(
        session, merchant_id, spec, now, settings, partner_id=call.partner_id, app_id=call.app_id
    )


def get_order(
    session: Session, call: PartnerCall, order_id: uuid.UUID, settings: Settings
) -> PaymentOrder:
    return _order(session, call, order_id, settings)


def find_order(
    session: Session,
    call: PartnerCall,
    merchant_id: uuid.UUID,
    out_trade_no: str,
    settings: Settings,
) -> PaymentOrder:
    """The caller's merchant's order by the merchant's own number."""
    _merchant(session, call, merchant_id)
    return payments.find_order(session, merchant_id, out_trade_no, settings)


def capture(
    session: Session,
    call: PartnerCall,
    order_id: uuid.UUID,
    spec: CaptureCreate,
    now: datetime,
    settings: Settings,
) -> PaymentOrder:
    """Capture an authorization of the caller's merchant, in full or in part."""
    _order(session, call, order_id, settings)
    return payments.capture(session, order_id, spec, now, settings)


def void(
    session: Session, call: PartnerCall, order_id: uuid.UUID, now: datetime, settings: Settings
) -> PaymentOrder:
    """Release an authorization of the caller's merchant."""
    _order(session, call, order_id, settings)
    return payments.void(session, order_id, now, settings)


def close_order(
    session: Session, call: PartnerCall, order_id: uuid.UUID, now: datetime, settings: Settings
) -> PaymentOrder:
    """Close an unpaid order of the caller's merchant."""
    _order(session, call, order_id, settings)
    return payments.close_order(session, order_id, now, settings)


def refund(
    session: Session,
    call: PartnerCall,
    order_id: uuid.UUID,
    spec: RefundCreate,
    now: datetime,
    settings: Settings,
) -> tuple[Refund, bool]:
    """A refund of the caller's merchant's payment, once per `out_refund_no` (False: the
    first refund, asked for again with the same request); never more than captured."""
    _order(session, call, order_id, settings)
    return payments.refund(session, order_id, spec, now, settings)
