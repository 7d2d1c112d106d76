"""Operator endpoints of acquiring: fee plans, merchants and payment orders. Thin: parse,
authorize, call the service. (Partners reach acquiring through the open platform.)"""

from __future__ import annotations

import uuid
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    DatabaseDep,
    IdempotencyKey,
    Operator,
    SettingsDep,
    created_or_found,
    idempotent_post,
)
from openbank.payments import service
from openbank.payments.schemas import (
    MERCHANT_REFERENCE,
    CaptureCreate,
    FeePlan,
    FeePlanCreate,
    Merchant,
    MerchantCreate,
    MerchantStatusChange,
    OrderCreate,
    PaymentCreate,
    PaymentOrder,
    Refund,
    RefundCreate,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
OutTradeNo = Annotated[str, Query(min_length=1, max_length=64, pattern=MERCHANT_REFERENCE)]
TAGS: list[str | Enum] = ["payments"]


# -- fee plans ------------------------------------------------------------------------------


@router.post("/v1/payments/fee-plans", status_code=201, response_model=FeePlan, tags=TAGS)
def create_fee_plan(
    body: FeePlanCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A merchant discount rate (percentage + fixed, minimum, cap) with contribution tiers."""
    return idempotent_post(
        db, request, response, idempotency_key, body, 201,
        lambda s: service.create_fee_plan(s, body, clock.now()),
    )  # fmt: skip


@router.get("/v1/payments/fee-plans", response_model=list[FeePlan], tags=TAGS)
def list_fee_plans(_: Operator, db: DatabaseDep) -> list[FeePlan]:
    return unit_of_work(db, service.list_fee_plans)


# -- merchants ------------------------------------------------------------------------------


@router.post("/v1/merchants", status_code=201, response_model=Merchant, tags=TAGS)
def onboard_merchant(
    body: MerchantCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A merchant, with its class I settlement e-account opened at this bank."""
    return idempotent_post(
        db, request, response, idempotency_key, body, 201,
        lambda s: service.onboard_merchant(s, body, clock.now(), settings),
    )  # fmt: skip


@router.get("/v1/merchants/{merchant_id}", response_model=Merchant, tags=TAGS)
def get_merchant(merchant_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Merchant:
    return unit_of_work(db, lambda s: service.get_merchant(s, merchant_id))


@router.post("/v1/merchants/{merchant_id}/status", response_model=Merchant, tags=TAGS)
def set_merchant_status(
    merchant_id: uuid.UUID, body: MerchantStatusChange, _: Operator, db: DatabaseDep
) -> Merchant:
    """Freeze (no new orders or payments), unfreeze, or close for good."""
    return unit_of_work(db, lambda s: service.set_merchant_status(s, merchant_id, body.status))


# -- payment orders -------------------------------------------------------------------------


@router.post(
    "/v1/merchants/{merchant_id}/payment-orders",
    status_code=201,
    response_model=PaymentOrder,
    tags=TAGS,
)
def create_order(
    merchant_id: uuid.UUID,
    body: OrderCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A payment order, once per `out_trade_no`: the same request again answers 200 with the
    first order; another request with that number is refused (409 out_trade_no_reused)."""

    status, work = created_or_found(
        lambda s: service.create_order(s, merchant_id, body, clock.now(), settings)
    )
    return idempotent_post(db, request, response, idempotency_key, body, status, work)


@router.get("/v1/merchants/{merchant_id}/payment-orders", response_model=PaymentOrder, tags=TAGS)
def find_order(
    merchant_id: uuid.UUID,
    out_trade_no: Annotated[
        str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-|*]+$")
    ],
    _: Operator,
    db: DatabaseDep,
    settings: SettingsDep,
) -> PaymentOrder:
    """The merchant's order by its own number."""
    return unit_of_work(db, lambda s: service.find_order(s, merchant_id, out_trade_no, settings))


@router.get("/v1/payment-orders/{order_id}", response_model=PaymentOrder, tags=TAGS)
def get_order(
    order_id: uuid.UUID, _: Operator, db: DatabaseDep, settings: SettingsDep
) -> PaymentOrder:
    return unit_of_work(db, lambda s: service.get_order(s, order_id, settings))


@router.post("/v1/payment-orders/{order_id}/pay", response_model=PaymentOrder, tags=TAGS)
def pay(
    order_id: uuid.UUID,
    body: PaymentCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Pay from an e-account (in-app) or with a bank card: captured at once, or authorized
    for an order with manual capture."""
    return idempotent_post(
        db, request, response, idempotency_key, body, 200,
        lambda s: service.pay(s, order_id, body, clock.now(), settings),
    )  # fmt: skip


@router.post("/v1/payment-orders/{order_id}/capture", response_model=PaymentOrder, tags=TAGS)
def capture(
    order_id: uuid.UUID,
    body: CaptureCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Capture an authorization in full, or in part (the rest goes back to the payer)."""
    return idempotent_post(
        db, request, response, idempotency_key, body, 200,
        lambda s: service.capture(s, order_id, body, clock.now(), settings),
    )  # fmt: skip


@router.post("/v1/payment-orders/{order_id}/void", response_model=PaymentOrder, tags=TAGS)
def void(
    order_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Release an authorization."""
    return idempotent_post(
        db, request, response, idempotency_key, None, 200,
        lambda s: service.void(s, order_id, clock.now(), settings),
    )  # fmt: skip


@router.post(
    "/v1/payment-orders/{order_id}/refunds", status_code=201, response_model=Refund, tags=TAGS
)
def refund(
    order_id: uuid.UUID,
    body: RefundCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A refund, once per `out_refund_no` (the same request again answers 200 with it);
    never more than captured in all."""

    status, work = created_or_found(
        lambda s: service.refund(s, order_id, body, clock.now(), settings)
    )
    return idempotent_post(db, request, response, idempotency_key, body, status, work)


@router.post("/v1/payment-orders/{order_id}/close", response_model=PaymentOrder, tags=TAGS)
def close_order(
    order_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Close an unpaid order: it can no longer be paid."""
    return idempotent_post(
        db, request, response, idempotency_key, None, 200,
        lambda s: service.close_order(s, order_id, clock.now(), settings),
    )  # fmt: skip
