"""Client authentication by `private_key_jwt` only (RFC 7523 §2.2, FAPI 2.0 §5.3.1).

No shared secrets exist for apps: an app proves itself with a JWT signed by a key of its
registered JWKS (inline, or fetched from its `jwks_uri` and cached a few minutes). The
checks, in order: assertion type; `alg` PS256/ES256/EdDSA (never HS256, RS256 or none);
`iss` = `sub` = client_id of an active app of an active partner; signature by one of the
app's keys; `aud` the issuer, as a string (nothing else); `exp` not past; `iat`
present, not in the future, not older than `oauth_proof_max_age_seconds`; `jti` never used
before (kept in the shared table until the assertion could not be accepted anyway).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey
from sqlalchemy.orm import Session

from openbank.platform import service as platform
from openbank.platform.errors import AppNotFound, PlatformError
from openbank.platform.oauth import jose, replay
from openbank.platform.oauth.dpop import FUTURE_SKEW, MAX_JTI_LENGTH
from openbank.platform.oauth.errors import InvalidClient
from openbank.platform.oauth.jose import JoseCheckFailed
from openbank.platform.schemas import App

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
JWKS_CACHE_SECONDS = 300.0
JWKS_REFETCH_AFTER_SECONDS = 30.0  # an unknown kid refetches a cached JWKS at most this often
JWKS_FETCH_TIMEOUT_SECONDS = 3.0
JWKS_MAX_BYTES = 65536

_jwks_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks_lock = threading.Lock()


def authenticate(
    session: Session,
    form: Mapping[str, str],
    audiences: Collection[str],
    now: datetime,
    max_age_seconds: int,
) -> App:
    """The active app the request's client assertion proves, or InvalidClient."""
    if "client_secret" in form:
        raise InvalidClient("client secrets are not accepted; authenticate with private_key_jwt")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE} (private_key_jwt)")
    assertion = form.get("client_assertion")
    if not assertion:
        raise InvalidClient("client_assertion is required (private_key_jwt)")
    try:
        parsed = jose.peek(assertion)
        alg = jose.checked_alg(parsed.header)
    except JoseCheckFailed as exc:
        raise InvalidClient(f"client assertion: {exc}") from exc
    claims = parsed.claims

    issuer, subject = claims.get("iss"), claims.get("sub")
    if not isinstance(issuer, str) or issuer != subject:
        raise InvalidClient("the client assertion's iss and sub must both be the client_id")
    if "client_id" in form and form["client_id"] != issuer:
        raise InvalidClient("client_id does not match the client assertion")
    app_id = platform.parse_client_id(issuer)
    if app_id is None:
        raise InvalidClient("unknown client")
    try:
        app = platform.active_app(session, app_id)
    except AppNotFound as exc:
        raise InvalidClient("unknown client, or the app or its partner is not active") from exc

    if not _signed_by_app(app, assertion, alg, parsed.header.get("kid")):
        raise InvalidClient("the client assertion is not signed by a key registered for the app")
    # FAPI 2.0: the issuer as the sole, string-valued audience. Nothing taken from the
    # request (its Host header) can widen it: an assertion made for another server is refused.
    if claims.get("aud") not in audiences:
        raise InvalidClient("the client assertion's aud must be the issuer, as a string")
    keep_until = _check_times(claims, now, max_age_seconds)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise InvalidClient("the client assertion needs a jti")
    if not replay.first_use(session, f"client_assertion:{app.id}", jti, keep_until):
        raise InvalidClient("the client assertion was already used (jti replay)")
    return app


def _check_times(claims: dict[str, Any], now: datetime, max_age_seconds: int) -> datetime:
    try:
        exp = jose.numeric_date(claims, "exp")
        iat = jose.numeric_date(claims, "iat")
    except JoseCheckFailed as exc:
        raise InvalidClient(f"client assertion: {exc}") from exc
    if exp is None or iat is None:
        raise InvalidClient("the client assertion needs exp and iat")
    expires = datetime.fromtimestamp(exp, UTC)
    issued = datetime.fromtimestamp(iat, UTC)
    max_age = timedelta(seconds=max_age_seconds)
    if expires <= now:
        raise InvalidClient("the client assertion has expired")
    if issued > now + FUTURE_SKEW:
        raise InvalidClient("the client assertion's iat is in the future")
    if issued < now - max_age:
        raise InvalidClient(f"the client assertion is older than {max_age_seconds} seconds")
    return min(expires, issued + max_age + FUTURE_SKEW)


def _signed_by_app(app: App, assertion: str, alg: str, kid: Any) -> bool:
    if app.jwks is not None:
        return _verifies(app.jwks, assertion, alg, kid)
    if app.jwks_uri is None:
        return False
    if _verifies(_fetch_jwks(app.jwks_uri, refresh=False), assertion, alg, kid):
        return True
    # The app may have rotated its keys since we cached them.
    return _verifies(_fetch_jwks(app.jwks_uri, refresh=True), assertion, alg, kid)


def _verifies(jwks: Mapping[str, Any], assertion: str, alg: str, kid: Any) -> bool:
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError):
        return False
    for key in key_set.keys:
        if kid is not None and key.kid != kid:
            continue
        if not isinstance(key, RSAKey | ECKey | OKPKey) or key.is_private:
            continue
        if jose.verify(assertion, key, alg):
            return True
    return False


def _fetch_jwks(uri: str, *, refresh: bool) -> dict[str, Any]:
    now = time.monotonic()
    with _jwks_lock:
        cached = _jwks_cache.get(uri)
    if cached is not None:
        fetched_at, jwks = cached
        fresh = now - fetched_at < JWKS_CACHE_SECONDS
        if fresh and (not refresh or now - fetched_at < JWKS_REFETCH_AFTER_SECONDS):
            return jwks
    try:
        response = httpx.get(uri, timeout=JWKS_FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        response.raise_for_status()
        if len(response.content) > JWKS_MAX_BYTES:
            raise ValueError("the app's JWKS is too large")
        jwks = platform.validate_jwks(response.json())
    except (httpx.HTTPError, ValueError, PlatformError) as exc:
        if cached is not None:
            return cached[1]
        raise InvalidClient("the app's jwks_uri could not be fetched") from exc
    with _jwks_lock:
        _jwks_cache[uri] = (now, jwks)
    return jwks
