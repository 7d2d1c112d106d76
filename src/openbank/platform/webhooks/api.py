"""HTTP endpoints of webhooks: operators manage endpoints, dead letters and replays under
/v1/...; partners manage their own endpoints and read their deliveries under /v1/open/...."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    IdempotencyKey,
    Limit,
    OperatorIdentity,
    idempotent_post,
    next_link,
    operator_with,
)
from openbank.platform.gateway.service import partner_idempotent_post
from openbank.platform.oauth.resource import app_call
from openbank.platform.principal import PartnerCall
from openbank.platform.webhooks import service
from openbank.platform.webhooks.schemas import (
    Delivery,
    DeliveryPage,
    DeliveryStatus,
    Endpoint,
    EndpointCreate,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
Operations = Annotated[OperatorIdentity, operator_with("operations")]
Partner = Annotated[PartnerCall, app_call()]
# Partner calls are rate limited (the "platform" bucket of the app).
RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "Rate limited (Retry-After)", "content": {"application/problem+json": {}}}
}


# -- operators ------------------------------------------------------------------------------


@router.post(
    "/v1/apps/{app_id}/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=Endpoint,
    tags=["webhooks"],
)
def create_endpoint(
    app_id: uuid.UUID,
    body: EndpointCreate,
    request: Request,
    response: Response,
    _: Operations,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Register a webhook endpoint for an app: an https URL and the event types it gets."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        status.HTTP_201_CREATED,
        lambda s: service.create_endpoint(s, app_id, body, clock.now()),
    )


@router.get("/v1/apps/{app_id}/webhook-endpoints", tags=["webhooks"])
def list_endpoints(app_id: uuid.UUID, _: Operations, db: DatabaseDep) -> list[Endpoint]:
    return unit_of_work(db, lambda s: service.list_endpoints(s, app_id))


@router.delete(
    "/v1/apps/{app_id}/webhook-endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["webhooks"],
)
def remove_endpoint(
    app_id: uuid.UUID, endpoint_id: uuid.UUID, _: Operations, db: DatabaseDep, clock: ClockDep
) -> None:
    """Disable an endpoint; what was still waiting for it moves to the dead letters."""
    unit_of_work(db, lambda s: service.remove_endpoint(s, app_id, endpoint_id, clock.now()))


@router.get("/v1/webhook-deliveries", response_model=DeliveryPage, tags=["webhooks"])
def list_deliveries(
    request: Request,
    _: Operations,
    db: DatabaseDep,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="dead: the dead-letter list")
    ] = None,
    app_id: uuid.UUID | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> DeliveryPage:
    """Deliveries newest first, by status and app."""
    page, next_cursor = unit_of_work(
        db, lambda s: service.list_deliveries(s, delivery_status, app_id, cursor, limit)
    )
    return DeliveryPage(
        data=page, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


@router.get("/v1/webhook-deliveries/{delivery_id}", tags=["webhooks"])
def get_delivery(delivery_id: uuid.UUID, _: Operations, db: DatabaseDep) -> Delivery:
    return unit_of_work(db, lambda s: service.get_delivery(s, delivery_id))


@router.post("/v1/webhook-deliveries/{delivery_id}/replay", tags=["webhooks"])
def replay_delivery(
    delivery_id: uuid.UUID, _: Operations, db: DatabaseDep, clock: ClockDep
) -> Delivery:
    """Send a failed or dead delivery again now (same event id: partners de-duplicate)."""
    return unit_of_work(db, lambda s: service.replay(s, delivery_id, clock.now()))


# -- partners -------------------------------------------------------------------------------


@router.post(
    "/v1/open/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=Endpoint,
    tags=["open: webhooks"],
    responses=RATE_LIMITED,
)
def create_own_endpoint(
    body: EndpointCreate,
    request: Request,
    response: Response,
    call: Partner,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Register a webhook endpoint for the calling app (Idempotency-Key required)."""
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        status.HTTP_201_CREATED,
        lambda s: service.create_endpoint_for_partner(s, call, body, clock.now()),
    )


@router.get("/v1/open/webhook-endpoints", tags=["open: webhooks"], responses=RATE_LIMITED)
def list_own_endpoints(call: Partner, db: DatabaseDep) -> list[Endpoint]:
    return unit_of_work(db, lambda s: service.list_endpoints_for_partner(s, call))


@router.delete(
    "/v1/open/webhook-endpoints/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["open: webhooks"],
    responses=RATE_LIMITED,
)
def remove_own_endpoint(
    endpoint_id: uuid.UUID, call: Partner, db: DatabaseDep, clock: ClockDep
) -> None:
    unit_of_work(
        db, lambda s: service.remove_endpoint_for_partner(s, call, endpoint_id, clock.now())
    )


@router.get(
    "/v1/open/webhook-deliveries",
    response_model=DeliveryPage,
    tags=["open: webhooks"],
    responses=RATE_LIMITED,
)
def list_own_deliveries(
    request: Request, call: Partner, db: DatabaseDep, limit: Limit = 100, cursor: Cursor = None
) -> DeliveryPage:
    """The calling app's deliveries, newest first, with each one's outcome."""
    page, next_cursor = unit_of_work(
        db, lambda s: service.list_deliveries_for_partner(s, call, cursor, limit)
    )
    return DeliveryPage(
        data=page, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


@router.get(
    "/v1/open/webhook-deliveries/{delivery_id}", tags=["open: webhooks"], responses=RATE_LIMITED
)
def get_own_delivery(delivery_id: uuid.UUID, call: Partner, db: DatabaseDep) -> Delivery:
    return unit_of_work(db, lambda s: service.get_delivery_for_partner(s, call, delivery_id))
