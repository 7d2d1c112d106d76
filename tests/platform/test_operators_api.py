"""Operators sign in with their own credentials and roles; the admin token only bootstraps."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from tests.platform.support import create_partner

PASSWORD = "correct horse battery staple"


def _operator(client: TestClient, roles: list[str]) -> str:
    username = f"op{uuid.uuid4().hex[:10]}"
    r = client.post(
        "/v1/operators", json={"username": username, "password": PASSWORD, "roles": roles}
    )
    assert r.status_code == 201, r.text
    assert "password" not in r.text
    return username


def _sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(
        "/v1/operator-sessions",
        json={"username": username, "password": password},
        headers={"Authorization": ""},
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_operator_signs_in_and_the_token_works(client: TestClient) -> None:
    username = _operator(client, ["operations"])
    session = _sign_in(client, username)
    assert session.status_code == 201, session.text
    token = session.json()["access_token"]
    assert session.json()["operator"]["roles"] == ["operations"]
    assert client.get("/v1/partners", headers=_bearer(token)).status_code == 200


def test_wrong_password_and_unknown_operator_get_the_same_answer(client: TestClient) -> None:
    username = _operator(client, ["operations"])
    wrong = _sign_in(client, username, "not the password")
    unknown = _sign_in(client, "nobody-here", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_operator_without_the_role_is_forbidden(client: TestClient) -> None:
    token = _sign_in(client, _operator(client, ["auditor"])).json()["access_token"]
    response = client.post(
        "/v1/partners",
        headers=_bearer(token),
        json={
            "legal_name": "x",
            "unified_social_credit_code": "91330106MA2B2D3E0X",
            "contact_name": "x",
            "contact_email": "a@b.cn",
            "contact_phone": "+8613800138000",
        },
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_only_admins_create_operators(client: TestClient) -> None:
    token = _sign_in(client, _operator(client, ["operations"])).json()["access_token"]
    response = client.post(
        "/v1/operators",
        headers=_bearer(token),
        json={"username": "sneaky", "password": PASSWORD, "roles": ["admin"]},
    )
    assert response.status_code == 403


def test_signed_out_token_stops_working(client: TestClient) -> None:
    token = _sign_in(client, _operator(client, ["operations"])).json()["access_token"]
    assert client.delete("/v1/operator-sessions/current", headers=_bearer(token)).status_code == 204
    assert client.get("/v1/partners", headers=_bearer(token)).status_code == 401


def test_operations_role_onboards_partners(client: TestClient) -> None:
    token = _sign_in(client, _operator(client, ["operations"])).json()["access_token"]
    client.headers.update(_bearer(token))
    try:
        create_partner(client)
    finally:
        client.headers.update({"Authorization": "Bearer test-admin-token"})


def test_short_password_is_refused(client: TestClient) -> None:
    response = client.post(
        "/v1/operators", json={"username": "shorty", "password": "short", "roles": ["admin"]}
    )
    assert response.status_code == 422


def test_duplicate_username_is_refused(client: TestClient) -> None:
    username = _operator(client, ["auditor"])
    response = client.post(
        "/v1/operators", json={"username": username, "password": PASSWORD, "roles": ["auditor"]}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "operator_exists"
