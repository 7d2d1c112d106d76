"""Webhooks: partners' endpoints, the outbox fan-out, delivery attempts and their outcomes,
dead letters and replay.

The HTTP side lives in `dispatcher.py`; everything here runs inside one short transaction,
so no transaction is ever open while a partner's server is being called. Two dispatchers
(two API processes, or the CLI next to a server) share the work through
`SELECT ... FOR UPDATE SKIP LOCKED` and a lease on each claimed attempt."""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

import openbank
from openbank.core.errors import InvalidCursor
from openbank.core.ids import new_id
from openbank.core.models import OutboxEvent
from openbank.core.settings import Settings
from openbank.platform import keys
from openbank.platform import service as platform
from openbank.platform.errors import AppNotFound
from openbank.platform.principal import PartnerCall
from openbank.platform.webhooks.errors import (
    DeliveryNotFound,
    DeliveryNotReplayable,
    EndpointNotFound,
    InvalidWebhookUrl,
    TooManyEndpoints,
    UnknownEventType,
)
from openbank.platform.webhooks.models import WebhookDelivery, WebhookEndpoint
from openbank.platform.webhooks.schemas import (
    ALL_EVENTS,
    EVENT_TYPES,
    Delivery,
    DeliveryStatus,
    Endpoint,
    EndpointCreate,
)
from openbank.platform.webhooks.signing import SIGNATURE_HEADER, sign_detached

MAX_ENDPOINTS_PER_APP = 10
# Backoff delays are drawn between (1 - JITTER) and 1 times the nominal delay, so retries of
# many deliveries that failed together (a partner outage) do not all return at once.
JITTER = 0.2
_ENDPOINTS_LOCK = 7243120  # advisory lock namespace: one endpoint registration per app at once
_LOCAL_HOSTS = {"localhost", "127.0.0.1"}
_RETRYABLE = ("pending", "failed")
_rng = random.SystemRandom()


# -- endpoints ------------------------------------------------------------------------------


def _check_url(url: str, environment: str) -> str:
    """https only, so payloads and signatures are not readable on the way; http only to a
    sandbox app's own machine. Private and loopback IP literals are refused otherwise, so an
    endpoint cannot point the bank's dispatcher at the bank's own network."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise InvalidWebhookUrl(f"not a URL: {url}", url=url) from None
    if not host or parts.username or parts.password or parts.fragment:
        raise InvalidWebhookUrl(f"not an acceptable webhook URL: {url}", url=url)
    local = host in _LOCAL_HOSTS
    if parts.scheme == "http" and not (local and environment == "sandbox"):
        raise InvalidWebhookUrl(
            f"webhook URLs must use https (http only to localhost for sandbox apps): {url}",
            url=url,
        )
    if parts.scheme not in {"http", "https"}:
        raise InvalidWebhookUrl(f"webhook URLs must use https: {url}", url=url)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if (
        address is not None
        and not (local and environment == "sandbox")
        and (address.is_private or address.is_loopback or address.is_link_local)
    ):
        raise InvalidWebhookUrl(f"webhook URLs may not name a private address: {url}", url=url)
    if host == "localhost" and environment != "sandbox":
        raise InvalidWebhookUrl(f"only sandbox apps may use localhost: {url}", url=url)
    return url


def _check_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted({t for t in event_types if t != ALL_EVENTS and t not in EVENT_TYPES})
    if unknown:
        raise UnknownEventType(
            f"unknown event types: {', '.join(unknown)}",
            unknown=unknown,
            known=list(EVENT_TYPES),
        )
    if ALL_EVENTS in event_types:
        return [ALL_EVENTS]
    return sorted(set(event_types))


def _endpoint_out(row: WebhookEndpoint) -> Endpoint:
    return Endpoint.model_validate(row, from_attributes=True)


def _create_endpoint(
    session: Session, app_id: uuid.UUID, environment: str, spec: EndpointCreate, now: datetime
) -> Endpoint:
    url = _check_url(spec.url, environment)
    event_types = _check_event_types(spec.event_types)
    session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:app))"),
        {"ns": _ENDPOINTS_LOCK, "app": str(app_id)},
    )
    active = session.execute(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.app_id == app_id, WebhookEndpoint.status == "active")
    ).scalar_one()
    if active >= MAX_ENDPOINTS_PER_APP:
        raise TooManyEndpoints(
            f"an app may have at most {MAX_ENDPOINTS_PER_APP} active webhook endpoints"
        )
    row = WebhookEndpoint(
        id=new_id(),
        app_id=app_id,
        url=url,
        event_types=event_types,
        status="active",
        created_at=now,
        disabled_at=None,
    )
    session.add(row)
    session.flush()
    return _endpoint_out(row)


def create_endpoint(
    session: Session, app_id: uuid.UUID, spec: EndpointCreate, now: datetime
) -> Endpoint:
    """An operator registers an endpoint for an app (any status: set up before go-live)."""
    app = platform.get_app(session, app_id)
    return _create_endpoint(session, app.id, app.environment, spec, now)


def create_endpoint_for_partner(
    session: Session, call: PartnerCall, spec: EndpointCreate, now: datetime
) -> Endpoint:
    """A partner registers an endpoint for its own app (the app in its token)."""
    app = platform.active_app(session, call.app_id)
    return _create_endpoint(session, app.id, app.environment, spec, now)


def _endpoints(session: Session, app_id: uuid.UUID) -> list[Endpoint]:
    rows = session.execute(
        select(WebhookEndpoint).where(WebhookEndpoint.app_id == app_id).order_by(WebhookEndpoint.id)
    ).scalars()
    return [_endpoint_out(row) for row in rows]


def list_endpoints(session: Session, app_id: uuid.UUID) -> list[Endpoint]:
    """An app's endpoints, oldest first, removed ones included (status disabled)."""
    platform.get_app(session, app_id)
    return _endpoints(session, app_id)


