"""The refresh_token grant: rotation on every use, reuse revokes the whole family, the DPoP
key bound at issue required, never beyond the consent."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from tests.platform.oauth.support import assert_oauth_error, introspect, token_request
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import DPoPKey, Token, client_credentials_token, customer_token


def _customer_token(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> Token:
    return customer_token(client, db, clock, app, uuid.uuid4(), None, "lending")


def _refresh(client: TestClient, app: PartnerApp, token: Token, refresh: str, **form: str) -> Token:
    response = token_request(
        client, app, token.dpop_key, grant_type="refresh_token", refresh_token=refresh, **form
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Token(body["access_token"], token.dpop_key, body["refresh_token"], body["scope"])


def test_a_refresh_returns_a_new_pair_and_retires_the_old_refresh_token(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    token = _customer_token(client, db, clock, app)
    assert token.refresh_token
    renewed = _refresh(client, app, token, token.refresh_token)
    assert renewed.access_token != token.access_token
    assert renewed.refresh_token not in (None, token.refresh_token)
    assert introspect(client, app, renewed.access_token)["active"] is True
    assert introspect(client, app, token.refresh_token) == {"active": False}


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    token = _customer_token(client, db, clock, app)
    assert token.refresh_token
    renewed = _refresh(client, app, token, token.refresh_token)
    stolen = token_request(
        client, app, token.dpop_key, grant_type="refresh_token", refresh_token=token.refresh_token
    )
    assert_oauth_error(stolen, "invalid_grant")
    assert introspect(client, app, renewed.access_token) == {"active": False}
    assert introspect(client, app, token.access_token) == {"active": False}
    assert renewed.refresh_token
    after = token_request(
        client,
        app,
        token.dpop_key,
        grant_type="refresh_token",
        refresh_token=renewed.refresh_token,
    )
    assert_oauth_error(after, "invalid_grant")


def test_a_refresh_with_another_dpop_key_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    token = _customer_token(client, db, clock, app)
    assert token.refresh_token
    response = token_request(
        client,
        app,
        DPoPKey(clock=clock),
        grant_type="refresh_token",
        refresh_token=token.refresh_token,
    )
    assert_oauth_error(response, "invalid_dpop_proof")
    # The rightful holder still refreshes: a stranger's attempt does not burn the token.
    assert _refresh(client, app, token, token.refresh_token).access_token


def test_another_app_cannot_use_the_refresh_token(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    token = _customer_token(client, db, clock, app)
    other = create_app(client, products=("lending",))
    assert token.refresh_token
    response = token_request(
        client, other, token.dpop_key, grant_type="refresh_token", refresh_token=token.refresh_token
    )
    assert_oauth_error(response, "invalid_grant")


def test_a_refresh_may_narrow_but_not_widen_the_scope(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    token = _customer_token(client, db, clock, app)
    assert token.refresh_token
    response = token_request(
        client,
        app,
        token.dpop_key,
        grant_type="refresh_token",
        refresh_token=token.refresh_token,
        scope="lending payments",
    )
    assert_oauth_error(response, "invalid_scope")


def test_a_client_credentials_grant_gets_no_refresh_token(
    client: TestClient, app: PartnerApp
) -> None:
    assert client_credentials_token(client, app, "lending").refresh_token is None
