"""HTTP conventions every endpoint shares: problem details, request ids, operator auth."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

ACCOUNT = {"currency": "CNY", "code": "customer_wallet"}


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz")
    assert uuid.UUID(response.headers["x-request-id"])


def test_fapi_interaction_id_is_echoed_even_on_errors(client: TestClient) -> None:
    interaction_id = str(uuid.uuid4())
    response = client.get(
        f"/v1/ledger/accounts/{uuid.uuid4()}", headers={"x-fapi-interaction-id": interaction_id}
    )
    assert response.status_code == 404
    assert response.headers["x-fapi-interaction-id"] == interaction_id


def test_unknown_route_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


def test_operator_endpoints_refuse_a_missing_token(client: TestClient) -> None:
    response = client.post("/v1/ledger/accounts", json=ACCOUNT, headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


def test_operator_endpoints_refuse_a_wrong_token(client: TestClient) -> None:
    response = client.get(
        f"/v1/ledger/accounts/{uuid.uuid4()}", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401


def test_malformed_json_is_a_422_problem_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/v1/ledger/accounts", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"


def test_idempotent_post_replays_the_first_response(client: TestClient) -> None:
    key = str(uuid.uuid4())
    first = client.post("/v1/ledger/accounts", json=ACCOUNT, headers={"Idempotency-Key": key})
    second = client.post("/v1/ledger/accounts", json=ACCOUNT, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_idempotency_key_with_another_body_is_a_409(client: TestClient) -> None:
    key = str(uuid.uuid4())
    client.post("/v1/ledger/accounts", json=ACCOUNT, headers={"Idempotency-Key": key})
    response = client.post(
        "/v1/ledger/accounts",
        json={**ACCOUNT, "code": "merchant_settlement"},
        headers={"Idempotency-Key": key},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"


def test_openapi_documents_problem_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    transfer = spec["paths"]["/v1/ledger/transfers"]["post"]
    assert "application/problem+json" in transfer["responses"]["422"]["content"]


def test_unknown_currency_is_a_validation_problem(client: TestClient) -> None:
    response = client.post("/v1/ledger/accounts", json={**ACCOUNT, "currency": "XYZ"})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_currency"
