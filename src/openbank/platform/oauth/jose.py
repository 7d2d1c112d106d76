"""The JWS checks client assertions and DPoP proofs share, on joserfc.

Only PS256, ES256 and EdDSA cross the bank's boundary (FAPI 2.0): the algorithm is checked
against that list before any key is touched, and every key must be of the algorithm's own
type (RSA of at least 2048 bits, P-256, Ed25519), so no `alg` confusion (HS256 with a public
key as the secret, `none`) can get through. joserfc's default registry caps a JWS header at
512 bytes, which a DPoP proof carrying an RSA `jwk` exceeds; ours allows 4 KiB, and does not
warn about `EdDSA` (RFC 9864 deprecates the name, FAPI 2.0 still names it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry

ALGORITHMS: tuple[str, ...] = ("PS256", "ES256", "EdDSA")
PublicKey = RSAKey | ECKey | OKPKey


class JoseCheckFailed(Exception):
    """A JWS that fails a check; the message says which (it goes back to the client)."""


class _Registry(JWSRegistry):
    max_header_length = 4096
    max_payload_length = 16384

    def get_alg(self, name: str) -> Any:
        if name not in ALGORITHMS or name not in self.algorithms:
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


_REGISTRY = {alg: _Registry(algorithms=[alg], strict_check_header=False) for alg in ALGORITHMS}


@dataclass(frozen=True, slots=True)
class Unverified:
    """A compact JWS split apart, before its signature is checked."""

    header: dict[str, Any]
    claims: dict[str, Any]


def peek(value: str) -> Unverified:
    """Header and JSON claims of a compact JWS, signature NOT checked."""
    if not value or len(value) > 20000 or value.count(".") != 2:
        raise JoseCheckFailed("not a compact JWS")
    try:
        header_part, payload_part, _ = value.split(".")
        header = json.loads(_b64decode(header_part), parse_constant=_no_constant)
        claims = json.loads(_b64decode(payload_part), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JoseCheckFailed("the JWS does not parse") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JoseCheckFailed("the JWS header and payload must be JSON objects")
    return Unverified(header=header, claims=claims)


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity: Python's parser accepts them unless told not to."""
    raise ValueError(f"{name} is not JSON")


# The last second `datetime` can hold (9999-12-31T23:59:59Z): later NumericDates are nonsense.
MAX_NUMERIC_DATE = 253_402_300_799


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sha256_b64url(text: str) -> str:
    return b64url(hashlib.sha256(text.encode()).digest())


def checked_alg(header: dict[str, Any]) -> str:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise JoseCheckFailed(f"alg {alg!r} is not accepted; use one of {', '.join(ALGORITHMS)}")
    return alg


def fits(key: PublicKey, alg: str) -> bool:
    """Whether `key` is of the type `alg` needs (and strong enough)."""
    if alg == "PS256":
        raw = key.raw_value
        return isinstance(key, RSAKey) and (
            isinstance(raw, rsa.RSAPublicKey | rsa.RSAPrivateKey) and raw.key_size >= 2048
        )
    if alg == "ES256":
        return isinstance(key, ECKey) and key.as_dict(private=False).get("crv") == "P-256"
    if alg == "EdDSA":
        return isinstance(key, OKPKey) and key.as_dict(private=False).get("crv") == "Ed25519"
    return False


def verify(value: str, key: PublicKey, alg: str) -> bool:
    """Whether the compact JWS `value` carries a valid `alg` signature by `key`."""
    if alg not in ALGORITHMS or not fits(key, alg):
        return False
    try:
        jws.deserialize_compact(value, key, algorithms=[alg], registry=_REGISTRY[alg])
    except (JoseError, ValueError, TypeError):
        return False
    return True


def numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim (seconds since the epoch) or None when absent; a wrong type fails."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JoseCheckFailed(f"{name} must be a number of seconds since the epoch")
    # Compared as given (a huge int would overflow a float) before anything converts it.
    if isinstance(value, float) and not math.isfinite(value):
        raise JoseCheckFailed(f"{name} is not a plausible number of seconds since the epoch")
    if not 0 <= value <= MAX_NUMERIC_DATE:
        raise JoseCheckFailed(f"{name} is not a plausible number of seconds since the epoch")
    return float(value)
