"""Gateway behaviour for partner calls: rate limits shared across processes, per-app
idempotency kept 24 h, and the API audit log (written by `audit.ApiAuditMiddleware`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import Connection, delete, select, tuple_
from sqlalchemy.orm import Session

from openbank.core.clock import Clock
from openbank.core.database import Database
from openbank.core.http import idempotent_post
from openbank.core.models import IdempotencyRecord
from openbank.core.settings import Settings
from openbank.platform import service as platform
from openbank.platform.errors import UnknownProduct
from openbank.platform.gateway import audit, ratelimit
from openbank.platform.gateway.errors import IdempotencyKeyRequired, RateLimited
from openbank.platform.gateway.models import RateLimitOverride
from openbank.platform.gateway.schemas import (
    ApiCallOut,
    ApiCallQuery,
    AppRateLimits,
    RateLimit,
    RateLimitsChange,
)
from openbank.platform.principal import PartnerCall
from openbank.platform.scopes import PRODUCTS

# Partner-level calls that belong to no product (webhook deliveries) count as "platform".
RATE_LIMITED_PRODUCTS: tuple[str, ...] = (*PRODUCTS, "platform")
PARTNER_SCOPE_PREFIX = "app:"

# -- rate limits ------------------------------------------------------------------------------


def enforce_rate_limit(
    db: Database,
    app_id: uuid.UUID,
    product: str,
    now: datetime,
    connection: Connection | None = None,
) -> None:
    """Count one call of `app_id` against `product`'s limit in its own short transaction
    (shared by every API process), on `connection` when given (autocommit); raise
    RateLimited (429, Retry-After) when over it."""
    decision = ratelimit.count_call(
        db, app_id, product, now, ratelimit.default_limit(db.settings), connection
    )
    if not decision.admitted:
        seconds = decision.retry_after(now)
        raise RateLimited(
            f"over {decision.limit.per_second}/s (burst {decision.limit.burst}) for {product}",
            headers={"Retry-After": str(seconds)},
            retry_after=seconds,
        )


def rate_limits(session: Session, app_id: uuid.UUID, settings: Settings) -> AppRateLimits:
    """The limit in effect for each product of the app: the override, or the default."""
    platform.get_app(session, app_id)  # 404 for an unknown app
    overrides = {
        row.product: row
        for row in session.execute(
            select(RateLimitOverride).where(RateLimitOverride.app_id == app_id)
        ).scalars()
    }
    limits = []
    for product in RATE_LIMITED_PRODUCTS:
        found = overrides.get(product)
        if found is not None:
            limit = RateLimit(
                product=product, per_second=found.per_second, burst=found.burst, source="override"
            )
        else:
            limit = RateLimit(
                product=product,
                per_second=settings.gateway_rate_limit_per_second,
                burst=settings.gateway_rate_limit_burst,
                source="default",
            )
        limits.append(limit)
    return AppRateLimits(app_id=app_id, limits=limits)


def set_rate_limits(
    session: Session,
    app_id: uuid.UUID,
    change: RateLimitsChange,
    settings: Settings,
    now: datetime,
    operator: str,
) -> AppRateLimits:
    """Replace the app's overrides; they apply from the next call in every process."""
    platform.get_app(session, app_id)
    for limit in change.limits:
        if limit.product not in RATE_LIMITED_PRODUCTS:
            raise UnknownProduct(
                f"no product {limit.product!r}; known: {', '.join(RATE_LIMITED_PRODUCTS)}"
            )
    session.execute(delete(RateLimitOverride).where(RateLimitOverride.app_id == app_id))
    session.add_all(
        RateLimitOverride(
            app_id=app_id,
            product=limit.product,
            per_second=limit.per_second,
            burst=limit.burst,
            updated_at=now,
            updated_by=operator,
        )
        for limit in change.limits
    )
    session.flush()
    return rate_limits(session, app_id, settings)


# -- idempotency ------------------------------------------------------------------------------


def partner_idempotent_post(
    db: Database,
    request: Request,
    response: Response,
    call: PartnerCall,
    idempotency_key: str | None,
    body: BaseModel | None,
    status: int | Callable[[], int],
    work: Callable[[Session], BaseModel],
) -> object:
    """Run one partner POST in a unit of work at most once per (app, Idempotency-Key) for
    24 hours: the same key and body replays the first response, another body is 409. A
    missing key is 400 `idempotency_key_required`.

    A key older than settings.gateway_idempotency_hours counts as new (the expired record is
    reclaimed in the claiming statement; `purge_idempotency` deletes the rest)."""
    if idempotency_key is None:
        raise IdempotencyKeyRequired(
            "send an Idempotency-Key header (a UUID is a good choice) with every partner POST"
        )
    settings: Settings = request.app.state.settings
    clock: Clock = request.app.state.clock
    now = clock.now()
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        status,
        work,
        scope=f"{PARTNER_SCOPE_PREFIX}{call.app_id}",
        now=now,
        expired_before=now - timedelta(hours=settings.gateway_idempotency_hours),
    )


def purge_idempotency(
    session: Session, now: datetime, keep_hours: int = 24, batch: int = 10_000
) -> int:
    """Delete up to `batch` partner idempotency records older than `keep_hours` (schedule it:
    `keep_hours` = settings.gateway_idempotency_hours). Returns how many went."""
    expired = (
        select(IdempotencyRecord.scope, IdempotencyRecord.key)
        .where(
            IdempotencyRecord.created_at < now - timedelta(hours=keep_hours),
            IdempotencyRecord.scope.startswith(PARTNER_SCOPE_PREFIX),
        )
        .limit(batch)
    )
    result = session.execute(
        delete(IdempotencyRecord)
        .where(tuple_(IdempotencyRecord.scope, IdempotencyRecord.key).in_(expired))
        .returning(IdempotencyRecord.key)
    )
    return len(result.all())


# -- the API audit log ------------------------------------------------------------------------


def search_api_calls(
    session: Session, query: ApiCallQuery, cursor: str | None, limit: int
) -> tuple[list[ApiCallOut], str | None]:
    """Partner calls matching `query`, newest first, cursor-paginated."""
    return audit.search(session, query, cursor, limit)
