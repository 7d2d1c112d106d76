"""PUT/GET /v1/apps/{app_id}/gateway-credentials: the operator registers an app's public keys
and encryption; the bank answers with its own public keys and, once, the symmetric key."""

from __future__ import annotations

import base64
import uuid

from fastapi.testclient import TestClient

from openbank.platform.signed import crypto
from tests.platform.signed.support import rsa_key, rsa_public_b64
from tests.platform.support import create_app

PASSWORD = "correct horse battery staple"


def _operator_token(client: TestClient, role: str) -> str:
    username = f"op{uuid.uuid4().hex[:10]}"
    created = client.post(
        "/v1/operators", json={"username": username, "password": PASSWORD, "roles": [role]}
    )
    assert created.status_code == 201, created.text
    signed_in = client.post(
        "/v1/operator-sessions",
        json={"username": username, "password": PASSWORD},
        headers={"Authorization": ""},
    )
    assert signed_in.status_code in (200, 201), signed_in.text
    return str(signed_in.json()["access_token"])


def test_setting_credentials_returns_the_banks_public_keys_and_the_symmetric_key_once(
    client: TestClient,
) -> None:
    app = create_app(client)
    _, sm2_public = crypto.generate_sm2_key()
    response = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json={
            "rsa_public_key": rsa_public_b64(rsa_key()),
            "sm2_public_key": sm2_public,
            "encryption": "SM4",
        },
    )
    assert response.status_code == 200, response.text
    issued = response.json()
    assert len(base64.b64decode(issued["encryption_key"])) == 16
    crypto.load_rsa_public_key(issued["bank_rsa_public_key"])
    assert crypto.sm2_public_key(issued["bank_sm2_public_key"]) == issued["bank_sm2_public_key"]
    shown = client.get(f"/v1/apps/{app.app_id}/gateway-credentials")
    assert shown.status_code == 200
    assert "encryption_key" not in shown.json()
    assert "private" not in shown.text
    assert shown.json()["bank_rsa_public_key"] == issued["bank_rsa_public_key"]


def test_setting_credentials_again_keeps_the_banks_keys_and_the_symmetric_key(
    client: TestClient,
) -> None:
    app = create_app(client)
    body = {"rsa_public_key": rsa_public_b64(rsa_key()), "encryption": "AES"}
    first = client.put(f"/v1/apps/{app.app_id}/gateway-credentials", json=body).json()
    second = client.put(f"/v1/apps/{app.app_id}/gateway-credentials", json=body).json()
    assert second["bank_sm2_public_key"] == first["bank_sm2_public_key"]
    assert second["encryption_key"] is None
    rotated = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials", json={**body, "rotate_encryption_key": True}
    ).json()
    assert rotated["encryption_key"] not in (None, first["encryption_key"])


def test_a_short_rsa_key_is_refused(client: TestClient) -> None:
    app = create_app(client)
    response = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json={"rsa_public_key": rsa_public_b64(rsa_key(1024)), "encryption": "none"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_public_key"


def test_an_sm2_key_off_the_curve_is_refused(client: TestClient) -> None:
    app = create_app(client)
    response = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json={"sm2_public_key": "11" * 64, "encryption": "none"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_public_key"


def test_credentials_need_at_least_one_public_key(client: TestClient) -> None:
    app = create_app(client)
    response = client.put(f"/v1/apps/{app.app_id}/gateway-credentials", json={"encryption": "none"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_public_key"


def test_credentials_of_an_unknown_app_are_not_found(client: TestClient) -> None:
    app_id = "01900000-0000-7000-8000-000000000001"
    put = client.put(
        f"/v1/apps/{app_id}/gateway-credentials",
        json={"sm2_public_key": crypto.generate_sm2_key()[1], "encryption": "none"},
    )
    assert put.status_code == 404
    assert client.get(f"/v1/apps/{app_id}/gateway-credentials").status_code == 404


def test_an_app_without_credentials_has_none_to_show(client: TestClient) -> None:
    app = create_app(client)
    response = client.get(f"/v1/apps/{app.app_id}/gateway-credentials")
    assert response.status_code == 404
    assert response.json()["code"] == "gateway_credentials_not_found"


def test_setting_credentials_needs_an_operator(client: TestClient) -> None:
    app = create_app(client)
    response = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json={"sm2_public_key": crypto.generate_sm2_key()[1], "encryption": "none"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 401


def test_setting_credentials_needs_the_operations_role(client: TestClient) -> None:
    app = create_app(client)
    body = {"sm2_public_key": crypto.generate_sm2_key()[1], "encryption": "none"}
    risk = _operator_token(client, "risk")
    refused = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json=body,
        headers={"Authorization": f"Bearer {risk}"},
    )
    assert refused.status_code == 403
    operations = _operator_token(client, "operations")
    accepted = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json=body,
        headers={"Authorization": f"Bearer {operations}"},
    )
    assert accepted.status_code == 200, accepted.text


def test_credentials_must_say_whether_requests_are_encrypted(client: TestClient) -> None:
    """Rotating a key without naming the encryption must not turn encryption off."""
    app = create_app(client)
    response = client.put(
        f"/v1/apps/{app.app_id}/gateway-credentials",
        json={"sm2_public_key": crypto.generate_sm2_key()[1]},
    )
    assert response.status_code == 422
