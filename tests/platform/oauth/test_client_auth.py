"""Client authentication: private_key_jwt only (RFC 7523), PS256, ES256 or EdDSA."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from openbank.core.database import unit_of_work
from openbank.platform import service as platform
from tests.platform.oauth.support import assert_oauth_error
from tests.platform.support import (
    REDIRECT_URI,
    PartnerApp,
    create_app,
    create_partner,
    new_key,
    public_jwks,
)
from tests.platform.tokens import (
    ASSERTION_TYPE,
    DPoPKey,
    b64url,
    client_assertion,
    issuer,
    server_clock,
)


def _token(client: TestClient, app: PartnerApp, assertion: str, **form: str) -> Any:
    dpop_key = DPoPKey(clock=server_clock(client))
    return client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "lending",
            "client_id": app.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            **form,
        },
        headers={"DPoP": dpop_key.proof("POST", "/oauth2/token")},
    )


def _claims(client: TestClient, app: PartnerApp, **overrides: Any) -> dict[str, Any]:
    now = int(server_clock(client).now().timestamp())
    return {
        "iss": app.client_id,
        "sub": app.client_id,
        "aud": issuer(client),
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
        **overrides,
    }


def _part(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def _assertion(client: TestClient, app: PartnerApp, **overrides: Any) -> str:
    return client_assertion(app, issuer(client), clock=server_clock(client), **overrides)


@pytest.mark.parametrize("alg", ["ES256", "PS256", "EdDSA"])
def test_an_assertion_signed_with_an_accepted_algorithm_authenticates(
    client: TestClient, alg: str
) -> None:
    app = create_app(client, products=("lending",), alg=alg)
    response = _token(client, app, _assertion(client, app))
    assert response.status_code == 200, response.text


def test_an_hs256_client_assertion_is_refused(client: TestClient, app: PartnerApp) -> None:
    secret = OctKey.generate_key(256)
    assertion = jwt.encode({"alg": "HS256"}, _claims(client, app), secret, algorithms=["HS256"])
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_hs256_assertion_keyed_with_the_apps_public_key_is_refused(
    client: TestClient, app: PartnerApp
) -> None:
    """The classic alg-confusion attack: the registered public key used as an HMAC secret."""
    signing_input = f"{_part({'alg': 'HS256'})}.{_part(_claims(client, app))}"
    mac = hmac.new(app.key.as_pem(private=False), signing_input.encode(), hashlib.sha256)
    assertion = f"{signing_input}.{b64url(mac.digest())}"
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_rs256_client_assertion_is_refused(client: TestClient) -> None:
    """Even by an RSA key registered without an `alg`, so PS256 would be accepted from it."""
    key = RSAKey.generate_key(2048, parameters={"kid": "rsa-no-alg"})
    partner_id = create_partner(client)
    response = client.post(
        f"/v1/partners/{partner_id}/apps",
        json={
            "name": "RSA app",
            "environment": "sandbox",
            "redirect_uris": [REDIRECT_URI],
            "jwks": public_jwks(key),
            "products": ["lending"],
        },
    )
    assert response.status_code == 201, response.text
    app = PartnerApp(partner_id, str(response.json()["id"]), key, "sandbox")
    claims = _claims(client, app)
    rs256 = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key, algorithms=["RS256"])
    assert_oauth_error(_token(client, app, rs256), "invalid_client", 401)
    ps256 = jwt.encode(
        {"alg": "PS256", "kid": key.kid}, _claims(client, app), key, algorithms=["PS256"]
    )
    assert _token(client, app, ps256).status_code == 200


def test_an_unsigned_client_assertion_is_refused(client: TestClient, app: PartnerApp) -> None:
    assertion = f"{_part({'alg': 'none'})}.{_part(_claims(client, app))}."
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_assertion_signed_by_an_unregistered_key_is_refused(
    client: TestClient, app: PartnerApp
) -> None:
    stranger = new_key("ES256")
    assertion = jwt.encode(
        {"alg": "ES256", "kid": app.key.kid}, _claims(client, app), stranger, algorithms=["ES256"]
    )
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_assertion_with_a_wrong_audience_is_refused(client: TestClient, app: PartnerApp) -> None:
    assertion = _assertion(client, app, aud="https://another-bank.example")
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_the_token_endpoint_url_is_refused_as_audience(client: TestClient, app: PartnerApp) -> None:
    """FAPI 2.0: the issuer is the sole audience."""
    assertion = _assertion(client, app, aud=f"{issuer(client)}/oauth2/token")
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_audience_list_naming_the_issuer_is_refused(client: TestClient, app: PartnerApp) -> None:
    assertion = _assertion(client, app, aud=["https://another-server.example", issuer(client)])
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_assertion_made_for_another_server_is_refused_whatever_the_host_header(
    client: TestClient, app: PartnerApp
) -> None:
    """An assertion a client made for another server, replayed here under that server's
    name in the Host header, must not pass: the audience is checked against the issuer."""
    assertion = _assertion(client, app, aud="http://evil.example")
    proof = DPoPKey(clock=server_clock(client)).proof("POST", "http://evil.example/oauth2/token")
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "scope": "lending",
            "client_id": app.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        },
        headers={"DPoP": proof, "Host": "evil.example"},
    )
    assert_oauth_error(response, "invalid_client", 401)


def test_a_replayed_client_assertion_is_refused(client: TestClient, app: PartnerApp) -> None:
    assertion = _assertion(client, app)
    assert _token(client, app, assertion).status_code == 200
    body = assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)
    assert "already used" in body["error_description"]


def test_an_expired_client_assertion_is_refused(client: TestClient, app: PartnerApp) -> None:
    now = int(server_clock(client).now().timestamp())
    assertion = _assertion(client, app, iat=now - 30, exp=now - 1)
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_a_client_assertion_older_than_the_proof_age_is_refused(
    client: TestClient, app: PartnerApp
) -> None:
    now = int(server_clock(client).now().timestamp())
    assertion = _assertion(client, app, iat=now - 3600, exp=now + 3600)
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_a_client_assertion_issued_in_the_future_is_refused(
    client: TestClient, app: PartnerApp
) -> None:
    now = int(server_clock(client).now().timestamp())
    assertion = _assertion(client, app, iat=now + 600, exp=now + 700)
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_a_client_assertion_without_jti_is_refused(client: TestClient, app: PartnerApp) -> None:
    claims = _claims(client, app)
    del claims["jti"]
    assertion = jwt.encode(
        {"alg": "ES256", "kid": app.key.kid}, claims, app.key, algorithms=["ES256"]
    )
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_sub_other_than_the_client_id_is_refused(client: TestClient, app: PartnerApp) -> None:
    assertion = _assertion(client, app, sub=str(uuid.uuid4()))
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_another_apps_assertion_does_not_authenticate_this_client_id(
    client: TestClient, app: PartnerApp
) -> None:
    other = create_app(client, products=("lending",))
    assertion = _assertion(client, other)
    assert_oauth_error(_token(client, app, assertion), "invalid_client", 401)


def test_an_unknown_client_is_refused(client: TestClient, app: PartnerApp) -> None:
    stranger = PartnerApp(
        partner_id=app.partner_id, app_id=str(uuid.uuid4()), key=app.key, environment="sandbox"
    )
    response = _token(client, stranger, _assertion(client, stranger))
    assert_oauth_error(response, "invalid_client", 401)


def test_a_client_secret_is_refused(client: TestClient, app: PartnerApp) -> None:
    response = client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": "hunter2",
        },
    )
    assert_oauth_error(response, "invalid_client", 401)


def test_a_request_without_client_authentication_is_refused(client: TestClient) -> None:
    response = client.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(response, "invalid_client", 401)


def test_a_disabled_app_cannot_authenticate(client: TestClient, app: PartnerApp) -> None:
    db = client.app.state.db  # type: ignore[attr-defined]
    unit_of_work(db, lambda s: platform.set_app_status(s, uuid.UUID(app.app_id), "disabled"))
    assert_oauth_error(_token(client, app, _assertion(client, app)), "invalid_client", 401)


def test_a_suspended_partners_app_cannot_authenticate(client: TestClient, app: PartnerApp) -> None:
    response = client.post(f"/v1/partners/{app.partner_id}/status", json={"status": "suspended"})
    assert response.status_code == 200, response.text
    assert_oauth_error(_token(client, app, _assertion(client, app)), "invalid_client", 401)
