"""HTTP plumbing shared by every router: problem details, request ids, operator auth."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError as SQLAlchemyDataError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openbank.core.clock import Clock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError, Forbidden, Unauthorized
from openbank.core.idempotency import request_fingerprint, run_once
from openbank.core.settings import Settings

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON


def problem_response(status: int, body: dict[str, Any]) -> ProblemResponse:
    return ProblemResponse(body, status_code=status)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def _note_problem(request: Request, code: str) -> None:
    """Remember the problem code of the response, so the API audit log can record it
    without parsing the body again."""
    request.state.problem_code = code


def internal_error_body(instance: str) -> dict[str, Any]:
    return {
        "type": "https://openbank.dev/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "The server failed to handle the request; nothing was committed.",
        "code": "internal_error",
        "instance": instance,
    }


def install_problem_handlers(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, DomainError)
        _note_problem(request, exc.code)
        response = problem_response(exc.status, exc.problem(instance=request.url.path))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def validation_error(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, RequestValidationError)
        _note_problem(request, "validation_error")
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            422,
            {
                "type": "https://openbank.dev/problems/validation-error",
                "title": "The request is not valid",
                "status": 422,
                "detail": "; ".join(
                    f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems
                ),
                "code": "validation_error",
                "instance": request.url.path,
                "errors": problems,
            },
        )

    async def http_error(request: Request, exc: Exception) -> ProblemResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        _note_problem(request, code)
        response = problem_response(
            exc.status_code,
            {
                "type": f"https://openbank.dev/problems/{code.replace('_', '-')}",
                "title": str(exc.detail),
                "status": exc.status_code,
                "detail": str(exc.detail),
                "code": code,
                "instance": request.url.path,
            },
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def unexpected_error(request: Request, exc: Exception) -> ProblemResponse:
        log.exception("http.unhandled_error", path=request.url.path)
        return problem_response(500, internal_error_body(request.url.path))

    async def data_error(request: Request, exc: Exception) -> ProblemResponse:
        # PostgreSQL's data exceptions (class 22: a NUL in text, a number out of range) are
        # input the schemas let through: the transaction rolled back, so it is a 422.
        log.warning("http.data_error", path=request.url.path, error=str(exc.__cause__ or exc))
        _note_problem(request, "invalid_input")
        return problem_response(
            422,
            {
                "type": "https://openbank.dev/problems/invalid-input",
                "title": "The request holds a value the bank cannot store",
                "status": 422,
                "detail": "a text with a NUL character, or a number out of range",
                "code": "invalid_input",
                "instance": request.url.path,
            },
        )

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(SQLAlchemyDataError, data_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


_UUID_TEXT = re.compile(
    rb"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)


def interaction_id_of(value: bytes | None) -> str:
    """FAPI's x-fapi-interaction-id: the client's value when it is an RFC 4122 UUID (so logs,
    the audit log and the partner's own records correlate), otherwise a fresh UUID4."""
    if value is not None and _UUID_TEXT.match(value):
        return value.decode()
    return str(uuid.uuid4())


class RequestIdMiddleware:
    """Every response carries x-request-id and x-fapi-interaction-id (echoed when the client
    sent a UUID, generated otherwise), errors included.

    Both ids are in `request.state` (request_id, interaction_id). An exception that no
    handler turned into a response becomes the 500 problem here, inside this middleware, so
    even that response carries the ids (Starlette's own last-resort handler runs outside
    every middleware and would send it without them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = str(uuid.uuid4())
        sent: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-fapi-interaction-id":
                sent = value
        interaction_id = interaction_id_of(sent)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["interaction_id"] = interaction_id
        ids = [
            (b"x-request-id", request_id.encode()),
            (b"x-fapi-interaction-id", interaction_id.encode()),
        ]
        started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *ids]
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:
            if started:
                raise
            log.exception("http.unhandled_error", path=scope.get("path", ""))
            response = problem_response(500, internal_error_body(scope.get("path", "")))
            await response(scope, receive, send_with_ids)


# -- dependencies -------------------------------------------------------------------------
# Async on purpose: trivial dependencies declared `def` would each cost a thread-pool hop.


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_clock_dep(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


@dataclass(frozen=True, slots=True)
class OperatorIdentity:
    """Who called an operator endpoint: a signed-in operator, or the bootstrap admin token."""

    username: str
    roles: frozenset[str]
    operator_id: uuid.UUID | None  # None for the bootstrap token

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & {"admin", *roles})


BOOTSTRAP = OperatorIdentity(username="bootstrap", roles=frozenset({"admin"}), operator_id=None)
# Set by the application: looks an operator session token up (platform.service).
OperatorLookup = Callable[[str], OperatorIdentity | None]


async def require_operator(request: Request) -> OperatorIdentity:
    """An operator session token (POST /v1/operator-sessions) or the bootstrap admin token
    (OPENBANK_ADMIN_TOKEN: for creating the first operator and for automation)."""
    settings: Settings = request.app.state.settings
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        if secrets.compare_digest(token.encode(), settings.admin_token.encode()):
            return BOOTSTRAP
        lookup: OperatorLookup | None = getattr(request.app.state, "operator_lookup", None)
        if lookup is not None:
            identity = await run_in_threadpool(lookup, token)
            if identity is not None:
                return identity
    raise Unauthorized(
        "operator endpoints need Authorization: Bearer <operator session token>"
        " (POST /v1/operator-sessions) or the bootstrap OPENBANK_ADMIN_TOKEN"
    )


def operator_with(*roles: str) -> Any:
    """A dependency that admits operators holding one of `roles` (admins always)."""

    async def check(request: Request) -> OperatorIdentity:
        identity = await require_operator(request)
        if not identity.has_role(*roles):
            raise Forbidden(f"needs one of the roles: {', '.join(('admin', *roles))}")
        return identity

    return Depends(check)


OPERATOR_SCOPE = "operator"  # idempotency scope of operator requests

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Retries with the same key and body return the first result.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size, at most 1000.")]
Cursor = Annotated[str | None, Query(max_length=64, description="`next_cursor` of the last page.")]


def next_link(request: Request, next_cursor: str | None, limit: int) -> str | None:
    """The URL of the next page of a cursor-paginated list, or None on the last page."""
    if next_cursor is None:
        return None
    return str(request.url.include_query_params(cursor=next_cursor, limit=limit))


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_db)]
ClockDep = Annotated[Clock, Depends(get_clock_dep)]
Operator = Annotated[OperatorIdentity, Depends(require_operator)]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_JSON: {}}}
    for status, description in {
        400: "Bad request",
        401: "Missing or wrong credentials",
        403: "Authenticated, but not allowed",
        404: "Not found",
        409: "Conflict (idempotency key reuse, state)",
        422: "Refused by a business rule or invalid input",
    }.items()
}


def created_or_found(
    work: Callable[[Session], tuple[BaseModel, bool]],
) -> tuple[Callable[[], int], Callable[[Session], BaseModel]]:
    """For a POST that makes an object once per the client's own number (an order's
    `out_trade_no`): the status to answer, asked after the call (201 when it made the object,
    200 when it found the earlier one), and the call itself, for `idempotent_post`."""
    created = False

    def run(session: Session) -> BaseModel:
        nonlocal created
        made, created = work(session)
        return made

    return (lambda: 201 if created else 200), run


def idempotent_post(
    db: Database,
    request: Request,
    response: Response,
    idempotency_key: str | None,
    body: BaseModel | None,
    status: int | Callable[[], int],
    work: Callable[[Session], BaseModel],
    *,
    scope: str = OPERATOR_SCOPE,
    now: datetime | None = None,
    expired_before: datetime | None = None,
) -> object:
    """Run one service call in a unit of work, at most once per (scope, Idempotency-Key);
    a record older than `expired_before` counts as new (see `run_once`). `status` may be a
    function asked after the call (201 when it created something, 200 when it found it)."""

    def outcome(session: Session) -> tuple[int, Any]:
        payload = work(session).model_dump(mode="json", by_alias=True)
        return (status() if callable(status) else status), payload

    fingerprint = request_fingerprint(
        "POST", request.url.path, body.model_dump(mode="json") if body is not None else None
    )
    code, payload, replayed = unit_of_work(
        db,
        lambda s: run_once(
            s,
            scope,
            idempotency_key,
            fingerprint,
            lambda: outcome(s),
            now=now,
            expired_before=expired_before,
        ),
    )
    response.status_code = code
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return payload
