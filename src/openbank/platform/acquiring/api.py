"""HTTP endpoints of partner acquiring (/v1/open/acquiring/...): a partner app's
client_credentials token with scope `payments` works with the payment orders of its
partner's merchants.

Thin: authenticate (the token's scope; the rate limit of product `payments`), call one
service function with the PartnerCall; the service checks the merchant is the caller's.
Every POST goes through the gateway's per-app idempotency (Idempotency-Key required)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from openbank.core.database import Database, unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    DatabaseDep,
    IdempotencyKey,
    SettingsDep,
    created_or_found,
)
from openbank.payments.schemas import (
    MERCHANT_REFERENCE,
    CaptureCreate,
    OrderCreate,
    PaymentOrder,
    Refund,
    RefundCreate,
)
from openbank.platform.acquiring import service
from openbank.platform.gateway.service import partner_idempotent_post
from openbank.platform.oauth.resource import partner_call
from openbank.platform.principal import PartnerCall

router = APIRouter(prefix="/v1/open/acquiring", responses=PROBLEM_RESPONSES)
PaymentsCall = Annotated[PartnerCall, partner_call(service.SCOPE)]
OutTradeNo = Annotated[str, Query(min_length=1, max_length=64, pattern=MERCHANT_REFERENCE)]
TAGS: list[Any] = ["open: acquiring"]
# Which e-account paid is the payer's business, not the merchant's or its partner's: a
# partner sees that an order was paid, and how (e_account or card), never by which account.
PAYER_PRIVATE = {"payer_e_account_id"}
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Rate limited (Retry-After)", "content": {"application/problem+json": {}}}
}


def _created_or_found(
    db: Database,
    request: Request,
    response: Response,
    call: PartnerCall,
    idempotency_key: str | None,
    body: BaseModel,
    work: Callable[[Session], tuple[BaseModel, bool]],
) -> object:
    """A partner POST that answers 201 when it made the object and 200 when the merchant's
    own number found an earlier one."""
    status_of, run = created_or_found(work)
    return partner_idempotent_post(
        db, request, response, call, idempotency_key, body, status_of, run
    )


@router.post(
    "/merchants/{merchant_id}/payment-orders",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentOrder,
    response_model_exclude=PAYER_PRIVATE,
    tags=TAGS,
    responses={200: {"description": "An earlier order with this out_trade_no"}, **RATE_LIMITED},
)
def create_order(
    merchant_id: uuid.UUID,
    body: OrderCreate,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A payment order for one of the partner's merchants, stamped with the calling app (its
    webhooks, the partner's revenue share). Once per `out_trade_no`: the same request again
    answers 200 with the first order; another request with that number is 409
    `out_trade_no_reused`. Payers pay at the order's `checkout_url`."""
    return _created_or_found(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        lambda s: service.create_order(s, call, merchant_id, body, clock.now(), settings),
    )


@router.get(
    "/merchants/{merchant_id}/payment-orders",
    response_model=PaymentOrder,
    response_model_exclude=PAYER_PRIVATE,
    tags=TAGS,
    responses=RATE_LIMITED,
)
def find_order(
    merchant_id: uuid.UUID,
    out_trade_no: OutTradeNo,
    call: PaymentsCall,
    db: DatabaseDep,
    settings: SettingsDep,
) -> PaymentOrder:
    """The merchant's order by the merchant's own number."""
    return unit_of_work(
        db, lambda s: service.find_order(s, call, merchant_id, out_trade_no, settings)
    )


@router.get(
    "/payment-orders/{order_id}",
    response_model=PaymentOrder,
    response_model_exclude=PAYER_PRIVATE,
    tags=TAGS,
    responses=RATE_LIMITED,
)
def get_order(
    order_id: uuid.UUID, call: PaymentsCall, db: DatabaseDep, settings: SettingsDep
) -> PaymentOrder:
    return unit_of_work(db, lambda s: service.get_order(s, call, order_id, settings))


@router.post(
    "/payment-orders/{order_id}/capture",
    response_model=PaymentOrder,
    response_model_exclude=PAYER_PRIVATE,
    tags=TAGS,
    responses=RATE_LIMITED,
)
def capture(
    order_id: uuid.UUID,
    body: CaptureCreate,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Capture an authorization in full, or in part (the rest goes back to the payer)."""
    return partner_idempotent_post(
        db, request, response, call, idempotency_key, body, status.HTTP_200_OK,
        lambda s: service.capture(s, call, order_id, body, clock.now(), settings),
    )  # fmt: skip


@router.post(
    "/payment-orders/{order_id}/void",
    response_model=PaymentOrder,
    response_model_exclude=PAYER_PRIVATE,
    tags=TAGS,
    responses=RATE_LIMITED,
)
def void(
    order_id: uuid.UUID,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Release an authorization: the held money goes back to the payer."""
    return partner_idempotent_post(
        db, request, response, call, idempotency_key, None, status.HTTP_200_OK,
        lambda s: service.void(s, call, order_id, clock.now(), settings),
    )  # fmt: skip


@router.post(
    "/payment-orders/{order_id}/close",
    response_model=PaymentOrder,
    response_model_exclude=PAYER_PRIVATE,
    tags=TAGS,
    responses=RATE_LIMITED,
)
def close_order(
    order_id: uuid.UUID,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Close an unpaid order: it can no longer be paid."""
    return partner_idempotent_post(
        db, request, response, call, idempotency_key, None, status.HTTP_200_OK,
        lambda s: service.close_order(s, call, order_id, clock.now(), settings),
    )  # fmt: skip


@router.post(
    "/payment-orders/{order_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=Refund,
    tags=TAGS,
    responses={200: {"description": "An earlier refund with this out_refund_no"}, **RATE_LIMITED},
)
def refund(
    order_id: uuid.UUID,
    body: RefundCreate,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A refund, once per `out_refund_no` (the same request again answers 200 with it);
    never more than captured in all (409 `refund_exceeds_captured`)."""
    return _created_or_found(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        lambda s: service.refund(s, call, order_id, body, clock.now(), settings),
    )
