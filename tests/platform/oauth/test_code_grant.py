"""The authorization_code grant: PKCE S256, a single-use code valid at most 60 s, a DPoP
proof on the token request, tokens sender-constrained to that proof's key."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.platform.oauth.support import (
    assert_oauth_error,
    code_for,
    introspect,
    token_request,
)
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import (
    DPoPKey,
    Pkce,
    approved_code,
    client_auth,
    customer_token,
    redeem,
)

REDIRECT = "https://partner.example/callback"


def _code_form(code: str, pkce: Pkce, redirect_uri: str = REDIRECT) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pkce.verifier,
    }


def test_a_code_is_exchanged_for_dpop_bound_access_and_refresh_tokens(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp, settings: Settings
) -> None:
    code, pkce = code_for(client, db, app)
    dpop_key = DPoPKey(clock=clock)
    response = redeem(client, app, code, pkce, dpop_key)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert body["scope"] == "lending"
    assert body["expires_in"] == settings.oauth_access_token_seconds
    assert len(body["access_token"]) >= 43
    assert body["refresh_token"]
    seen = introspect(client, app, body["access_token"])
    assert seen["active"] is True
    assert seen["cnf"] == {"jkt": dpop_key.jkt}


def test_a_customer_token_names_its_customer(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    customer_id = uuid.uuid4()
    token = customer_token(client, db, clock, app, customer_id, None, "lending")
    assert introspect(client, app, token.access_token)["sub"] == str(customer_id)


def test_a_code_not_issued_through_par_gets_no_token(
    client: TestClient, clock: ShiftedClock, app: PartnerApp
) -> None:
    """PAR is required: the only codes that exist come from pushed requests."""
    response = token_request(
        client, app, DPoPKey(clock=clock), **_code_form(secrets.token_urlsafe(32), Pkce())
    )
    assert_oauth_error(response, "invalid_grant")


def test_a_reused_code_is_refused_and_its_tokens_are_revoked(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    code, pkce = code_for(client, db, app)
    first = redeem(client, app, code, pkce, DPoPKey(clock=clock))
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert introspect(client, app, tokens["access_token"])["active"] is True

    again = redeem(client, app, code, pkce, DPoPKey(clock=clock))
    assert_oauth_error(again, "invalid_grant")
    assert introspect(client, app, tokens["access_token"]) == {"active": False}
    assert introspect(client, app, tokens["refresh_token"]) == {"active": False}


def test_a_code_older_than_60_seconds_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp, settings: Settings
) -> None:
    assert settings.oauth_code_seconds <= 60
    code, pkce = code_for(client, db, app)
    clock.advance(timedelta(seconds=settings.oauth_code_seconds + 1))
    assert_oauth_error(redeem(client, app, code, pkce, DPoPKey(clock=clock)), "invalid_grant")


def test_a_wrong_code_verifier_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    code, _ = code_for(client, db, app)
    assert_oauth_error(redeem(client, app, code, Pkce(), DPoPKey(clock=clock)), "invalid_grant")


def test_a_code_burnt_by_a_wrong_verifier_cannot_be_retried(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    code, pkce = code_for(client, db, app)
    redeem(client, app, code, Pkce(), DPoPKey(clock=clock))
    assert_oauth_error(redeem(client, app, code, pkce, DPoPKey(clock=clock)), "invalid_grant")


def test_a_missing_code_verifier_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    code, pkce = code_for(client, db, app)
    form = _code_form(code, pkce)
    del form["code_verifier"]
    assert_oauth_error(token_request(client, app, DPoPKey(clock=clock), **form), "invalid_request")


def test_a_different_redirect_uri_at_the_token_endpoint_is_refused(
    client: TestClient, db: Database, clock: ShiftedClock
) -> None:
    app = create_app(client, products=("lending",), redirect_uris=(REDIRECT, REDIRECT + "2"))
    code, pkce = code_for(client, db, app)
    response = token_request(
        client, app, DPoPKey(clock=clock), **_code_form(code, pkce, REDIRECT + "2")
    )
    assert_oauth_error(response, "invalid_grant")


def test_another_client_cannot_redeem_the_code(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    code, pkce = code_for(client, db, app)
    thief = create_app(client, products=("lending",))
    assert_oauth_error(redeem(client, thief, code, pkce, DPoPKey(clock=clock)), "invalid_grant")
    # ...and the code is still good for its own client.
    assert redeem(client, app, code, pkce, DPoPKey(clock=clock)).status_code == 200


def test_a_token_request_without_a_dpop_proof_is_refused(
    client: TestClient, db: Database, app: PartnerApp
) -> None:
    code, pkce = code_for(client, db, app)
    response = token_request(client, app, None, **_code_form(code, pkce))
    assert_oauth_error(response, "invalid_dpop_proof")


def test_a_code_bound_to_a_dpop_key_at_par_needs_that_key(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    bound = DPoPKey(clock=clock)
    pkce = Pkce()
    response = client.post(
        "/oauth2/par",
        data=_par_form(client, app, pkce),
        headers={"DPoP": bound.proof("POST", "/oauth2/par")},
    )
    assert response.status_code == 201, response.text
    code = approved_code(client, db, app, response.json()["request_uri"], uuid.uuid4())
    other = redeem(client, app, code, pkce, DPoPKey(clock=clock))
    assert_oauth_error(other, "invalid_dpop_proof")


def test_the_dpop_key_bound_at_par_redeems_the_code(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    bound = DPoPKey(clock=clock)
    pkce = Pkce()
    response = client.post(
        "/oauth2/par",
        data=_par_form(client, app, pkce),
        headers={"DPoP": bound.proof("POST", "/oauth2/par")},
    )
    code = approved_code(client, db, app, response.json()["request_uri"], uuid.uuid4())
    assert redeem(client, app, code, pkce, bound).status_code == 200


def _par_form(client: TestClient, app: PartnerApp, pkce: Pkce) -> dict[str, str]:
    return {
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "lending",
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **client_auth(client, app),
    }


def test_the_dpop_jkt_parameter_at_par_binds_the_code_to_that_key(
    client: TestClient, db: Database, clock: ShiftedClock, app: PartnerApp
) -> None:
    bound = DPoPKey(clock=clock)
    pkce = Pkce()
    response = client.post(
        "/oauth2/par", data={**_par_form(client, app, pkce), "dpop_jkt": bound.jkt}
    )
    assert response.status_code == 201, response.text
    code = approved_code(client, db, app, response.json()["request_uri"], uuid.uuid4())
    assert_oauth_error(redeem(client, app, code, pkce, DPoPKey(clock=clock)), "invalid_dpop_proof")


def test_a_dpop_jkt_parameter_differing_from_the_par_proof_is_refused(
    client: TestClient, clock: ShiftedClock, app: PartnerApp
) -> None:
    proof_key, other = DPoPKey(clock=clock), DPoPKey(clock=clock)
    response = client.post(
        "/oauth2/par",
        data={**_par_form(client, app, Pkce()), "dpop_jkt": other.jkt},
        headers={"DPoP": proof_key.proof("POST", "/oauth2/par")},
    )
    assert_oauth_error(response, "invalid_dpop_proof")
