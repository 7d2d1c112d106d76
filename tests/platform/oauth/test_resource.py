"""The resource check every partner call goes through (`oauth.resource`): a DPoP-bound
token, its proof, an active app and partner, a scope the token and the subscriptions both
allow. At the service layer (`authenticate`) and through a FastAPI route that depends on
`partner_call` / `app_call`, mounted on a test-only instance of the application."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi.testclient import TestClient

from openbank.api import create_app as create_api
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform import service as platform
from openbank.platform.oauth.errors import (
    InsufficientScope,
    InvalidResourceProof,
    InvalidToken,
    TokenRequired,
)
from openbank.platform.oauth.resource import app_call, partner_call
from openbank.platform.principal import PartnerCall
from tests.conftest import AUTH, BASE_URL
from tests.platform.oauth.support import PING, authenticate, resource_request
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import (
    DPoPKey,
    Token,
    auth_headers,
    client_auth,
    client_credentials_token,
    customer_token,
)

APP_PING = "/v1/open/app-ping"


@pytest.fixture(scope="module")
def api(db: Database, settings: Settings, clock: ShiftedClock) -> Iterator[TestClient]:
    """The application plus two test-only partner routes."""
    application = create_api(settings, clock)

    @application.get(PING)
    async def ping(call: Annotated[PartnerCall, partner_call("lending")]) -> dict[str, Any]:
        return {
            "app_id": str(call.app_id),
            "customer_id": str(call.customer_id) if call.customer_id else None,
            "scopes": sorted(call.scopes),
            "channel": call.channel,
            "token_id": str(call.token_id),
        }

    @application.get(APP_PING)
    async def app_ping(call: Annotated[PartnerCall, app_call()]) -> dict[str, Any]:
        return {"app_id": str(call.app_id)}

    with TestClient(application, headers=AUTH, base_url=BASE_URL) as test_client:
        yield test_client


def _check(
    db: Database, settings: Settings, client: TestClient, request: Any, scope: str = "lending"
) -> PartnerCall:
    return authenticate(db, settings, client, request, scope)


# -- service level --------------------------------------------------------------------------


def test_a_customer_token_with_its_proof_makes_a_partner_call(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings, app: PartnerApp
) -> None:
    customer_id = uuid.uuid4()
    token = customer_token(client, db, clock, app, customer_id, None, "lending")
    call = _check(db, settings, client, resource_request(token))
    assert call.app_id == uuid.UUID(app.app_id)
    assert call.partner_id == uuid.UUID(app.partner_id)
    assert call.customer_id == customer_id
    assert call.consent_id is None
    assert call.channel == "oauth"
    assert call.scopes == frozenset({"lending"})
    assert call.token_id is not None


def test_a_request_without_a_token_is_refused_with_a_bare_challenge(
    client: TestClient, db: Database, settings: Settings
) -> None:
    with pytest.raises(TokenRequired) as refused:
        _check(db, settings, client, resource_request(None))
    assert refused.value.status == 401
    assert refused.value.headers["WWW-Authenticate"].startswith("DPoP algs=")


def test_a_token_used_without_its_proof_is_refused(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    request = resource_request(token)
    request.dpop.clear()
    with pytest.raises(InvalidResourceProof) as refused:
        _check(db, settings, client, request)
    assert 'error="invalid_dpop_proof"' in refused.value.headers["WWW-Authenticate"]


def test_a_token_used_with_another_keys_proof_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    thief = DPoPKey(clock=clock)
    proof = thief.proof("GET", PING, token.access_token)
    with pytest.raises(InvalidResourceProof):
        _check(db, settings, client, resource_request(token, proof=proof))


def test_a_dpop_bound_token_sent_as_bearer_is_refused(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(token, scheme="Bearer"))


def test_a_proof_for_another_method_is_refused(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    proof = token.dpop_key.proof("POST", PING, token.access_token)
    with pytest.raises(InvalidResourceProof, match="htm"):
        _check(db, settings, client, resource_request(token, proof=proof))


def test_a_proof_for_another_url_is_refused(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    proof = token.dpop_key.proof("GET", "/v1/open/other", token.access_token)
    with pytest.raises(InvalidResourceProof, match="htu"):
        _check(db, settings, client, resource_request(token, proof=proof))


def test_a_proof_for_another_token_is_refused(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    proof = token.dpop_key.proof("GET", PING, "another-token")
    with pytest.raises(InvalidResourceProof, match="ath"):
        _check(db, settings, client, resource_request(token, proof=proof))


def test_a_replayed_proof_is_refused(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    proof = token.dpop_key.proof("GET", PING, token.access_token)
    _check(db, settings, client, resource_request(token, proof=proof))
    with pytest.raises(InvalidResourceProof, match="already used"):
        _check(db, settings, client, resource_request(token, proof=proof))


def test_an_expired_access_token_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    clock.advance(timedelta(seconds=settings.oauth_access_token_seconds + 1))
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(token))


def test_an_unknown_token_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings
) -> None:
    forged = Token("made-up-token", DPoPKey(clock=clock))
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(forged))


def test_a_refresh_token_is_not_an_access_token(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings, app: PartnerApp
) -> None:
    token = customer_token(client, db, clock, app, uuid.uuid4(), None, "lending")
    assert token.refresh_token
    as_access = Token(token.refresh_token, token.dpop_key)
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(as_access))


def test_a_scope_the_token_was_not_granted_is_403(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    with pytest.raises(InsufficientScope) as refused:
        _check(db, settings, client, resource_request(token), scope="payments")
    assert refused.value.status == 403
    assert 'scope="payments"' in refused.value.headers["WWW-Authenticate"]


def test_a_dropped_subscription_stops_its_scope_at_the_next_call(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    response = client.put(f"/v1/apps/{app.app_id}/subscriptions", json={"products": ["payments"]})
    assert response.status_code == 200, response.text
    with pytest.raises(InsufficientScope):
        _check(db, settings, client, resource_request(token))


def test_a_disabled_app_is_stopped_at_the_next_call(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    unit_of_work(db, lambda s: platform.set_app_status(s, uuid.UUID(app.app_id), "disabled"))
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(token))


def test_a_suspended_partner_is_stopped_at_the_next_call(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    client.post(f"/v1/partners/{app.partner_id}/status", json={"status": "suspended"})
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(token))


def test_a_revoked_token_is_stopped_at_the_next_call(
    client: TestClient, db: Database, settings: Settings, app: PartnerApp
) -> None:
    token = client_credentials_token(client, app, "lending")
    _check(db, settings, client, resource_request(token))
    client.post("/oauth2/revoke", data={"token": token.access_token, **client_auth(client, app)})
    with pytest.raises(InvalidToken):
        _check(db, settings, client, resource_request(token))


# -- through FastAPI ------------------------------------------------------------------------


def test_partner_call_admits_a_valid_call_and_names_the_caller(
    api: TestClient, app: PartnerApp
) -> None:
    token = client_credentials_token(api, app, "lending")
    response = api.get(PING, headers=auth_headers(token, "GET", PING))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["app_id"] == app.app_id
    assert body["channel"] == "oauth"
    assert body["customer_id"] is None


def test_a_query_string_does_not_break_the_proof(api: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(api, app, "lending")
    response = api.get(PING + "?limit=5", headers=auth_headers(token, "GET", PING))
    assert response.status_code == 200, response.text


def test_a_missing_token_is_401_with_a_dpop_challenge(api: TestClient) -> None:
    response = api.get(PING, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["code"] == "token_required"
    assert response.headers["www-authenticate"].startswith("DPoP")


def test_a_token_without_its_proof_is_401_invalid_dpop_proof(
    api: TestClient, app: PartnerApp
) -> None:
    token = client_credentials_token(api, app, "lending")
    response = api.get(PING, headers={"Authorization": f"DPoP {token.access_token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_dpop_proof"
    assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]


def test_another_keys_proof_is_401(api: TestClient, clock: ShiftedClock, app: PartnerApp) -> None:
    token = client_credentials_token(api, app, "lending")
    stolen = Token(token.access_token, DPoPKey(clock=clock))
    response = api.get(PING, headers=auth_headers(stolen, "GET", PING))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_dpop_proof"


def test_a_revoked_token_is_401_invalid_token(api: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(api, app, "lending")
    assert api.get(PING, headers=auth_headers(token, "GET", PING)).status_code == 200
    api.post("/oauth2/revoke", data={"token": token.access_token, **client_auth(api, app)})
    response = api.get(PING, headers=auth_headers(token, "GET", PING))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_scope_not_granted_is_403_insufficient_scope(api: TestClient) -> None:
    app = create_app(api, products=("lending", "payments"))
    token = client_credentials_token(api, app, "payments")
    response = api.get(PING, headers=auth_headers(token, "GET", PING))
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_app_call_admits_any_scope_of_the_app(api: TestClient, app: PartnerApp) -> None:
    token = client_credentials_token(api, app, "payments")
    response = api.get(APP_PING, headers=auth_headers(token, "GET", APP_PING))
    assert response.status_code == 200, response.text
    assert response.json() == {"app_id": app.app_id}
