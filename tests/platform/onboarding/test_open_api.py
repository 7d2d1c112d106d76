"""The OAuth path of remote opening: POST /v1/open/otp-challenges and /v1/open/e-accounts
with a client_credentials token (DPoP) and an Idempotency-Key, into the same service as the
signed gateway."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.customers.helpers import card_number, resident_id
from tests.platform.signed.support import new_phone
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import Token, auth_headers, client_credentials_token


def _post(
    client: TestClient, token: Token, path: str, body: dict[str, Any], key: str | None
) -> httpx.Response:
    headers = auth_headers(token, "POST", path)
    if key is not None:
        headers["Idempotency-Key"] = key
    response: httpx.Response = client.post(path, json=body, headers=headers)
    return response


def _opening(client: TestClient, token: Token) -> dict[str, Any]:
    phone = new_phone()
    challenge = _post(client, token, "/v1/open/otp-challenges", {"phone": phone}, str(uuid.uuid4()))
    assert challenge.status_code == 201, challenge.text
    return {
        "name": "王五",
        "id_number": resident_id(),
        "phone": phone,
        "otp_challenge_id": challenge.json()["challenge_id"],
        "otp_code": challenge.json()["sandbox_code"],
        "bound_card": {"number": card_number(), "bank_name": "招商银行"},
    }


def _app_and_token(client: TestClient) -> tuple[PartnerApp, Token]:
    app = create_app(client, products=("e_accounts",))
    return app, client_credentials_token(client, app, "e_accounts")


def test_a_client_credentials_token_opens_an_account(client: TestClient) -> None:
    _, token = _app_and_token(client)
    body = _opening(client, token)
    response = _post(client, token, "/v1/open/e-accounts", body, str(uuid.uuid4()))
    assert response.status_code == 201, response.text
    assert response.json()["account_class"] == "II"
    assert response.json()["consent_id"]


def test_the_same_idempotency_key_replays_the_opening(client: TestClient) -> None:
    _, token = _app_and_token(client)
    body = _opening(client, token)
    key = str(uuid.uuid4())
    first = _post(client, token, "/v1/open/e-accounts", body, key)
    again = _post(client, token, "/v1/open/e-accounts", body, key)
    assert again.status_code == 201, again.text
    assert again.json()["e_account_id"] == first.json()["e_account_id"]
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_an_opening_without_idempotency_key_is_refused(client: TestClient) -> None:
    _, token = _app_and_token(client)
    response = _post(client, token, "/v1/open/e-accounts", _opening(client, token), None)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


def test_a_wrong_code_through_the_api_is_refused(client: TestClient) -> None:
    _, token = _app_and_token(client)
    body = _opening(client, token)
    body["otp_code"] = "000000" if body["otp_code"] != "000000" else "111111"
    response = _post(client, token, "/v1/open/e-accounts", body, str(uuid.uuid4()))
    assert response.status_code == 401
    assert response.json()["code"] == "otp_invalid"


def test_a_token_without_the_e_accounts_scope_cannot_send_codes(client: TestClient) -> None:
    app = create_app(client, products=("payments",))
    token = client_credentials_token(client, app, "payments")
    response = _post(
        client, token, "/v1/open/otp-challenges", {"phone": new_phone()}, str(uuid.uuid4())
    )
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
