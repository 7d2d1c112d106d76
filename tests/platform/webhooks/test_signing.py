"""Detached JWS signatures of webhook bodies: what partners verify."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from joserfc.jwk import ECKey

from openbank.platform.webhooks.errors import WebhookSignatureInvalid
from openbank.platform.webhooks.signing import sign_detached, verify_signature

BODY = json.dumps({"id": "01", "type": "consent.revoked", "data": {"金额": 100}}).encode()
ISSUER = "https://bank.example"


def _key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "bank-1", "alg": "ES256"})


def _jwks(*keys: ECKey) -> dict[str, object]:
    return {"keys": [dict(k.as_dict(private=False)) for k in keys]}


def test_signature_is_detached_and_verifies_with_the_jwks() -> None:
    key = _key()
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    signature = sign_detached(BODY, key, ISSUER, now)

    header_part, payload_part, _ = signature.split(".")
    assert payload_part == ""
    header = verify_signature(BODY, signature, _jwks(key))
    assert header == {
        "alg": "ES256",
        "kid": "bank-1",
        "typ": "JOSE",
        "iat": int(now.timestamp()),
        "iss": ISSUER,
    }
    decoded = json.loads(base64.urlsafe_b64decode(header_part + "=" * (-len(header_part) % 4)))
    assert decoded == header


def test_tampered_body_is_rejected() -> None:
    key = _key()
    signature = sign_detached(BODY, key, ISSUER, datetime.now(UTC))

    with pytest.raises(WebhookSignatureInvalid):
        verify_signature(BODY.replace(b"100", b"900"), signature, _jwks(key))


def test_signature_of_another_key_is_rejected() -> None:
    signature = sign_detached(BODY, _key(), ISSUER, datetime.now(UTC))
    impostor = ECKey.generate_key("P-256", parameters={"kid": "bank-1", "alg": "ES256"})

    with pytest.raises(WebhookSignatureInvalid):
        verify_signature(BODY, signature, _jwks(impostor))


@pytest.mark.parametrize("value", ["", "a.b.c", "abc", "..", "a..b.c"])
def test_malformed_signature_is_rejected(value: str) -> None:
    with pytest.raises(WebhookSignatureInvalid):
        verify_signature(BODY, value, _jwks(_key()))
