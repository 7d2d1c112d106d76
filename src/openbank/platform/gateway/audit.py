"""The API audit log: every partner-facing call, recorded without slowing it down.

`ApiAuditMiddleware` sees each call to /v1/open/..., /v1/gateway and /oauth2/... and hands
one row to the process's `AuditWriter`, a write-behind buffer: a background thread COPYs
the buffered rows into `gateway_api_calls` every 100 ms, or as soon as 500 are waiting.

What a crash can lose: the rows still in memory, that is the last batch (at most ~100 ms
of calls, or more while PostgreSQL is unreachable, up to `MAX_BUFFERED` rows, beyond which
the oldest are dropped and counted in the log). Why accept it: writing each row in the
request's own transaction would add a commit (a WAL flush) to every partner call, and a
call refused before any transaction (bad token, rate limit) has none to join. The log is
an operational record (who called what, with which result); what moved money or changed a
consent is recorded by the ledger, the consents and the outbox, transactionally.
"""

from __future__ import annotations

import base64
import ipaddress
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import structlog
from sqlalchemy import Select, select, tuple_
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openbank.core.clock import Clock
from openbank.core.database import connect
from openbank.core.errors import InvalidCursor
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.platform.gateway.models import ApiCall
from openbank.platform.gateway.schemas import ApiCallOut, ApiCallQuery
from openbank.platform.principal import PartnerCall

log = structlog.get_logger(__name__)

FLUSH_SECONDS = 0.1
BATCH_ROWS = 500
MAX_BUFFERED = 100_000
MAX_RAW_PATH = 200

COLUMNS = (
    "id",
    "at",
    "app_id",
    "partner_id",
    "customer_id",
    "consent_id",
    "channel",
    "method",
    "path",
    "status",
    "problem_code",
    "latency_us",
    "interaction_id",
    "client_ip",
)
_COPY = f"COPY gateway_api_calls ({', '.join(COLUMNS)}) FROM STDIN"

Row = tuple[Any, ...]


def is_partner_facing(path: str) -> bool:
    """The calls the audit log covers: partner APIs, the signed gateway, the OAuth endpoints."""
    return (
        path.startswith("/v1/open/")
        or path == "/v1/gateway"
        or path.startswith("/v1/gateway/")
        or path.startswith("/oauth2/")
    )


