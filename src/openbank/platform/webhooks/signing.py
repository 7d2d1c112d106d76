"""Webhook signatures: a detached JWS (RFC 7515 appendix F) over the exact body bytes.

The bank signs every delivery with its current ES256 key (`platform.keys`) and publishes the
public halves at `/.well-known/jwks.json`; a partner needs nothing but that JWKS to check
that a delivery came from the bank and was not altered on the way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.registry import HeaderParameter

from openbank.platform.webhooks.errors import WebhookSignatureInvalid

ALGORITHM = "ES256"
SIGNATURE_HEADER = "X-JWS-Signature"

# iat and iss travel in the protected header so a partner can tell when and by whom a body
# was signed; joserfc refuses header parameters it does not know unless registered.
_REGISTRY = jws.JWSRegistry(
    header_registry={
        "iat": HeaderParameter("Issued at (seconds since the epoch)", "int"),
        "iss": HeaderParameter("The bank that signed (its OAuth issuer URL)", "str"),
    },
    algorithms=[ALGORITHM],
)


def sign_detached(body: bytes, key: ECKey, issuer: str, now: datetime) -> str:
    """`<protected header>..<signature>`: the compact JWS of `body` with the payload removed
    (the body itself is the payload, so it is not sent twice)."""
    protected = {
        "alg": ALGORITHM,
        "kid": key.kid,
        "typ": "JOSE",
        "iat": int(now.timestamp()),
        "iss": issuer,
    }
    compact = jws.serialize_compact(
        protected, body, key, algorithms=[ALGORITHM], registry=_REGISTRY
    )
    header, _, signature = compact.split(".")
    return f"{header}..{signature}"


def verify_signature(body: bytes, detached_jws: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Check a delivery's `X-JWS-Signature` against the bank's JWKS; return the protected
    header (alg, kid, typ, iat, iss) or raise WebhookSignatureInvalid.

    How a partner verifies a delivery (any JOSE library, any language):

    1. Fetch the bank's JWKS from `GET {bank}/.well-known/jwks.json` (cache it; fetch again
       when a `kid` is unknown: keys rotate, retired keys stay published for a while).
    2. Split the header value on ".": `header`, an empty middle part, `signature`.
    3. Rebuild the compact JWS `header + "." + BASE64URL(raw request body) + "." + signature`
       using the body bytes exactly as received (before any JSON parsing).
    4. Verify it with the JWKS key named by the header's `kid`, accepting only `ES256`.
    5. De-duplicate on `X-Openbank-Event-Id` (delivery is at least once) and, if you like,
       refuse signatures whose `iat` is far in the past.
    """
    parts = detached_jws.split(".")
    if len(parts) != 3 or parts[1] or not parts[0] or not parts[2]:
        raise WebhookSignatureInvalid("the signature is not a detached compact JWS")
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        verified = jws.deserialize_compact(
            detached_jws, keys, algorithms=[ALGORITHM], registry=_REGISTRY, payload=body
        )
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise WebhookSignatureInvalid(f"the signature does not verify: {exc}") from None
    header = dict(verified.protected)
    if header.get("alg") != ALGORITHM or not header.get("kid") or "b64" in header:
        raise WebhookSignatureInvalid("unexpected protected header")
    return header
