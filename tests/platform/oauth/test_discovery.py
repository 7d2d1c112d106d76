"""Discovery (RFC 8414) and the bank's JWKS."""

from __future__ import annotations

from fastapi.testclient import TestClient
from joserfc.jwk import KeySet

from openbank.core.settings import Settings


def test_discovery_describes_a_fapi2_server(client: TestClient, settings: Settings) -> None:
    body = client.get("/.well-known/openid-configuration").json()
    issuer = settings.public_url
    assert body["issuer"] == issuer
    assert body["pushed_authorization_request_endpoint"] == f"{issuer}/oauth2/par"
    assert body["require_pushed_authorization_requests"] is True
    assert body["authorization_endpoint"] == f"{issuer}/oauth2/authorize"
    assert body["token_endpoint"] == f"{issuer}/oauth2/token"
    assert body["revocation_endpoint"] == f"{issuer}/oauth2/revoke"
    assert body["introspection_endpoint"] == f"{issuer}/oauth2/introspect"
    assert body["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert body["response_types_supported"] == ["code"]
    assert body["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]
    assert body["dpop_signing_alg_values_supported"] == ["PS256", "ES256", "EdDSA"]
    assert body["authorization_response_iss_parameter_supported"] is True
    assert set(body["scopes_supported"]) == {"accounts", "e_accounts", "payments", "lending"}


def test_oauth_authorization_server_metadata_is_the_same_document(client: TestClient) -> None:
    assert (
        client.get("/.well-known/oauth-authorization-server").json()
        == client.get("/.well-known/openid-configuration").json()
    )


def test_no_implicit_hybrid_or_password_grant_is_advertised(client: TestClient) -> None:
    body = client.get("/.well-known/openid-configuration").json()
    assert "password" not in body["grant_types_supported"]
    assert "implicit" not in body["grant_types_supported"]
    assert not {"token", "id_token", "code token", "code id_token"} & set(
        body["response_types_supported"]
    )


def test_jwks_serves_the_banks_public_signing_key(client: TestClient) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks = response.json()
    assert jwks["keys"]
    for key in jwks["keys"]:
        assert key["kty"] == "EC"
        assert key["alg"] == "ES256"
        assert key["kid"]
        assert "d" not in key
    assert KeySet.import_key_set(jwks).keys