def list_endpoints_for_partner(session: Session, call: PartnerCall) -> list[Endpoint]:
    platform.active_app(session, call.app_id)
    return _endpoints(session, call.app_id)


def _remove_endpoint(
    session: Session, app_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
) -> None:
    row = session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if row is None or row.app_id != app_id:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    if row.status == "disabled":
        return
    row.status = "disabled"
    row.disabled_at = now
    # What was still waiting for it goes to the dead letters, where it stays visible.
    session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status.in_(_RETRYABLE),
        )
        .values(status="dead", next_attempt_at=None, last_error="endpoint removed")
    )


def remove_endpoint(
    session: Session, app_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
) -> None:
    """Disable an endpoint (kept for the deliveries that name it); removing twice is fine."""
    platform.get_app(session, app_id)
    _remove_endpoint(session, app_id, endpoint_id, now)


def remove_endpoint_for_partner(
    session: Session, call: PartnerCall, endpoint_id: uuid.UUID, now: datetime
) -> None:
    platform.active_app(session, call.app_id)
    _remove_endpoint(session, call.app_id, endpoint_id, now)


# -- deliveries: listing, dead letters, replay ----------------------------------------------


def _delivery_out(row: WebhookDelivery, url: str) -> Delivery:
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        event_type=row.event_type,
        app_id=row.app_id,
        endpoint_id=row.endpoint_id,
        url=url,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        last_attempt_at=row.last_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


def _page(
    session: Session,
    cursor: str | None,
    limit: int,
    *conditions: Any,
) -> tuple[list[Delivery], str | None]:
    """Deliveries newest first (ids are time-ordered), `limit` of them after `cursor`."""
    query = (
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*conditions)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit + 1)
    )
    if cursor:
        try:
            before = uuid.UUID(cursor)
        except ValueError:
            raise InvalidCursor() from None
        query = query.where(WebhookDelivery.id < before)
    rows = session.execute(query).all()
    page = [_delivery_out(row, url) for row, url in rows[:limit]]
    next_cursor = str(page[-1].id) if len(rows) > limit else None
    return page, next_cursor


def list_deliveries(
    session: Session,
    status: DeliveryStatus | None,
    app_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Delivery], str | None]:
    """Operators' view of every delivery; `status="dead"` is the dead-letter list."""
    conditions: list[Any] = []
    if status is not None:
        conditions.append(WebhookDelivery.status == status)
    if app_id is not None:
        conditions.append(WebhookDelivery.app_id == app_id)
    return _page(session, cursor, limit, *conditions)


def list_deliveries_for_partner(
    session: Session, call: PartnerCall, cursor: str | None, limit: int
) -> tuple[list[Delivery], str | None]:
    """A partner's recent deliveries and their outcomes: its own app's only."""
    platform.active_app(session, call.app_id)
    return _page(session, cursor, limit, WebhookDelivery.app_id == call.app_id)


