"""client_credentials (partner-level tokens), and the grants the server does not offer."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from tests.platform.oauth.support import assert_oauth_error, introspect, token_request
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import DPoPKey, client_credentials_token


def test_a_partner_level_token_has_no_customer_and_no_consent(
    client: TestClient, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "accounts payments")
    assert token.scope == "accounts payments"
    seen = introspect(client, app, token.access_token)
    assert seen["active"] is True
    assert seen["client_id"] == app.client_id
    assert "sub" not in seen
    assert "consent_id" not in seen


def test_without_scope_the_token_gets_every_scope_the_app_may_ask_for(
    client: TestClient, clock: ShiftedClock
) -> None:
    app = create_app(client, products=("e_accounts",))
    response = token_request(client, app, DPoPKey(clock=clock), grant_type="client_credentials")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "accounts e_accounts"


def test_a_scope_beyond_the_subscriptions_is_invalid_scope(
    client: TestClient, clock: ShiftedClock
) -> None:
    app = create_app(client, products=("lending",))
    response = token_request(
        client, app, DPoPKey(clock=clock), grant_type="client_credentials", scope="payments"
    )
    assert_oauth_error(response, "invalid_scope")


def test_a_client_credentials_request_without_dpop_is_refused(
    client: TestClient, app: PartnerApp
) -> None:
    response = token_request(client, app, None, grant_type="client_credentials", scope="lending")
    assert_oauth_error(response, "invalid_dpop_proof")


@pytest.mark.parametrize(
    "grant_type",
    ["password", "implicit", "urn:ietf:params:oauth:grant-type:jwt-bearer", "token"],
)
def test_unsupported_grant_types_are_refused(
    client: TestClient, clock: ShiftedClock, app: PartnerApp, grant_type: str
) -> None:
    response = token_request(
        client,
        app,
        DPoPKey(clock=clock),
        grant_type=grant_type,
        username="alice",
        password="secret",
    )
    assert_oauth_error(response, "unsupported_grant_type")


def test_a_missing_grant_type_is_invalid_request(
    client: TestClient, clock: ShiftedClock, app: PartnerApp
) -> None:
    assert_oauth_error(token_request(client, app, DPoPKey(clock=clock)), "invalid_request")
