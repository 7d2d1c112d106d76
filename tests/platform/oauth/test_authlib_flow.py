"""The full flow with a real OAuth client library: Authlib's httpx OAuth2Client with
private_key_jwt (RFC 7523) and PKCE S256, plus the DPoP header Authlib does not make:
PAR → the customer's approval → token with DPoP → API call → refresh → introspect →
revoke. Authlib speaks to the ASGI app through the TestClient's transport.

Authlib stamps its client assertions with the real time, so this module runs its own app
on a clock nobody has moved."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient

from openbank.api import create_app as create_api
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.consents import service as consents
from openbank.platform.oauth import service as oauth
from tests.conftest import AUTH, BASE_URL
from tests.platform.consents.support import Bank
from tests.platform.support import REDIRECT_URI, PartnerApp, create_app
from tests.platform.tokens import DPoPKey, Token, auth_headers, client_credentials_token

ACCOUNTS = "/v1/open/accounts"


@pytest.fixture(scope="module")
def real_time() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def api(db: Database, settings: Settings, real_time: ShiftedClock) -> Iterator[TestClient]:
    with TestClient(
        create_api(settings, real_time), headers=AUTH, base_url=BASE_URL
    ) as test_client:
        yield test_client


def _authlib(api: TestClient, app: PartnerApp, **kwargs: Any) -> OAuth2Client:
    """Authlib's client for `app`: private_key_jwt with the app's ES256 key, PKCE S256."""
    session = OAuth2Client(
        client_id=app.client_id,
        client_secret=app.key,
        token_endpoint_auth_method="private_key_jwt",
        revocation_endpoint_auth_method="private_key_jwt",
        code_challenge_method="S256",
        redirect_uri=REDIRECT_URI,
        base_url=BASE_URL,
        transport=api._transport,  # the ASGI app, in process
        **kwargs,
    )
    # FAPI 2.0: the audience is the issuer (Authlib would name the endpoint by default).
    session.register_client_auth_method(PrivateKeyJWT(token_endpoint=BASE_URL, alg="ES256"))
    return session


def _discovered(api: TestClient) -> dict[str, str]:
    """Discovery, with every endpoint on the test server's origin."""
    metadata: dict[str, Any] = api.get("/.well-known/openid-configuration").json()
    issuer = metadata["issuer"]
    return {
        name: BASE_URL + value.removeprefix(issuer)
        for name, value in metadata.items()
        if isinstance(value, str) and value.startswith(issuer) and name != "issuer"
    }


