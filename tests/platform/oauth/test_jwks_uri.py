"""Apps that publish their keys at a jwks_uri: fetched with a short timeout, cached a few
minutes, refetched when an unknown key signs (key rotation)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from openbank.platform.oauth import client_auth
from tests.platform.oauth.support import assert_oauth_error, token_request
from tests.platform.support import PartnerApp, create_partner, new_key, public_jwks
from tests.platform.tokens import DPoPKey, server_clock


class FakeJwksHost:
    """Stands in for the partner's web server."""

    def __init__(self, jwks: dict[str, Any] | None) -> None:
        self.jwks = jwks
        self.fetches = 0

    def get(self, url: str, **_: Any) -> httpx.Response:
        self.fetches += 1
        request = httpx.Request("GET", url)
        if self.jwks is None:
            return httpx.Response(503, request=request)
        return httpx.Response(200, json=self.jwks, request=request)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> FakeJwksHost:
    fake = FakeJwksHost(None)
    monkeypatch.setattr(httpx, "get", fake.get)
    monkeypatch.setattr(client_auth, "_jwks_cache", {})
    return fake


def _app_with_jwks_uri(client: TestClient) -> tuple[PartnerApp, str]:
    uri = f"https://keys.partner.example/{uuid.uuid4().hex}/jwks.json"
    response = client.post(
        f"/v1/partners/{create_partner(client)}/apps",
        json={
            "name": "jwks_uri app",
            "environment": "sandbox",
            "redirect_uris": ["https://partner.example/callback"],
            "jwks_uri": uri,
            "products": ["lending"],
        },
    )
    assert response.status_code == 201, response.text
    app = PartnerApp(response.json()["partner_id"], response.json()["id"], new_key(), "sandbox")
    return app, uri


def _token(client: TestClient, app: PartnerApp) -> Any:
    dpop = DPoPKey(clock=server_clock(client))
    return token_request(client, app, dpop, grant_type="client_credentials", scope="lending")


def test_keys_are_fetched_from_the_jwks_uri_and_cached(
    client: TestClient, host: FakeJwksHost
) -> None:
    app, _ = _app_with_jwks_uri(client)
    host.jwks = public_jwks(app.key)
    assert _token(client, app).status_code == 200
    assert _token(client, app).status_code == 200
    assert host.fetches == 1


def test_an_unreachable_jwks_uri_is_invalid_client(client: TestClient, host: FakeJwksHost) -> None:
    app, _ = _app_with_jwks_uri(client)
    assert_oauth_error(_token(client, app), "invalid_client", 401)


def test_a_jwks_uri_serving_a_private_key_is_not_trusted(
    client: TestClient, host: FakeJwksHost
) -> None:
    app, _ = _app_with_jwks_uri(client)
    host.jwks = {"keys": [app.key.as_dict(private=True)]}
    assert_oauth_error(_token(client, app), "invalid_client", 401)


def test_a_rotated_key_is_picked_up_by_refetching(client: TestClient, host: FakeJwksHost) -> None:
    app, _ = _app_with_jwks_uri(client)
    host.jwks = public_jwks(app.key)
    assert _token(client, app).status_code == 200
    rotated = new_key()
    host.jwks = public_jwks(rotated)
    app.key = rotated
    # Within the refetch guard the cached set stands; after it, the new key is fetched.
    stale = client_auth.JWKS_REFETCH_AFTER_SECONDS + 1
    for uri, (cached_at, jwks) in list(client_auth._jwks_cache.items()):
        client_auth._jwks_cache[uri] = (cached_at - stale, jwks)
    assert _token(client, app).status_code == 200
    assert host.fetches == 2
