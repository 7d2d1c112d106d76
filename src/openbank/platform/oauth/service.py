"""The authorization server (FAPI 2.0 Security Profile): PAR, the code flow's back half,
the token endpoint, revocation and introspection.

Why written here rather than on a library: Authlib has PKCE and private_key_jwt but neither
PAR nor DPoP; idpy-oidc has all four but keeps sessions, grants and replay caches in process
memory, and two `openbank serve` processes must share every grant through PostgreSQL. So the
protocol rules are spelled out here, each with its own test, on joserfc for the JOSE parts.

Why opaque access tokens rather than JWTs: every partner call looks its token up anyway
(revocation, a revoked or expired consent, a suspended partner must stop access on the very
next call), so a self-contained JWT would buy nothing and could not be recalled. Tokens are
256 random bits, stored as SHA-256, DPoP-bound (`jkt`), in families (`Grant`) so one
compromise (a reused code or refresh token) revokes everything derived from it.

The customer's side (sign-in and consent pages) lives in `platform.signin` and calls
`authorization_request`, `approve` and `deny`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from openbank.core.database import Database, retrying
from openbank.core.errors import DomainError
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.platform import keys
from openbank.platform import service as platform
from openbank.platform.consents import service as consents
from openbank.platform.errors import AppNotFound
from openbank.platform.oauth import client_auth, dpop, replay
from openbank.platform.oauth.errors import (
    InvalidAuthorizationRequest,
    InvalidDpopProof,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    UnsupportedGrantType,
    UnsupportedResponseType,
)
from openbank.platform.oauth.jose import ALGORITHMS, b64url
from openbank.platform.oauth.models import AuthorizationCode, Grant, Token
from openbank.platform.oauth.models import AuthorizationRequest as RequestRow
from openbank.platform.oauth.schemas import (
    AuthorizationRequest,
    Confirmation,
    EndpointCall,
    Introspection,
    PushedRequest,
    TokenResponse,
)
from openbank.platform.schemas import App
from openbank.platform.scopes import ALL_SCOPES

T = TypeVar("T")

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
# Scopes that act on a customer's accounts or money: a consent must name what they cover.
CONSENT_SCOPES = frozenset({"accounts", "payments", "e_accounts"})
# What the customer sees on the consent page, by consent kind: nothing else may ride along.
SCOPES_OF_CONSENT_KIND: dict[str, frozenset[str]] = {
    "account_access": frozenset({"accounts", "e_accounts"}),
    "payment": frozenset({"payments"}),
}
_CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_JKT = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_STATE_LENGTH = 1024


# -- plumbing ---------------------------------------------------------------------------------


def committed(db: Database, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction that commits even when it raises a DomainError: a
    refused request still uses up its jtis and its code, and the revocations a reused code
    or refresh token triggers stick. Any other exception rolls back."""

    def attempt() -> T:
        with db.sessions() as session:
            try:
                result = work(session)
            except DomainError:
                session.commit()
                raise
            session.commit()
            return result

    return retrying(attempt)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _new_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _scope_string(scopes: frozenset[str] | list[str]) -> str:
    return " ".join(sorted(scopes))


def _parse_scope(raw: str | None, allowed: frozenset[str]) -> frozenset[str]:
    if raw is None or not raw.strip():
        raise InvalidScope("scope is required")
    scopes = frozenset(raw.split(" ")) - {""}
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise InvalidScope(f"unknown scopes: {', '.join(unknown)}", known=sorted(ALL_SCOPES))
    beyond = sorted(scopes - allowed)
    if beyond:
        raise InvalidScope(
            f"the app's subscriptions do not allow: {', '.join(beyond)}", allowed=sorted(allowed)
        )
    return scopes