def test_par_code_dpop_token_and_api_call_with_authlib(
    api: TestClient, db: Database, settings: Settings, real_time: ShiftedClock
) -> None:
    bank = Bank(db=db, settings=settings, clock=real_time, client=api)
    app = create_app(api, products=("e_accounts", "payments"))
    holder = bank.holder(accounts=1)
    endpoints = _discovered(api)

    # The partner asks for a consent with a partner-level token.
    partner_token = client_credentials_token(api, app, "accounts")
    path = "/v1/open/account-access-consents"
    created = api.post(
        path,
        json={"permissions": ["accounts", "balances"]},
        headers={**auth_headers(partner_token, "POST", path), "Idempotency-Key": "c-1"},
    )
    assert created.status_code == 201, created.text
    consent_id = created.json()["id"]

    client = _authlib(api, app, scope="accounts")
    verifier = "v" * 20 + uuid.uuid4().hex + uuid.uuid4().hex
    authorize_url, state = client.create_authorization_url(
        endpoints["authorization_endpoint"], code_verifier=verifier, consent_id=consent_id
    )
    params = dict(parse_qsl(urlsplit(authorize_url).query))
    assert params["code_challenge"] == create_s256_code_challenge(verifier)
    assert params["code_challenge_method"] == "S256"

    # PAR, authenticated by Authlib's private_key_jwt.
    dpop_key = DPoPKey(clock=real_time)
    pushed = client.post(
        endpoints["pushed_authorization_request_endpoint"],
        data=params,
        auth=client.client_auth("private_key_jwt"),
    )
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]

    # The customer signs in, authorises the consent and approves (the pages' service calls).
    def customer_approves(session: Any) -> str:
        found = oauth.authorization_request(session, app.client_id, request_uri, real_time.now())
        consents.authorise(
            session,
            uuid.UUID(consent_id),
            found.app_id,
            holder.customer_id,
            holder.e_account_ids,
            ["accounts", "balances"],
            real_time.now(),
        )
        return oauth.approve(session, found.id, holder.customer_id, real_time.now())

    redirect = unit_of_work(db, customer_approves)
    returned = dict(parse_qsl(urlsplit(redirect).query))
    assert returned["state"] == state
    assert returned["iss"] == settings.public_url

    # The code for tokens: Authlib checks state and sends the verifier; we add DPoP.
    token_url = endpoints["token_endpoint"]
    token = client.fetch_token(
        token_url,
        authorization_response=redirect,
        code_verifier=verifier,
        headers={"DPoP": dpop_key.proof("POST", token_url)},
    )
    assert token["token_type"] == "DPoP"
    assert token["scope"] == "accounts"

    # The API call: Authlib knows only Bearer, so the DPoP scheme and proof go by hand.
    access = Token(token["access_token"], dpop_key)
    response = client.request(
        "GET", ACCOUNTS, headers=auth_headers(access, "GET", ACCOUNTS), withhold_token=True
    )
    assert response.status_code == 200, response.text
    assert [a["id"] for a in response.json()["data"]] == [str(holder.e_account_ids[0])]

    # Refresh (rotation), introspect, revoke: all through Authlib.
    renewed = client.refresh_token(
        token_url,
        refresh_token=token["refresh_token"],
        headers={"DPoP": dpop_key.proof("POST", token_url)},
    )
    assert renewed["refresh_token"] != token["refresh_token"]
    seen = client.introspect_token(
        endpoints["introspection_endpoint"], token=renewed["access_token"]
    ).json()
    assert seen["active"] is True
    assert seen["consent_id"] == consent_id
    assert seen["sub"] == str(holder.customer_id)
    assert seen["cnf"] == {"jkt": dpop_key.jkt}
    revoked = client.revoke_token(endpoints["revocation_endpoint"], token=renewed["refresh_token"])
    assert revoked.status_code == 200
    after = client.request(
        "GET",
        ACCOUNTS,
        headers=auth_headers(Token(renewed["access_token"], dpop_key), "GET", ACCOUNTS),
        withhold_token=True,
    )
    assert after.status_code == 401
    assert after.json()["code"] == "invalid_token"


def test_authlib_cannot_get_a_token_without_dpop(api: TestClient, db: Database) -> None:
    app = create_app(api, products=("lending",))
    client = _authlib(api, app, scope="lending")
    with pytest.raises(Exception, match="invalid_dpop_proof"):
        client.fetch_token(_discovered(api)["token_endpoint"], grant_type="client_credentials")


def test_authlib_client_credentials_with_dpop(api: TestClient, real_time: ShiftedClock) -> None:
    app = create_app(api, products=("lending",))
    client = _authlib(api, app, scope="lending")
    token_url = _discovered(api)["token_endpoint"]
    token = client.fetch_token(
        token_url,
        grant_type="client_credentials",
        headers={"DPoP": DPoPKey(clock=real_time).proof("POST", token_url)},
    )
    assert token["token_type"] == "DPoP"
    assert "refresh_token" not in token


def test_authlib_with_a_plain_pkce_method_is_refused_at_par(api: TestClient) -> None:
    app = create_app(api, products=("lending",))
    client = _authlib(api, app, scope="lending")
    url, _ = client.create_authorization_url(
        _discovered(api)["authorization_endpoint"], code_verifier="p" * 50
    )
    params = dict(parse_qsl(urlsplit(url).query))
    params["code_challenge"] = "p" * 50
    params["code_challenge_method"] = "plain"
    pushed = client.post(
        _discovered(api)["pushed_authorization_request_endpoint"],
        data=params,
        auth=client.client_auth("private_key_jwt"),
    )
    assert pushed.status_code == 400
    assert pushed.json()["error"] == "invalid_request"
