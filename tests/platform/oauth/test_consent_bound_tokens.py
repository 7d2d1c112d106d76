"""Customer tokens bound to a consent, end to end through the real partner endpoints:
client_credentials → create the consent → PAR naming it → the customer authorises it and
approves the request → code → DPoP token → /v1/open/accounts; then revocation or expiry
of the consent stops the token on the very next call, and its refresh token too."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.consents import service as consents
from openbank.platform.consents.errors import ConsentNotFound
from openbank.platform.oauth import service as oauth
from tests.platform.consents.support import Bank, Holder
from tests.platform.oauth.support import assert_oauth_error, introspect, token_request
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import (
    Token,
    auth_headers,
    client_credentials_token,
    customer_token,
    push,
)

ACCOUNTS = "/v1/open/accounts"


@pytest.fixture
def bank(db: Database, settings: Settings, clock: ShiftedClock, client: TestClient) -> Bank:
    return Bank(db=db, settings=settings, clock=clock, client=client)


def _consent(client: TestClient, app: PartnerApp, expiration: str | None = None) -> uuid.UUID:
    partner = client_credentials_token(client, app, "accounts")
    path = "/v1/open/account-access-consents"
    body: dict[str, object] = {"permissions": ["accounts", "balances", "transactions"]}
    if expiration is not None:
        body["expiration"] = expiration
    response = client.post(
        path,
        json=body,
        headers={**auth_headers(partner, "POST", path), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "awaiting_authorisation"
    return uuid.UUID(response.json()["id"])


def _authorise(bank: Bank, app: PartnerApp, holder: Holder, consent_id: uuid.UUID) -> None:
    bank.run(
        lambda s: consents.authorise(
            s,
            consent_id,
            uuid.UUID(app.app_id),
            holder.customer_id,
            holder.e_account_ids,
            ["accounts", "balances", "transactions"],
            bank.now(),
        )
    )


def _token(
    client: TestClient, bank: Bank, app: PartnerApp, expiration: str | None = None
) -> tuple[Token, Holder, uuid.UUID]:
    holder = bank.holder(accounts=2)
    consent_id = _consent(client, app, expiration)
    token = customer_token(
        client, bank.db, bank.clock, app, holder.customer_id, consent_id, "accounts"
    )
    return token, holder, consent_id


def test_a_consent_bound_token_reads_the_accounts_the_consent_covers(
    client: TestClient, bank: Bank, app: PartnerApp
) -> None:
    token, holder, _ = _token(client, bank, app)
    response = client.get(ACCOUNTS, headers=auth_headers(token, "GET", ACCOUNTS))
    assert response.status_code == 200, response.text
    ids = {item["id"] for item in response.json()["data"]}
    assert ids == {str(i) for i in holder.e_account_ids}


def test_revoking_the_consent_stops_the_token_on_the_very_next_call(
    client: TestClient, bank: Bank, app: PartnerApp
) -> None:
    token, holder, consent_id = _token(client, bank, app)
    assert client.get(ACCOUNTS, headers=auth_headers(token, "GET", ACCOUNTS)).status_code == 200
    bank.run(lambda s: consents.revoke_by_customer(s, consent_id, holder.customer_id, bank.now()))
    response = client.get(ACCOUNTS, headers=auth_headers(token, "GET", ACCOUNTS))
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "consent_revoked"


def test_a_refresh_after_the_consent_was_revoked_is_refused(
    client: TestClient, bank: Bank, app: PartnerApp
) -> None:
    token, holder, consent_id = _token(client, bank, app)
    bank.run(lambda s: consents.revoke_by_customer(s, consent_id, holder.customer_id, bank.now()))
    assert token.refresh_token
    response = token_request(
        client, app, token.dpop_key, grant_type="refresh_token", refresh_token=token.refresh_token
    )
    assert_oauth_error(response, "invalid_grant")


def test_an_expired_consent_stops_the_token(
    client: TestClient, bank: Bank, clock: ShiftedClock, app: PartnerApp
) -> None:
    expiration = (clock.now() + timedelta(seconds=120)).isoformat()
    token, _, _ = _token(client, bank, app, expiration)
    clock.advance(timedelta(seconds=121))
    response = client.get(ACCOUNTS, headers=auth_headers(token, "GET", ACCOUNTS))
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "consent_expired"


def test_par_refuses_another_apps_consent(client: TestClient, bank: Bank, app: PartnerApp) -> None:
    other = create_app(client)
    consent_id = _consent(client, other)
    body = assert_oauth_error(
        push(client, app, "accounts", consent_id=consent_id), "invalid_request"
    )
    assert body["consent_error"] == "consent_not_found"


def test_par_refuses_a_consent_already_authorised(
    client: TestClient, bank: Bank, app: PartnerApp
) -> None:
    _, _, consent_id = _token(client, bank, app)
    assert_oauth_error(push(client, app, "accounts", consent_id=consent_id), "invalid_request")


def test_approval_needs_the_consent_authorised_by_that_customer(
    client: TestClient, bank: Bank, app: PartnerApp
) -> None:
    holder, stranger = bank.holder(accounts=1), bank.holder(accounts=1)
    consent_id = _consent(client, app)
    pushed = push(client, app, "accounts", consent_id=consent_id)
    assert pushed.status_code == 201, pushed.text
    request_uri = pushed.json()["request_uri"]
    _authorise(bank, app, holder, consent_id)

    def approve_as_stranger(session: Session) -> str:
        found = oauth.authorization_request(session, app.client_id, request_uri, bank.now())
        return oauth.approve(session, found.id, stranger.customer_id, bank.now())

    with pytest.raises(ConsentNotFound):
        unit_of_work(bank.db, approve_as_stranger)


def test_introspection_says_inactive_once_the_consent_is_revoked(
    client: TestClient, bank: Bank, app: PartnerApp
) -> None:
    token, holder, consent_id = _token(client, bank, app)
    assert introspect(client, app, token.access_token)["active"] is True
    bank.run(lambda s: consents.revoke_by_customer(s, consent_id, holder.customer_id, bank.now()))
    assert introspect(client, app, token.access_token) == {"active": False}


def test_par_refuses_scopes_the_consent_page_would_not_show(
    client: TestClient, app: PartnerApp
) -> None:
    """An account-access consent shows accounts; a payments scope riding along would be
    granted without the customer ever seeing it."""
    consent_id = _consent(client, app)
    response = push(client, app, "accounts payments", consent_id=consent_id)
    assert_oauth_error(response, "invalid_scope")
