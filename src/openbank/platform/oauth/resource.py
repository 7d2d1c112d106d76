"""Resource-server side of the authorization server: turns a DPoP-bound access token into a
PartnerCall for partner-facing endpoints.

This runs on every partner call, so it is kept to one thread-pool hop and few round trips:
the proof is checked in memory first (signature, htm, htu, iat, ath); then, on an
autocommit connection of its own engine (no pre-ping, no BEGIN/COMMIT), ONE statement reads
the token and records the proof's jti (a grant's revocation is stamped on its tokens, so
no join is needed), then the app is read (`active_app`) and, for a customer token, the
consent (`consents.require_active`), so a revoked consent, a disabled app, a suspended
partner or a dropped subscription stops access on the very next call. The rate limit then
counts the call (`gateway.enforce_rate_limit`).

Errors are 401 with `WWW-Authenticate: DPoP error="..."` (RFC 9449 §7.1) or 403
`insufficient_scope`; they carry the challenge in `headers` for the HTTP layer to send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from openbank.core.clock import Clock
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.platform import service as platform
from openbank.platform.consents import service as consents
from openbank.platform.consents.models import Consent as ConsentRow
from openbank.platform.errors import AppNotFound
from openbank.platform.gateway import service as gateway
from openbank.platform.models import App, Partner
from openbank.platform.oauth import dpop, replay
from openbank.platform.oauth.errors import (
    InsufficientScope,
    InvalidResourceProof,
    InvalidToken,
    TokenRequired,
)
from openbank.platform.oauth.models import Grant, Token
from openbank.platform.oauth.service import digest
from openbank.platform.principal import PartnerCall
from openbank.platform.scopes import product_of_scope

PLATFORM_PRODUCT = "platform"  # rate-limit bucket of app-level calls (webhook deliveries)
POOL_SIZE = 8
# A used jti lost in a database crash could let a captured proof be replayed within its
# minute; not waiting for the WAL flush on every partner call is worth that.
JTI_OPTIONS = "-c synchronous_commit=off"


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    """What the resource check needs from an HTTP request."""

    method: str
    urls: tuple[str, ...]  # the URL as published: public_url + path
    authorization: list[str]  # every Authorization header sent
    dpop: list[str]  # every DPoP header sent


def access_token_of(request: ResourceRequest) -> str:
    """The token of `Authorization: DPoP <token>`; a Bearer token is refused because every
    token of this server is DPoP-bound (RFC 9449 §7.2)."""
    if not request.authorization:
        raise TokenRequired()
    if len(request.authorization) > 1:
        raise InvalidToken("send exactly one Authorization header")
    scheme, _, value = request.authorization[0].strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        raise InvalidToken("access tokens are DPoP-bound: use Authorization: DPoP <token>")
    if scheme.lower() != "dpop" or not value:
        raise TokenRequired("use Authorization: DPoP <access token> with a DPoP proof")
    return value


def authenticate(
    session: Session,
    settings: Settings,
    request: ResourceRequest,
    scope: str | None,
    now: datetime,
) -> PartnerCall:
    """The PartnerCall of a partner request that needs `scope` (None: any token of the app).
    Every check named in the module docstring; raises the matching 401/403 error."""
    access_token = access_token_of(request)
    if len(request.dpop) != 1:
        raise InvalidResourceProof("send exactly one DPoP header with the access token")
    try:
        proof = dpop.verify_proof(
            request.dpop[0],
            method=request.method,
            urls=request.urls,
            now=now,
            max_age_seconds=settings.oauth_proof_max_age_seconds,
            access_token=access_token,
        )
    except dpop.DpopError as exc:
        raise InvalidResourceProof(str(exc)) from exc

    # One statement: the token, its app with the partner's status and the app's products, its
    # consent (tables of this same platform context; the consents service judges the row),
    # and the proof's jti recorded (a data-modifying CTE). It runs on every partner call, so
    # it is one round trip, not four.
    used = replay.record(f"dpop:{proof.jkt}", proof.jti, proof.keep_until).cte("used")
    first_use = select(func.count()).select_from(used).scalar_subquery()
    found = session.execute(
        select(
            Token,
            first_use,
            App,
            Partner.status,
            platform.subscribed_products(Token.app_id),
            ConsentRow,
            Grant.revoked_at,
        )
        .join(Grant, Grant.id == Token.grant_id)
        .join(App, App.id == Token.app_id)
        .join(Partner, Partner.id == App.partner_id)
        .outerjoin(ConsentRow, ConsentRow.id == Token.consent_id)
        .where(Token.token_sha256 == digest(access_token), Token.kind == "access")
        .execution_options(populate_existing=True)
    ).first()
    if found is None:
        raise InvalidToken("the access token is unknown, expired or revoked")
    row, fresh, app_row, partner_status, products, consent_row, grant_revoked_at = found
    # The grant too: a refresh racing a revocation may have minted a token after the
    # revocation stamped the grant's tokens.
    if row.revoked_at is not None or grant_revoked_at is not None or row.expires_at <= now:
        raise InvalidToken("the access token is unknown, expired or revoked")
    if row.jkt != proof.jkt:
        raise InvalidResourceProof("the DPoP proof is not signed by the key the token is bound to")
    if not fresh:
        raise InvalidResourceProof("the DPoP proof was already used (jti replay)")
    replay.purge_expired(session, now)

    try:
        app = platform.usable_app(app_row, partner_status, products)
    except AppNotFound as exc:
        raise InvalidToken("the app or its partner is no longer active") from exc
    if scope is not None and scope not in row.scopes:
        raise InsufficientScope(f"the token was not granted scope {scope}", scope=scope)
    if scope is not None and scope not in app.scopes:
        raise InsufficientScope(
            f"the app's subscriptions no longer include scope {scope}", scope=scope
        )
    consent = None
    if row.consent_id is not None and row.customer_id is not None:
        consent = consents.require_active_row(session, consent_row, app.id, row.customer_id, now)
    return PartnerCall(
        app_id=app.id,
        partner_id=app.partner_id,
        environment=app.environment,
        scopes=frozenset(row.scopes) & frozenset(app.scopes),
        channel="oauth",
        customer_id=row.customer_id,
        consent_id=row.consent_id,
        token_id=row.id,
        consent=consent,
    )


def _resource_request(request: Request, settings: Settings) -> ResourceRequest:
    return ResourceRequest(
        method=request.method,
        # As published (public_url), never rebuilt from the request's Host header.
        urls=(settings.public_url + request.url.path,),
        authorization=request.headers.getlist("authorization"),
        dpop=request.headers.getlist("dpop"),
    )


def check(
    db: Database,
    settings: Settings,
    request: ResourceRequest,
    scope: str | None,
    now: datetime,
    product: str | None = None,
    authenticated: Callable[[PartnerCall], None] | None = None,
) -> PartnerCall:
    """`authenticate` on an autocommit connection: every statement commits on its own (the
    jti stays used even when the call is refused), and no BEGIN/COMMIT round trips. Writes
    that must be atomic open their own transaction on the same engine (as consents does
    when it records an expiry). With `product`, the call is then counted against the app's
    rate limit on the same connection (`authenticated` hears of the call first, so a 429 is
    still audited with who made it)."""
    for attempt in (1, 2):
        try:
            with db.side_engine("oauth", POOL_SIZE, JTI_OPTIONS).connect() as connection:
                with Session(bind=connection) as session:
                    call = authenticate(session, settings, request, scope, now)
                if authenticated is not None:
                    authenticated(call)
                if product is not None:
                    _count_call(db, call, product, now, connection)
                return call
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def _count_call(
    db: Database, call: PartnerCall, product: str, now: datetime, connection: Connection
) -> None:
    try:
        gateway.enforce_rate_limit(db, call.app_id, product, now, connection)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        # Authenticated already (its jti is spent): count on the limiter's own connection.
        gateway.enforce_rate_limit(db, call.app_id, product, now)


def _checked(request: Request, scope: str | None, product: str) -> PartnerCall:
    settings: Settings = request.app.state.settings
    db: Database = request.app.state.db
    clock: Clock = request.app.state.clock

    def authenticated(call: PartnerCall) -> None:
        request.state.partner_call = call

    return check(
        db,
        settings,
        _resource_request(request, settings),
        scope,
        clock.now(),
        product,
        authenticated,
    )


def partner_call(scope: str) -> Any:
    """A FastAPI dependency (use as `Annotated[PartnerCall, partner_call("accounts")]`):
    authenticates `Authorization: DPoP <token>` + `DPoP: <proof>`, requires `scope` in the
    token, checks app, partner and (for customer tokens) consent are still active, enforces
    the rate limit of the scope's product, sets `request.state.partner_call` and returns it."""
    product = product_of_scope(scope)

    async def dependency(request: Request) -> PartnerCall:
        return await run_in_threadpool(_checked, request, scope, product)

    return Depends(dependency)


def app_call() -> Any:
    """The same for partner-level endpoints that belong to no product (webhook deliveries):
    any valid token of the app; rate limited as product "platform"."""

    async def dependency(request: Request) -> PartnerCall:
        return await run_in_threadpool(_checked, request, None, PLATFORM_PRODUCT)

    return Depends(dependency)