def _delivery(
    session: Session, delivery_id: uuid.UUID, app_id: uuid.UUID | None = None
) -> tuple[WebhookDelivery, str]:
    found = session.execute(
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    # Another app's delivery is answered exactly like a missing one.
    if found is None or (app_id is not None and found[0].app_id != app_id):
        raise DeliveryNotFound(f"no webhook delivery {delivery_id}")
    return found[0], found[1]


def get_delivery(session: Session, delivery_id: uuid.UUID) -> Delivery:
    return _delivery_out(*_delivery(session, delivery_id))


def get_delivery_for_partner(
    session: Session, call: PartnerCall, delivery_id: uuid.UUID
) -> Delivery:
    platform.active_app(session, call.app_id)
    return _delivery_out(*_delivery(session, delivery_id, call.app_id))


def replay(session: Session, delivery_id: uuid.UUID, now: datetime) -> Delivery:
    """Send a failed or dead delivery again, now, with a fresh budget of attempts. The event
    id does not change, so a partner that did receive it after all de-duplicates it."""
    row, url = _delivery(session, delivery_id)
    session.refresh(row, with_for_update=True)
    endpoint = session.get(WebhookEndpoint, row.endpoint_id)
    if row.status not in {"failed", "dead"} or endpoint is None or endpoint.status != "active":
        raise DeliveryNotReplayable(
            f"delivery {delivery_id} is {row.status}"
            + (
                ""
                if endpoint is not None and endpoint.status == "active"
                else " (endpoint removed)"
            ),
            delivery_status=row.status,
        )
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    session.flush()
    return _delivery_out(row, url)


def replay_dead(
    session: Session, now: datetime, app_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Replay every dead delivery to a still-active endpoint (after a partner outage)."""
    active_endpoints = select(WebhookEndpoint.id).where(WebhookEndpoint.status == "active")
    conditions: list[Any] = [
        WebhookDelivery.status == "dead",
        WebhookDelivery.endpoint_id.in_(active_endpoints),
    ]
    if app_id is not None:
        conditions.append(WebhookDelivery.app_id == app_id)
    ids = session.execute(
        update(WebhookDelivery)
        .where(*conditions)
        .values(status="pending", attempts=0, next_attempt_at=now)
        .returning(WebhookDelivery.id)
    ).scalars()
    return sorted(ids)


# -- the dispatcher's transactions ----------------------------------------------------------


def fan_out(session: Session, now: datetime, limit: int = 200) -> int:
    """Queue one delivery per matching active endpoint for up to `limit` undispatched outbox
    events (oldest first) and mark them dispatched, all in the caller's transaction.

    Rows another dispatcher is fanning out are skipped, not waited for. Events of an app
    that is not active (or of no app) are marked dispatched with no deliveries. Returns the
    number of events handled (0: the outbox is drained)."""
    events = (
        session.execute(
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not events:
        return 0
    app_ids = {e.app_id for e in events if e.app_id is not None}
    active_apps: set[uuid.UUID] = set()
    for app_id in app_ids:
        try:
            platform.active_app(session, app_id)
            active_apps.add(app_id)
        except AppNotFound:
            pass
    endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = {}
    if active_apps:
        for endpoint in session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.app_id.in_(active_apps), WebhookEndpoint.status == "active")
            .order_by(WebhookEndpoint.id)
        ).scalars():
            endpoints.setdefault(endpoint.app_id, []).append(endpoint)
    rows = [
        {
            "id": new_id(),
            "event_id": event.id,
            "event_type": event.event_type,
            "endpoint_id": endpoint.id,
            "app_id": endpoint.app_id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for event in events
        if event.app_id is not None
        for endpoint in endpoints.get(event.app_id, [])
        if ALL_EVENTS in endpoint.event_types or event.event_type in endpoint.event_types
    ]
    if rows:
        session.execute(
            insert(WebhookDelivery)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["event_id", "endpoint_id"])
        )
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_([e.id for e in events]))
        .values(dispatched_at=now)
    )
    return len(events)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One claimed attempt, ready to send: the exact body and headers (signature included)."""

    delivery_id: uuid.UUID
    number: int
    event_id: uuid.UUID
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the partner's server answered: a status code, or an error (timeout, refused)."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def attempt_lease(settings: Settings) -> timedelta:
    """How long a claimed attempt stays invisible to other dispatchers: longer than the
    attempt can take (connect, send, wait for the answer's headers, each bounded by the
    timeout) so a crashed dispatcher's attempt is tried again, never a live one twice."""
    return timedelta(seconds=3 * settings.webhook_timeout_seconds + 30)


def backoff_seconds(attempt: int, settings: Settings, rng: random.Random = _rng) -> float:
    """Delay before the next try after failed attempt `attempt` (1-based): first × 2^(n-1),
    capped, then jittered down by up to JITTER so synchronized failures spread out."""
    nominal: float = min(
        settings.webhook_first_retry_seconds * 2 ** min(attempt - 1, 62),
        settings.webhook_max_retry_seconds,
    )
    return nominal * (1 - JITTER * rng.random())


def event_body(event: OutboxEvent) -> bytes:
    """The JSON body partners receive; the signature covers these exact bytes."""
    occurred_at = event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    document = {
        "id": str(event.id),
        "type": event.event_type,
        "subject": event.subject,
        "occurred_at": occurred_at,
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def claim_due(
    session: Session, now: datetime, settings: Settings, limit: int = 32
) -> list[Attempt]:
    """Claim up to `limit` deliveries due now: count the attempt, lease it (see
    `attempt_lease`) and build its signed request. Commit before sending."""
    rows = (
        session.execute(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.status.in_(_RETRYABLE),
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not rows:
        return []
    endpoints = {
        e.id: e
        for e in session.execute(
            select(WebhookEndpoint).where(WebhookEndpoint.id.in_({r.endpoint_id for r in rows}))
        ).scalars()
    }
    events = {
        e.id: e
        for e in session.execute(
            select(OutboxEvent).where(OutboxEvent.id.in_({r.event_id for r in rows}))
        ).scalars()
    }
    key = keys.current_signing_key(session, now)
    lease_until = now + attempt_lease(settings)
    attempts: list[Attempt] = []
    for row in rows:
        endpoint = endpoints[row.endpoint_id]
        event = events.get(row.event_id)
        reason = None
        if row.attempts >= settings.webhook_max_attempts:
            reason = "no outcome recorded for the last attempt"  # its dispatcher stopped
        elif endpoint.status != "active":
            reason = "endpoint removed"
        elif event is None:
            reason = "event no longer in the outbox"
        if reason is not None:
            row.status, row.next_attempt_at, row.last_error = "dead", None, reason
            continue
        assert event is not None
        row.attempts += 1
        row.last_attempt_at = now
        row.next_attempt_at = lease_until
        body = event_body(event)
        attempts.append(
            Attempt(
                delivery_id=row.id,
                number=row.attempts,
                event_id=event.id,
                url=endpoint.url,
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": f"openbank-webhooks/{openbank.__version__}",
                    "X-Openbank-Event-Id": str(event.id),
                    "X-Openbank-Event-Type": event.event_type,
                    "X-Openbank-Delivery-Id": str(row.id),
                    "X-Openbank-Delivery-Attempt": str(row.attempts),
                    SIGNATURE_HEADER: sign_detached(body, key, settings.public_url, now),
                },
            )
        )
    session.flush()
    return attempts


def record_outcome(
    session: Session,
    attempt: Attempt,
    outcome: Outcome,
    now: datetime,
    settings: Settings,
    rng: random.Random = _rng,
) -> DeliveryStatus | None:
    """Record an attempt's outcome: delivered, failed (retry after a backoff) or dead (out of
    attempts). Ignored (None) when the attempt is no longer the delivery's latest: its lease
    ran out and another dispatcher has tried again since."""
    row = session.get(WebhookDelivery, attempt.delivery_id, with_for_update=True)
    if row is None or row.attempts != attempt.number or row.status not in _RETRYABLE:
        return None
    row.last_attempt_at = now
    row.last_status_code = outcome.status_code
    if outcome.delivered:
        row.status, row.delivered_at, row.next_attempt_at, row.last_error = (
            "delivered",
            now,
            None,
            None,
        )
    elif attempt.number >= settings.webhook_max_attempts:
        row.status, row.next_attempt_at = "dead", None
        row.last_error = outcome.error or f"HTTP {outcome.status_code}"
    else:
        row.status = "failed"
        row.next_attempt_at = now + timedelta(
            seconds=backoff_seconds(attempt.number, settings, rng)
        )
        row.last_error = outcome.error or f"HTTP {outcome.status_code}"
    session.flush()
    return row.status  # type: ignore[return-value]