class AuditWriter:
    """A write-behind buffer of audit rows and the thread that COPYs them (see the module
    docstring for what a crash can lose)."""

    def __init__(
        self,
        settings: Settings,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        batch_rows: int = BATCH_ROWS,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        self._settings = settings
        self._flush_seconds = flush_seconds
        self._batch_rows = batch_rows
        self._rows: deque[Row] = deque(maxlen=max_buffered)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()
        self._connection: psycopg.Connection[Any] | None = None
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> AuditWriter:
        self._thread = threading.Thread(target=self._run, name="api-audit-writer", daemon=True)
        self._thread.start()
        return self

    def record(self, row: Row) -> None:
        """Buffer one row (called on the event loop: an append, no I/O)."""
        if len(self._rows) == self._rows.maxlen:
            self.dropped += 1  # deque drops the oldest row on append
        self._rows.append(row)
        if len(self._rows) >= self._batch_rows:
            self._wake.set()

    def flush(self) -> None:
        """Write everything buffered so far, now (shutdown, tests)."""
        with self._write_lock:
            while self._rows:
                self._write_batch()

    def stop(self) -> None:
        """Stop the thread after writing what is buffered; close the connection."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except psycopg.Error:
            log.exception("api_audit.final_flush_failed", lost=len(self._rows))
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except psycopg.Error:
                log.exception("api_audit.flush_failed", buffered=len(self._rows))
                self._close()
                self._stopping.wait(1.0)  # PostgreSQL away: retry in a second, not a spin
            if self.dropped:
                log.warning("api_audit.rows_dropped", count=self.dropped)
                self.dropped = 0

    def _write_batch(self) -> None:
        batch: list[Row] = []
        while self._rows and len(batch) < self._batch_rows:
            batch.append(self._rows.popleft())
        try:
            connection = self._connect()
            with connection.cursor() as cursor, cursor.copy(_COPY) as copy:
                for row in batch:
                    copy.write_row(row)
            connection.commit()
        except (psycopg.OperationalError, psycopg.InterfaceError):
            self._rows.extendleft(reversed(batch))  # PostgreSQL away: keep them for later
            raise
        except psycopg.Error:
            # PostgreSQL refused the rows themselves: retrying them would block the log.
            self._close()
            self.dropped += len(batch)
            log.exception("api_audit.batch_refused", rows=len(batch))
        except BaseException:
            self._rows.extendleft(reversed(batch))
            raise

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = connect(self._settings)
        return self._connection

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            finally:
                self._connection = None


def flush(app: Any) -> None:
    """Write the audit rows `app` has buffered (tests call this before searching)."""
    writer: AuditWriter | None = getattr(app.state, "audit_writer", None)
    if writer is not None:
        writer.flush()


def _client_ip(scope: Scope) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    try:
        return str(ipaddress.ip_address(client[0]))
    except ValueError:
        return None  # e.g. "testclient", or a unix socket peer


def _client_id(state: dict[str, Any]) -> uuid.UUID | None:
    """The OAuth client an /oauth2/ endpoint authenticated (`request.state.client_id`)."""
    value = state.get("client_id")
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None


class ApiAuditMiddleware:
    """Records each partner-facing call in the app's `AuditWriter` (`app.state.audit_writer`).

    Sits inside `RequestIdMiddleware` (whose interaction id it records) and outside the
    routing (whose matched route gives the path template). Who called comes from
    `request.state.partner_call` (set once authentication succeeded), or for OAuth endpoints
    `request.state.client_id`; the problem code from `request.state.problem_code` (set by
    the problem handlers), so no response body is parsed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_partner_facing(scope["path"]):
            await self.app(scope, receive, send)
            return
        application = scope["app"]
        writer: AuditWriter | None = getattr(application.state, "audit_writer", None)
        if writer is None:
            await self.app(scope, receive, send)
            return
        clock: Clock = application.state.clock
        at = clock.now()
        started = time.perf_counter_ns()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            latency_us = (time.perf_counter_ns() - started) // 1000
            writer.record(_row(scope, at, status, latency_us))


def _row(scope: Scope, at: datetime, status: int, latency_us: int) -> Row:
    state: dict[str, Any] = scope.get("state", {})
    call = state.get("partner_call")
    route = scope.get("route")
    path = getattr(route, "path", None) or scope["path"][:MAX_RAW_PATH].replace("\x00", "")
    problem = state.get("problem_code")
    if status >= 500 and problem is None:
        problem = "internal_error"
    interaction = state.get("interaction_id")
    app_id: uuid.UUID | None = None
    partner_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    consent_id: uuid.UUID | None = None
    channel: str | None = None
    if isinstance(call, PartnerCall):
        app_id, partner_id = call.app_id, call.partner_id
        customer_id, consent_id, channel = call.customer_id, call.consent_id, call.channel
    else:
        app_id = _client_id(state)
    return (
        new_id(),
        at,
        app_id,
        partner_id,
        customer_id,
        consent_id,
        channel,
        scope["method"],
        path,
        status,
        problem if status >= 400 else None,
        min(latency_us, 2**31 - 1),
        uuid.UUID(interaction) if interaction else uuid.uuid4(),
        _client_ip(scope),
    )


# -- search -----------------------------------------------------------------------------------


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    """The last row's (at, id), as 32 URL-safe characters: microseconds since the epoch and
    the id's 16 bytes."""
    delta = at - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    raw = micros.to_bytes(8, "big", signed=True) + row_id.bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        if len(raw) != 24:
            raise ValueError(cursor)
        micros = int.from_bytes(raw[:8], "big", signed=True)
        return EPOCH + timedelta(microseconds=micros), uuid.UUID(bytes=raw[8:])
    except (ValueError, OverflowError) as exc:
        raise InvalidCursor() from exc


def _filtered(query: ApiCallQuery) -> Select[ApiCall]:
    statement = select(ApiCall)
    if query.app_id is not None:
        statement = statement.where(ApiCall.app_id == query.app_id)
    if query.customer_id is not None:
        statement = statement.where(ApiCall.customer_id == query.customer_id)
    if query.consent_id is not None:
        statement = statement.where(ApiCall.consent_id == query.consent_id)
    if query.interaction_id is not None:
        statement = statement.where(ApiCall.interaction_id == query.interaction_id)
    if query.status is not None:
        statement = statement.where(ApiCall.status == query.status)
    if query.path is not None:
        statement = statement.where(ApiCall.path == query.path)
    if query.since is not None:
        statement = statement.where(ApiCall.at >= query.since)
    if query.until is not None:
        statement = statement.where(ApiCall.at < query.until)
    return statement


def search(
    session: Session, query: ApiCallQuery, cursor: str | None, limit: int
) -> tuple[list[ApiCallOut], str | None]:
    """Calls matching `query`, newest first, `limit` of them after `cursor`."""
    statement = _filtered(query)
    if cursor:
        at, row_id = _decode_cursor(cursor)
        statement = statement.where(tuple_(ApiCall.at, ApiCall.id) < (at, row_id))
    rows = (
        session.execute(statement.order_by(ApiCall.at.desc(), ApiCall.id.desc()).limit(limit + 1))
        .scalars()
        .all()
    )
    page = rows[:limit]
    next_cursor = _encode_cursor(page[-1].at, page[-1].id) if len(rows) > limit else None
    return [ApiCallOut.model_validate(row) for row in page], next_cursor