def _uuid(value: str | None, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be a UUID") from exc


def _with_query(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _authenticate(session: Session, settings: Settings, call: EndpointCall, now: datetime) -> App:
    return client_auth.authenticate(
        session,
        call.form,
        (settings.public_url,),
        now,
        settings.oauth_proof_max_age_seconds,
    )


def _proof(session: Session, settings: Settings, call: EndpointCall, now: datetime) -> dpop.Proof:
    """The request's DPoP proof, checked and its jti used up (InvalidDpopProof if not)."""
    try:
        proof = dpop.verify_proof(
            call.dpop,
            method=call.method,
            urls=call.urls,
            now=now,
            max_age_seconds=settings.oauth_proof_max_age_seconds,
        )
    except dpop.DpopError as exc:
        raise InvalidDpopProof(str(exc)) from exc
    if not replay.first_use(session, f"dpop:{proof.jkt}", proof.jti, proof.keep_until):
        raise InvalidDpopProof("the DPoP proof was already used (jti replay)")
    replay.purge_expired(session, now)
    return proof


# -- discovery --------------------------------------------------------------------------------


def discovery(settings: Settings) -> dict[str, Any]:
    """RFC 8414 / OpenID discovery document: what a FAPI 2.0 client configures itself from."""
    issuer = settings.public_url
    algs = list(ALGORITHMS)
    return {
        "issuer": issuer,
        "pushed_authorization_request_endpoint": f"{issuer}/oauth2/par",
        "require_pushed_authorization_requests": True,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "introspection_endpoint": f"{issuer}/oauth2/introspect",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt"],
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt"],
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": algs,
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "scopes_supported": sorted(ALL_SCOPES),
    }


def jwks(session: Session, now: datetime) -> dict[str, Any]:
    """The bank's public keys (webhook signatures), making the first key if there is none."""
    keys.current_signing_key(session, now)
    return keys.public_jwks(session)


# -- PAR and the customer's decision ----------------------------------------------------------


def push_authorization_request(
    session: Session, settings: Settings, call: EndpointCall, now: datetime
) -> PushedRequest:
    """RFC 9126: validate an authorization request up front; a request_uri to authorize."""
    app = _authenticate(session, settings, call, now)
    form = call.form
    if "request_uri" in form:
        raise InvalidRequest("request_uri may not be pushed (RFC 9126 §2.1)")
    if "request" in form:
        raise InvalidRequest("request objects are not supported; push plain parameters")
    response_type = form.get("response_type")
    if response_type is None:
        raise InvalidRequest("response_type is required")
    if response_type != "code":
        raise UnsupportedResponseType("only response_type=code (no implicit or hybrid flows)")
    redirect_uri = form.get("redirect_uri")
    if redirect_uri is None:
        raise InvalidRequest("redirect_uri is required")
    if redirect_uri not in app.redirect_uris:
        raise InvalidRequest("redirect_uri is not one registered for the app")
    scopes = _parse_scope(form.get("scope"), frozenset(app.scopes))
    challenge = form.get("code_challenge")
    method = form.get("code_challenge_method")
    if challenge is None:
        raise InvalidRequest("code_challenge is required (PKCE)")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256 (plain is not accepted)")
    if not _CODE_CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be the base64url SHA-256 of the verifier")
    state = form.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise InvalidRequest(f"state is longer than {MAX_STATE_LENGTH} characters")

    consent_id = _uuid(form.get("consent_id"), "consent_id")
    if scopes & CONSENT_SCOPES and consent_id is None:
        raise InvalidRequest(
            f"scopes {', '.join(sorted(scopes & CONSENT_SCOPES))} need a consent_id: create"
            " the consent first, then push its id"
        )
    if consent_id is not None:
        try:
            consent = consents.for_authorization(session, consent_id, app.id, now)
        except DomainError as exc:
            raise InvalidRequest(f"consent: {exc.detail}", consent_error=exc.code) from exc
        # The consent page shows the consent: a scope it does not cover would go unseen.
        beyond = scopes - SCOPES_OF_CONSENT_KIND[consent.kind]
        if beyond:
            raise InvalidScope(
                f"scopes {', '.join(sorted(beyond))} are not part of a {consent.kind} consent;"
                " ask for them in an authorization of their own"
            )

    # RFC 9449 §10: a DPoP proof at PAR, or the `dpop_jkt` parameter, binds the code to a key.
    dpop_jkt = form.get("dpop_jkt")
    if call.dpop is not None:
        proven = _proof(session, settings, call, now).jkt
        if dpop_jkt is not None and dpop_jkt != proven:
            raise InvalidDpopProof("dpop_jkt differs from the key of the DPoP proof")
        dpop_jkt = proven
    if dpop_jkt is not None and not _JKT.fullmatch(dpop_jkt):
        raise InvalidRequest("dpop_jkt must be a base64url SHA-256 JWK thumbprint")
    request_uri = REQUEST_URI_PREFIX + _new_secret()
    session.add(
        RequestRow(
            id=new_id(),
            request_uri_sha256=digest(request_uri),
            app_id=app.id,
            issuer=settings.public_url,
            redirect_uri=redirect_uri,
            scopes=sorted(scopes),
            state=state,
            code_challenge=challenge,
            consent_id=consent_id,
            dpop_jkt=dpop_jkt,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.oauth_request_uri_seconds),
        )
    )
    session.flush()
    return PushedRequest(request_uri=request_uri, expires_in=settings.oauth_request_uri_seconds)


def authorization_request(
    session: Session, client_id: str, request_uri: str, now: datetime
) -> AuthorizationRequest:
    """The pushed request a browser brought to /oauth2/authorize (client_id + request_uri),
    if it is still pending; InvalidAuthorizationRequest otherwise."""
    row = session.execute(
        select(RequestRow).where(RequestRow.request_uri_sha256 == digest(request_uri))
    ).scalar_one_or_none()
    app_id = platform.parse_client_id(client_id)
    if row is None or app_id is None or row.app_id != app_id:
        raise InvalidAuthorizationRequest("unknown request_uri for this client")
    app = _pending_app(session, row, now)
    partner = platform.get_partner(session, app.partner_id)
    return AuthorizationRequest(
        id=row.id,
        app_id=app.id,
        app_name=app.name,
        partner_name=partner.legal_name,
        redirect_uri=row.redirect_uri,
        scopes=frozenset(row.scopes),
        state=row.state,
        consent_id=row.consent_id,
        expires_at=row.expires_at,
    )


def _pending_app(session: Session, row: RequestRow, now: datetime) -> App:
    if row.used_at is not None:
        raise InvalidAuthorizationRequest("the authorization request was already used")
    if row.expires_at <= now:
        raise InvalidAuthorizationRequest("the authorization request has expired; push a new one")
    try:
        return platform.active_app(session, row.app_id)
    except AppNotFound as exc:
        raise InvalidAuthorizationRequest("the app is no longer active") from exc


def _locked_request(session: Session, request_id: uuid.UUID, now: datetime) -> RequestRow:
    row = session.execute(
        select(RequestRow).where(RequestRow.id == request_id).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        raise InvalidAuthorizationRequest("unknown authorization request")
    _pending_app(session, row, now)
    return row


def approve(session: Session, request_id: uuid.UUID, customer_id: uuid.UUID, now: datetime) -> str:
    """The customer approved (after the pages authorised the consent, if any): issue a
    single-use code bound to everything the request named; the redirect back to the app."""
    row = _locked_request(session, request_id, now)
    if row.consent_id is not None:
        # The consent must now be authorised, by this customer, for this app.
        consents.require_active(session, row.consent_id, row.app_id, customer_id, now)
    row.used_at = now
    row.outcome = "approved"
    row.customer_id = customer_id
    code = _new_secret()
    session.add(
        AuthorizationCode(
            id=new_id(),
            code_sha256=digest(code),
            request_id=row.id,
            app_id=row.app_id,
            customer_id=customer_id,
            consent_id=row.consent_id,
            redirect_uri=row.redirect_uri,
            code_challenge=row.code_challenge,
            scopes=row.scopes,
            dpop_jkt=row.dpop_jkt,
            issued_at=now,
        )
    )
    session.flush()
    return _with_query(row.redirect_uri, {"code": code, "state": row.state, "iss": row.issuer})


def deny(
    session: Session, request_id: uuid.UUID, now: datetime, error: str = "access_denied"
) -> str:
    """The customer refused (or the flow failed): the error redirect back to the app."""
    row = _locked_request(session, request_id, now)
    row.used_at = now
    row.outcome = "denied"
    session.flush()
    return _with_query(row.redirect_uri, {"error": error, "state": row.state, "iss": row.issuer})


# -- the token endpoint -----------------------------------------------------------------------


def token(session: Session, settings: Settings, call: EndpointCall, now: datetime) -> TokenResponse:
    """POST /oauth2/token: private_key_jwt always, a DPoP proof always; three grants."""
    app = _authenticate(session, settings, call, now)
    grant_type = call.form.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("grant_type is required")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType(
            f"grant_type {grant_type} is not supported", supported=list(GRANT_TYPES)
        )
    proof = _proof(session, settings, call, now)
    if grant_type == "authorization_code":
        return _code_grant(session, settings, app, call.form, proof, now)
    if grant_type == "refresh_token":
        return _refresh_grant(session, settings, app, call.form, proof, now)
    return _client_credentials_grant(session, settings, app, call.form, proof, now)


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name)
    if value is None:
        raise InvalidRequest(f"{name} is required")
    return value


def _code_grant(
    session: Session,
    settings: Settings,
    app: App,
    form: Mapping[str, str],
    proof: dpop.Proof,
    now: datetime,
) -> TokenResponse:
    code = _required(form, "code")
    redirect_uri = _required(form, "redirect_uri")
    verifier = _required(form, "code_verifier")
    row = session.execute(
        select(AuthorizationCode)
        .where(AuthorizationCode.code_sha256 == digest(code))
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or row.app_id != app.id:
        raise InvalidGrant("unknown authorization code")
    if row.redeemed_at is not None:
        revoked = _revoke_grants(session, Grant.code_id == row.id, now)
        raise InvalidGrant(
            "the authorization code was already used; every token issued from it is revoked",
            revoked_tokens=revoked,
        )
    row.redeemed_at = now  # single use, even when a check below refuses this attempt
    if now - row.issued_at > timedelta(seconds=settings.oauth_code_seconds):
        raise InvalidGrant(f"the authorization code expired ({settings.oauth_code_seconds} s)")
    if redirect_uri != row.redirect_uri:
        raise InvalidGrant("redirect_uri differs from the one in the authorization request")
    if not _CODE_VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier must be 43 to 128 unreserved characters")
    if not secrets.compare_digest(b64url(digest(verifier)), row.code_challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge (PKCE S256)")
    if row.dpop_jkt is not None and row.dpop_jkt != proof.jkt:
        raise InvalidDpopProof("the DPoP key is not the one the authorization request bound")

    refresh_expires = now + timedelta(days=settings.oauth_refresh_token_days)
    if row.consent_id is not None:
        refresh_expires = min(
            refresh_expires, _consent_expiry(session, row.consent_id, app.id, row.customer_id, now)
        )
    grant = Grant(
        id=new_id(),
        app_id=app.id,
        kind="authorization_code",
        code_id=row.id,
        customer_id=row.customer_id,
        consent_id=row.consent_id,
        scopes=row.scopes,
        jkt=proof.jkt,
        created_at=now,
    )
    session.add(grant)
    session.flush()
    access, expires_in = _issue_access(session, settings, grant, frozenset(row.scopes), now)
    refresh = _issue(session, grant, "refresh", frozenset(row.scopes), now, refresh_expires)
    return TokenResponse(
        access_token=access,
        expires_in=expires_in,
        scope=_scope_string(row.scopes),
        refresh_token=refresh,
    )


def _consent_expiry(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> datetime:
    try:
        return consents.require_active(session, consent_id, app_id, customer_id, now).expires_at
    except DomainError as exc:
        raise InvalidGrant(f"consent: {exc.detail}", consent_error=exc.code) from exc


def _refresh_grant(
    session: Session,
    settings: Settings,
    app: App,
    form: Mapping[str, str],
    proof: dpop.Proof,
    now: datetime,
) -> TokenResponse:
    presented = _required(form, "refresh_token")
    row = session.execute(
        select(Token)
        .where(Token.token_sha256 == digest(presented), Token.kind == "refresh")
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or row.app_id != app.id:
        raise InvalidGrant("unknown refresh token")
    if row.revoked_at is not None:
        raise InvalidGrant("the refresh token was revoked")
    if row.rotated_at is not None:
        revoked = _revoke_grants(session, Grant.id == row.grant_id, now)
        raise InvalidGrant(
            "the refresh token was already used; its whole grant is revoked",
            revoked_tokens=revoked,
        )
    if row.expires_at <= now:
        raise InvalidGrant("the refresh token has expired")
    if row.jkt != proof.jkt:
        raise InvalidDpopProof("the DPoP key is not the one the refresh token is bound to")
    grant = session.get(Grant, row.grant_id)
    if grant is None or grant.revoked_at is not None:
        raise InvalidGrant("the grant was revoked")
    granted = frozenset(row.scopes)
    requested = granted if form.get("scope") is None else frozenset(form["scope"].split())
    if not requested or not requested <= granted:
        raise InvalidScope("a refresh may only narrow the granted scope", granted=sorted(granted))
    scopes = requested & frozenset(app.scopes)
    if not scopes:
        raise InvalidScope("the app's subscriptions no longer allow any of these scopes")
    refresh_expires = row.expires_at
    if row.consent_id is not None and row.customer_id is not None:
        refresh_expires = min(
            refresh_expires,
            _consent_expiry(session, row.consent_id, app.id, row.customer_id, now),
        )
    row.rotated_at = now
    access, expires_in = _issue_access(session, settings, grant, scopes, now)
    refresh = _issue(session, grant, "refresh", granted, now, refresh_expires)
    return TokenResponse(
        access_token=access,
        expires_in=expires_in,
        scope=_scope_string(scopes),
        refresh_token=refresh,
    )


def _client_credentials_grant(
    session: Session,
    settings: Settings,
    app: App,
    form: Mapping[str, str],
    proof: dpop.Proof,
    now: datetime,
) -> TokenResponse:
    allowed = frozenset(app.scopes)
    scopes = _parse_scope(form["scope"], allowed) if "scope" in form else allowed
    if not scopes:
        raise InvalidScope("the app subscribes to no product, so it has no scope to ask for")
    grant = Grant(
        id=new_id(),
        app_id=app.id,
        kind="client_credentials",
        scopes=sorted(scopes),
        jkt=proof.jkt,
        created_at=now,
    )
    session.add(grant)
    session.flush()
    access, expires_in = _issue_access(session, settings, grant, scopes, now)
    return TokenResponse(access_token=access, expires_in=expires_in, scope=_scope_string(scopes))


def _issue_access(
    session: Session, settings: Settings, grant: Grant, scopes: frozenset[str], now: datetime
) -> tuple[str, int]:
    lifetime = settings.oauth_access_token_seconds
    return _issue(
        session, grant, "access", scopes, now, now + timedelta(seconds=lifetime)
    ), lifetime


def _issue(
    session: Session,
    grant: Grant,
    kind: str,
    scopes: frozenset[str],
    now: datetime,
    expires_at: datetime,
) -> str:
    secret = _new_secret()
    session.add(
        Token(
            id=new_id(),
            token_sha256=digest(secret),
            kind=kind,
            grant_id=grant.id,
            app_id=grant.app_id,
            customer_id=grant.customer_id,
            consent_id=grant.consent_id,
            scopes=sorted(scopes),
            jkt=grant.jkt,
            issued_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    return secret


def _revoke_grants(session: Session, which: Any, now: datetime) -> int:
    """Revoke the grants matching `which` and every token they hold; how many tokens."""
    grant_ids = list(session.execute(select(Grant.id).where(which)).scalars())
    if not grant_ids:
        return 0
    session.execute(
        update(Grant)
        .where(Grant.id.in_(grant_ids), Grant.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    revoked = session.execute(
        update(Token)
        .where(Token.grant_id.in_(grant_ids), Token.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(Token.id)
    )
    return len(revoked.all())


# -- revocation and introspection -------------------------------------------------------------


def revoke(session: Session, settings: Settings, call: EndpointCall, now: datetime) -> None:
    """RFC 7009: revoke a token of the calling app. A refresh token takes its whole grant
    (every access token issued from it) along; an unknown token is not an error."""
    app = _authenticate(session, settings, call, now)
    presented = _required(call.form, "token")
    row = session.execute(
        select(Token).where(Token.token_sha256 == digest(presented))
    ).scalar_one_or_none()
    if row is None or row.app_id != app.id:
        return
    if row.kind == "refresh":
        _revoke_grants(session, Grant.id == row.grant_id, now)
    elif row.revoked_at is None:
        row.revoked_at = now
        session.flush()


def introspect(
    session: Session, settings: Settings, call: EndpointCall, now: datetime
) -> Introspection:
    """RFC 7662 for the calling app's own tokens; anything else is just inactive."""
    app = _authenticate(session, settings, call, now)
    presented = _required(call.form, "token")
    found = session.execute(
        select(Token, Grant.revoked_at)
        .join(Grant, Grant.id == Token.grant_id)
        .where(Token.token_sha256 == digest(presented))
    ).first()
    if found is None:
        return Introspection(active=False)
    row, grant_revoked_at = found
    if (
        row.app_id != app.id
        or row.revoked_at is not None
        or grant_revoked_at is not None
        or row.expires_at <= now
        or row.rotated_at is not None
    ):
        return Introspection(active=False)
    if row.consent_id is not None and row.customer_id is not None:
        try:  # a token is only as alive as its consent (revoked: the next call is refused)
            consents.require_active(session, row.consent_id, app.id, row.customer_id, now)
        except DomainError:
            return Introspection(active=False)
    return Introspection(
        active=True,
        scope=_scope_string(row.scopes),
        client_id=str(row.app_id),
        token_type="DPoP" if row.kind == "access" else "refresh_token",
        exp=int(row.expires_at.timestamp()),
        iat=int(row.issued_at.timestamp()),
        iss=settings.public_url,
        sub=str(row.customer_id) if row.customer_id is not None else None,
        consent_id=str(row.consent_id) if row.consent_id is not None else None,
        cnf=Confirmation(jkt=row.jkt),
    )


# -- housekeeping ---------------------------------------------------------------------------

PURGE_AFTER = timedelta(days=1)


def purge_expired(session: Session, now: datetime, batch: int = 10_000) -> int:
    """Delete tokens expired a day ago and pushed requests that expired a day ago unused (a
    periodic job). Grants and codes stay: they are the record of what was granted, and a
    replayed old code must still find its grant to revoke. Returns how many rows went."""
    cutoff = now - PURGE_AFTER
    tokens = session.execute(
        delete(Token)
        .where(Token.id.in_(select(Token.id).where(Token.expires_at < cutoff).limit(batch)))
        .returning(Token.id)
    ).all()
    unused = (
        select(RequestRow.id)
        .where(
            RequestRow.expires_at < cutoff,
            ~select(AuthorizationCode.id)
            .where(AuthorizationCode.request_id == RequestRow.id)
            .exists(),
        )
        .limit(batch)
    )
    requests = session.execute(
        delete(RequestRow).where(RequestRow.id.in_(unused)).returning(RequestRow.id)
    ).all()
    return len(tokens) + len(requests)
