"""Pushed authorization requests (RFC 9126), required before /oauth2/authorize, and the
service functions the customer's pages call with a request_uri."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.oauth import service as oauth
from openbank.platform.oauth.errors import InvalidAuthorizationRequest
from tests.platform.oauth.support import assert_oauth_error
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import Pkce, client_auth, push


def _request_uri(client: TestClient, app: PartnerApp, state: str = "xyz") -> str:
    response = push(client, app, "lending", state=state)
    assert response.status_code == 201, response.text
    return str(response.json()["request_uri"])


def test_par_returns_a_request_uri_valid_under_600_seconds(
    client: TestClient, app: PartnerApp, settings: Settings
) -> None:
    response = push(client, app, "lending")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert body["expires_in"] == settings.oauth_request_uri_seconds < 600
    assert response.headers["cache-control"] == "no-store"


def test_the_pages_read_a_pushed_request_with_its_app_and_partner(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    request_uri = _request_uri(client, app, state="s-1")
    found = unit_of_work(
        db, lambda s: oauth.authorization_request(s, app.client_id, request_uri, clock.now())
    )
    assert found.app_id == uuid.UUID(app.app_id)
    assert found.app_name == "测试应用"
    assert found.partner_name == "测试电商平台有限公司"
    assert found.scopes == frozenset({"lending"})
    assert found.state == "s-1"
    assert found.redirect_uri == "https://partner.example/callback"
    assert found.consent_id is None


def test_pkce_plain_is_refused(client: TestClient, app: PartnerApp) -> None:
    pkce = Pkce()
    response = push(
        client, app, "lending", code_challenge=pkce.verifier, code_challenge_method="plain"
    )
    assert_oauth_error(response, "invalid_request")


def test_a_missing_code_challenge_method_is_refused(client: TestClient, app: PartnerApp) -> None:
    form = _form(client, app)
    del form["code_challenge_method"]
    assert_oauth_error(client.post("/oauth2/par", data=form), "invalid_request")


def test_a_missing_code_challenge_is_refused(client: TestClient, app: PartnerApp) -> None:
    form = _form(client, app)
    del form["code_challenge"]
    assert_oauth_error(client.post("/oauth2/par", data=form), "invalid_request")


def test_a_redirect_uri_not_registered_is_refused(client: TestClient, app: PartnerApp) -> None:
    response = push(client, app, "lending", redirect_uri="https://evil.example/callback")
    assert_oauth_error(response, "invalid_request")


def test_a_redirect_uri_differing_only_in_a_suffix_is_refused(
    client: TestClient, app: PartnerApp
) -> None:
    response = push(client, app, "lending", redirect_uri="https://partner.example/callback/x")
    assert_oauth_error(response, "invalid_request")


def test_a_scope_beyond_the_apps_subscriptions_is_refused(client: TestClient) -> None:
    app = create_app(client, products=("lending",))
    assert_oauth_error(push(client, app, "payments", consent_id=uuid.uuid4()), "invalid_scope")


def test_an_unknown_scope_is_refused(client: TestClient, app: PartnerApp) -> None:
    assert_oauth_error(push(client, app, "lending openid"), "invalid_scope")


@pytest.mark.parametrize("response_type", ["token", "code id_token", "code token"])
def test_implicit_and_hybrid_response_types_are_refused(
    client: TestClient, app: PartnerApp, response_type: str
) -> None:
    response = push(client, app, "lending", response_type=response_type)
    assert_oauth_error(response, "unsupported_response_type")


def test_a_request_uri_inside_par_is_refused(client: TestClient, app: PartnerApp) -> None:
    response = push(
        client, app, "lending", request_uri="urn:ietf:params:oauth:request_uri:whatever"
    )
    assert_oauth_error(response, "invalid_request")


def test_a_parameter_sent_twice_is_refused(client: TestClient, app: PartnerApp) -> None:
    form = [*_form(client, app).items(), ("scope", "lending")]
    response = client.post(
        "/oauth2/par",
        content=urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(response, "invalid_request")


def test_a_json_body_is_refused_as_invalid_request(client: TestClient, app: PartnerApp) -> None:
    response = client.post("/oauth2/par", json=_form(client, app))
    assert_oauth_error(response, "invalid_request")


def test_accounts_scope_needs_a_consent_id(client: TestClient, app: PartnerApp) -> None:
    assert_oauth_error(push(client, app, "accounts"), "invalid_request")


def test_an_unknown_consent_id_is_refused(client: TestClient, app: PartnerApp) -> None:
    body = assert_oauth_error(
        push(client, app, "accounts", consent_id=uuid.uuid4()), "invalid_request"
    )
    assert body["consent_error"]


def test_a_consent_id_that_is_not_a_uuid_is_refused(client: TestClient, app: PartnerApp) -> None:
    assert_oauth_error(push(client, app, "accounts", consent_id="42"), "invalid_request")


def test_a_request_uri_expires(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp, settings: Settings
) -> None:
    request_uri = _request_uri(client, app)
    later = clock.now() + timedelta(seconds=settings.oauth_request_uri_seconds + 1)
    with pytest.raises(InvalidAuthorizationRequest):
        unit_of_work(
            db, lambda s: oauth.authorization_request(s, app.client_id, request_uri, later)
        )


def test_a_request_uri_of_another_client_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    request_uri = _request_uri(client, app)
    other = create_app(client)
    with pytest.raises(InvalidAuthorizationRequest):
        unit_of_work(
            db,
            lambda s: oauth.authorization_request(s, other.client_id, request_uri, clock.now()),
        )


def test_an_unknown_request_uri_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    with pytest.raises(InvalidAuthorizationRequest):
        unit_of_work(
            db,
            lambda s: oauth.authorization_request(
                s, app.client_id, "urn:ietf:params:oauth:request_uri:nope", clock.now()
            ),
        )


def test_a_request_uri_is_used_once(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    request_uri = _request_uri(client, app)

    def approve(session: Session) -> str:
        found = oauth.authorization_request(session, app.client_id, request_uri, clock.now())
        return oauth.approve(session, found.id, uuid.uuid4(), clock.now())

    unit_of_work(db, approve)
    with pytest.raises(InvalidAuthorizationRequest):
        unit_of_work(db, approve)


def test_approval_redirects_with_code_state_and_issuer(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp, settings: Settings
) -> None:
    request_uri = _request_uri(client, app, state="st&te")
    redirect = unit_of_work(
        db,
        lambda s: oauth.approve(
            s,
            oauth.authorization_request(s, app.client_id, request_uri, clock.now()).id,
            uuid.uuid4(),
            clock.now(),
        ),
    )
    parts = urlsplit(redirect)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://partner.example/callback"
    query = parse_qs(parts.query)
    assert query["state"] == ["st&te"]
    assert query["iss"] == [settings.public_url]
    assert len(query["code"][0]) >= 43


def test_denial_redirects_with_access_denied_state_and_issuer(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp, settings: Settings
) -> None:
    request_uri = _request_uri(client, app, state="abc")
    redirect = unit_of_work(
        db,
        lambda s: oauth.deny(
            s,
            oauth.authorization_request(s, app.client_id, request_uri, clock.now()).id,
            clock.now(),
        ),
    )
    query = parse_qs(urlsplit(redirect).query)
    assert query == {"error": ["access_denied"], "state": ["abc"], "iss": [settings.public_url]}
    with pytest.raises(InvalidAuthorizationRequest):
        unit_of_work(
            db,
            lambda s: oauth.authorization_request(s, app.client_id, request_uri, clock.now()),
        )


def _form(client: TestClient, app: PartnerApp) -> dict[str, str]:
    return {
        "response_type": "code",
        "redirect_uri": "https://partner.example/callback",
        "scope": "lending",
        "code_challenge": Pkce().challenge,
        "code_challenge_method": "S256",
        **client_auth(client, app),
    }


def test_a_multipart_body_is_refused_as_invalid_request(
    client: TestClient, app: PartnerApp
) -> None:
    response = client.post("/oauth2/par", files={"scope": ("scope.txt", b"lending")})
    assert_oauth_error(response, "invalid_request")


def test_a_body_that_is_not_utf8_is_refused_as_invalid_request(
    client: TestClient, app: PartnerApp
) -> None:
    response = client.post(
        "/oauth2/par",
        content=b"scope=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(response, "invalid_request")
