"""Malformed input to the OAuth endpoints is a 4xx with an OAuth error, never a 500."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openbank.core.clock import ShiftedClock
from tests.platform.support import PartnerApp
from tests.platform.tokens import ASSERTION_TYPE, DPoPKey, client_auth


def _part(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


WEIRD_ASSERTIONS = [
    "",
    "abc",
    "a.b.c",
    f"{_part([1, 2])}.{_part({})}.sig",
    f"{_part({'alg': 'ES256'})}.{_part([])}.sig",
    f"{_part({'alg': 'ES256'})}.{_part({'iss': ['x'], 'sub': ['x']})}.sig",
    f"{_part({'alg': 'ES256'})}.{_part({'iss': 'x', 'sub': 'x', 'aud': 5})}.sig",
    f"{_part({'alg': 'ES256', 'kid': ['k']})}.{_part({'iss': 'x', 'sub': 'x'})}.sig",
    f"{_part({'alg': 7})}.{_part({})}.sig",
    "\u00e9\u00e9.\u00e9.\u00e9",
]


@pytest.mark.parametrize("assertion", WEIRD_ASSERTIONS)
def test_a_malformed_client_assertion_is_invalid_client(client: TestClient, assertion: str) -> None:
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"


X25519 = {"kty": "OKP", "crv": "X25519", "x": "AA"}
WEIRD_PROOFS = [
    "x",
    f"{_part({'typ': 'dpop+jwt', 'alg': 'ES256', 'jwk': 'nope'})}.{_part({})}.sig",
    f"{_part({'typ': 'dpop+jwt', 'alg': 'ES256', 'jwk': {'kty': 'EC'}})}.{_part({})}.sig",
    f"{_part({'typ': 'dpop+jwt', 'alg': 'ES256', 'jwk': {'kty': 'zz'}})}.{_part({})}.sig",
    f"{_part({'typ': 'dpop+jwt', 'alg': 'EdDSA', 'jwk': X25519})}.{_part({})}.sig",
]


@pytest.mark.parametrize("proof", WEIRD_PROOFS)
def test_a_malformed_dpop_proof_is_invalid_dpop_proof(
    client: TestClient, app: PartnerApp, proof: str
) -> None:
    response = client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", **client_auth(client, app)},
        headers={"DPoP": proof},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_dpop_proof"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(
        st.sampled_from(
            ["grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "scope"]
        ),
        st.text(max_size=40),
    )
)
def test_arbitrary_token_requests_never_fail_with_a_server_error(
    client: TestClient, clock: ShiftedClock, app: PartnerApp, form: dict[str, str]
) -> None:
    response = client.post(
        "/oauth2/token",
        data={**form, **client_auth(client, app)},
        headers={"DPoP": DPoPKey(clock=clock).proof("POST", "/oauth2/token")},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.json()["error"]
