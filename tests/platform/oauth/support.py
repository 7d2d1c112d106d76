"""Helpers of the authorization server's tests: error bodies, introspection, resource
requests at the service layer."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.platform.oauth import resource
from openbank.platform.principal import PartnerCall
from tests.conftest import BASE_URL
from tests.platform.support import PartnerApp
from tests.platform.tokens import (
    DPoPKey,
    Pkce,
    Token,
    absolute,
    approved_code,
    client_auth,
    push,
    server_clock,
)

PING = "/v1/open/ping"


def assert_oauth_error(response: Any, error: str, status: int = 400) -> dict[str, Any]:
    """An RFC 6749 error that is also a problem-details body with the same code."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["code"] == error
    assert body["status"] == status
    assert body["error_description"]
    assert body["detail"] == body["error_description"]
    assert body["type"].startswith("https://")
    return body


def introspect(client: TestClient, app: PartnerApp, token: str) -> dict[str, Any]:
    response = client.post("/oauth2/introspect", data={"token": token, **client_auth(client, app)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def code_for(
    client: TestClient, db: Database, app: PartnerApp, scope: str = "lending", **push_args: Any
) -> tuple[str, Pkce]:
    """A fresh authorization code of `app` (PAR, then the customer's approval)."""
    pkce = Pkce()
    pushed = push(client, app, scope, pkce=pkce, **push_args)
    assert pushed.status_code == 201, pushed.text
    return approved_code(client, db, app, pushed.json()["request_uri"], uuid.uuid4()), pkce


def token_request(
    client: TestClient, app: PartnerApp, dpop_key: DPoPKey | None, **form: str
) -> Any:
    headers = {"DPoP": dpop_key.proof("POST", "/oauth2/token")} if dpop_key else {}
    return client.post("/oauth2/token", data={**form, **client_auth(client, app)}, headers=headers)


def resource_request(
    token: Token | None,
    *,
    method: str = "GET",
    url: str = PING,
    proof: str | None = None,
    scheme: str = "DPoP",
) -> resource.ResourceRequest:
    """A partner request as resource.authenticate sees it (a fresh proof unless given)."""
    authorization = [f"{scheme} {token.access_token}"] if token is not None else []
    if proof is None and token is not None:
        proof = token.dpop_key.proof(method, url, token.access_token)
    return resource.ResourceRequest(
        method=method,
        urls=(absolute(url), BASE_URL + url),
        authorization=authorization,
        dpop=[proof] if proof is not None else [],
    )


def authenticate(
    db: Database,
    settings: Settings,
    client: TestClient,
    request: resource.ResourceRequest,
    scope: str | None = "lending",
) -> PartnerCall:
    now = server_clock(client).now()
    return resource.check(db, settings, request, scope, now)
