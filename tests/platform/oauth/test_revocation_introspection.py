"""Revocation (RFC 7009) and introspection (RFC 7662)."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.platform.oauth.support import assert_oauth_error, introspect
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import client_auth, client_credentials_token, customer_token


def _revoke(client: TestClient, app: PartnerApp, token: str) -> None:
    response = client.post("/oauth2/revoke", data={"token": token, **client_auth(client, app)})
    assert response.status_code == 200, response.text


def test_introspection_describes_an_active_customer_token(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp, settings: Settings
) -> None:
    customer_id = uuid.uuid4()
    token = customer_token(client, db, clock, app, customer_id, None, "lending")
    seen = introspect(client, app, token.access_token)
    assert seen["active"] is True
    assert seen["scope"] == "lending"
    assert seen["client_id"] == app.client_id
    assert seen["token_type"] == "DPoP"
    assert seen["sub"] == str(customer_id)
    assert seen["iss"] == settings.public_url
    assert seen["cnf"] == {"jkt": token.dpop_key.jkt}
    assert seen["exp"] > clock.now().timestamp()


def test_introspection_of_another_apps_token_is_inactive(
    client: TestClient, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    other = create_app(client)
    assert introspect(client, other, token.access_token) == {"active": False}


def test_introspection_of_an_unknown_token_is_inactive(client: TestClient, app: PartnerApp) -> None:
    assert introspect(client, app, "not-a-token") == {"active": False}


def test_introspection_needs_client_authentication(client: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(client, app, "lending")
    response = client.post("/oauth2/introspect", data={"token": token.access_token})
    assert_oauth_error(response, "invalid_client", 401)


def test_a_revoked_access_token_is_inactive(client: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(client, app, "lending")
    _revoke(client, app, token.access_token)
    assert introspect(client, app, token.access_token) == {"active": False}


def test_revoking_a_refresh_token_revokes_its_access_tokens(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    token = customer_token(client, db, clock, app, uuid.uuid4(), None, "lending")
    assert token.refresh_token
    _revoke(client, app, token.refresh_token)
    assert introspect(client, app, token.access_token) == {"active": False}
    assert introspect(client, app, token.refresh_token) == {"active": False}


def test_revoking_an_unknown_token_answers_200(client: TestClient, app: PartnerApp) -> None:
    _revoke(client, app, "never-issued")


def test_an_app_cannot_revoke_another_apps_token(client: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(client, app, "lending")
    _revoke(client, create_app(client), token.access_token)
    assert introspect(client, app, token.access_token)["active"] is True


def test_revocation_needs_client_authentication(client: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(client, app, "lending")
    response = client.post("/oauth2/revoke", data={"token": token.access_token})
    assert_oauth_error(response, "invalid_client", 401)
    assert introspect(client, app, token.access_token)["active"] is True
