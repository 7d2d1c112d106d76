"""Operator endpoints of the gateway: rate-limit overrides per app, and the API audit search."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    Limit,
    OperatorIdentity,
    SettingsDep,
    next_link,
    operator_with,
)
from openbank.platform.gateway import service
from openbank.platform.gateway.schemas import (
    ApiCallPage,
    ApiCallQuery,
    AppRateLimits,
    RateLimitsChange,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
RateLimitManager = Annotated[OperatorIdentity, operator_with("operations")]
RateLimitReader = Annotated[OperatorIdentity, operator_with("operations", "auditor")]
Auditor = Annotated[OperatorIdentity, operator_with("auditor")]


@router.get("/v1/apps/{app_id}/rate-limits", tags=["gateway"])
def get_rate_limits(
    app_id: uuid.UUID, _: RateLimitReader, db: DatabaseDep, settings: SettingsDep
) -> AppRateLimits:
    """The limit in effect for each product of the app (an override, or the default)."""
    return unit_of_work(db, lambda s: service.rate_limits(s, app_id, settings))


@router.put("/v1/apps/{app_id}/rate-limits", tags=["gateway"])
def put_rate_limits(
    app_id: uuid.UUID,
    body: RateLimitsChange,
    operator: RateLimitManager,
    db: DatabaseDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> AppRateLimits:
    """Replace the app's overrides (products left out go back to the defaults); every API
    process applies them from its next call."""
    return unit_of_work(
        db,
        lambda s: service.set_rate_limits(
            s, app_id, body, settings, clock.now(), operator.username
        ),
    )


@router.get("/v1/audit/api-calls", tags=["gateway"])
def search_api_calls(
    request: Request,
    _: Auditor,
    db: DatabaseDep,
    app_id: uuid.UUID | None = None,
    customer_id: uuid.UUID | None = None,
    consent_id: uuid.UUID | None = None,
    interaction_id: uuid.UUID | None = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    path: Annotated[
        str | None, Query(max_length=200, description="A path template, exactly.")
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="From this instant (inclusive).")
    ] = None,
    until: Annotated[AwareDatetime | None, Query(description="Before this instant.")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ApiCallPage:
    """Partner calls, newest first (auditors and admins): who called what, with which
    result, latency and interaction id. Rows reach the log within about 100 ms."""
    query = ApiCallQuery(
        app_id=app_id,
        customer_id=customer_id,
        consent_id=consent_id,
        interaction_id=interaction_id,
        status=status,
        path=path,
        since=since,
        until=until,
    )
    calls, next_cursor = unit_of_work(
        db, lambda s: service.search_api_calls(s, query, cursor, limit)
    )
    return ApiCallPage(
        data=calls, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )
