"""DPoP proofs (RFC 9449): what makes a stolen access token useless without its key.

Authlib has no DPoP, and idpy-oidc keeps its replay cache in process memory, so the checks
are written out here, one per rule of RFC 9449 §4.3: `typ` dpop+jwt; `alg` PS256, ES256 or
EdDSA; a public `jwk` in the header that verifies the signature; `htm` the request's method;
`htu` the request's URL without query and fragment; `iat` recent; `jti` never seen before
(checked by the caller against the shared table, see `replay`); `ath` the token's hash on
resource requests. The key's RFC 7638 thumbprint (`jkt`) is what tokens are bound to.

`verify_proof` is pure (no database): the caller records the jti in the same transaction
that uses the proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from openbank.platform.oauth import jose
from openbank.platform.oauth.jose import JoseCheckFailed

# How far ahead of our clock a proof's iat may be (clients' clocks drift a little).
FUTURE_SKEW = timedelta(seconds=10)
MAX_JTI_LENGTH = 256
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class DpopError(Exception):
    """The proof breaks a rule of RFC 9449; the message says which."""


@dataclass(frozen=True, slots=True)
class Proof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's key
    jti: str
    keep_until: datetime  # how long its jti must be remembered


def normalize_url(url: str) -> str:
    """scheme://host[:port]/path, lower-cased scheme and host, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in {("http", 80), ("https", 443)}:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def verify_proof(
    proof: str | None,
    *,
    method: str,
    urls: Iterable[str],
    now: datetime,
    max_age_seconds: int,
    access_token: str | None = None,
) -> Proof:
    """Check a DPoP proof for a request of `method` to one of `urls` (the same endpoint as
    the issuer names it and as it was reached); `access_token` on resource requests."""
    if not proof:
        raise DpopError("a DPoP proof (the DPoP header) is required")
    try:
        parsed = jose.peek(proof)
        alg = jose.checked_alg(parsed.header)
    except JoseCheckFailed as exc:
        raise DpopError(str(exc)) from exc
    header, claims = parsed.header, parsed.claims
    if header.get("typ") != "dpop+jwt":
        raise DpopError('the proof\'s typ must be "dpop+jwt"')
    key = _public_key(header.get("jwk"), alg)
    if not jose.verify(proof, key, alg):
        raise DpopError("the proof's signature does not verify with its jwk")

    if claims.get("htm") != method.upper():
        raise DpopError(f"htm must be the request's method, {method.upper()}")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalize_url(htu) not in {normalize_url(u) for u in urls}:
        raise DpopError("htu must be the URL of this endpoint, without query or fragment")

    keep_until = _check_iat(claims, now, max_age_seconds)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
        raise DpopError(f"jti must be a unique string of at most {MAX_JTI_LENGTH} characters")

    if access_token is not None and claims.get("ath") != jose.sha256_b64url(access_token):
        raise DpopError("ath must be the base64url SHA-256 of the access token")
    return Proof(jkt=key.thumbprint(), jti=jti, keep_until=keep_until)


def _public_key(jwk: Any, alg: str) -> jose.PublicKey:
    if not isinstance(jwk, dict):
        raise DpopError("the proof's header must carry the public key as jwk")
    if _PRIVATE_MEMBERS & set(jwk):
        raise DpopError("the proof's jwk must be a public key (it holds private members)")
    try:
        key = import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise DpopError("the proof's jwk does not parse") from exc
    if not isinstance(key, RSAKey | ECKey | OKPKey) or not jose.fits(key, alg):
        raise DpopError(f"the proof's jwk is not a key for {alg}")
    return key


def _check_iat(claims: dict[str, Any], now: datetime, max_age_seconds: int) -> datetime:
    try:
        iat = jose.numeric_date(claims, "iat")
    except JoseCheckFailed as exc:
        raise DpopError(str(exc)) from exc
    if iat is None:
        raise DpopError("the proof needs iat")
    issued = datetime.fromtimestamp(iat, UTC)
    if issued > now + FUTURE_SKEW:
        raise DpopError("the proof's iat is in the future")
    max_age = timedelta(seconds=max_age_seconds)
    if issued < now - max_age:
        raise DpopError(f"the proof is older than {max_age_seconds} seconds")
    return issued + max_age + FUTURE_SKEW
