"""Webhooks over HTTP, through the session's API process, whose own dispatcher thread does the
delivering: operator and partner endpoints, the published JWKS, dead letters and replay."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbank.core.database import Database, unit_of_work
from openbank.core.outbox import emit
from openbank.platform.webhooks.signing import verify_signature
from tests.platform.support import PartnerApp, create_app
from tests.platform.tokens import Token, auth_headers, client_credentials_token
from tests.platform.webhooks.helpers import Receiver, eventually


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _register(
    client: TestClient, app: PartnerApp, url: str, event_types: list[str] | None = None
) -> dict[str, Any]:
    response = client.post(
        f"/v1/apps/{app.app_id}/webhook-endpoints",
        json={"url": url, "event_types": event_types or ["*"]},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _emit(client: TestClient, db: Database, app: PartnerApp, payload: dict[str, Any]) -> str:
    now = client.app.state.clock.now()  # type: ignore[attr-defined]
    event_id = unit_of_work(
        db,
        lambda s: emit(s, "e_account.opened", "e-accounts/1", payload, now, uuid.UUID(app.app_id)),
    )
    return str(event_id)


def _delivery_of(client: TestClient, app: PartnerApp, event_id: str) -> dict[str, Any] | None:
    response = client.get("/v1/webhook-deliveries", params={"app_id": app.app_id})
    assert response.status_code == 200, response.text
    found = [d for d in response.json()["data"] if d["event_id"] == event_id]
    return found[0] if found else None


def _with_status(client: TestClient, app: PartnerApp, event_id: str, status: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        delivery = _delivery_of(client, app, event_id)
        return delivery if delivery is not None and delivery["status"] == status else None

    return eventually(check)


# -- operators ------------------------------------------------------------------------------


def test_operator_registers_lists_and_removes_an_endpoint(client: TestClient) -> None:
    app = create_app(client)
    url = "https://partner.example/openbank/webhooks"
    endpoint = _register(client, app, url, ["consent.revoked", "consent.authorised"])
    assert endpoint["status"] == "active"
    assert endpoint["event_types"] == ["consent.authorised", "consent.revoked"]

    listed = client.get(f"/v1/apps/{app.app_id}/webhook-endpoints").json()
    assert [e["id"] for e in listed] == [endpoint["id"]]

    path = f"/v1/apps/{app.app_id}/webhook-endpoints/{endpoint['id']}"
    assert client.delete(path).status_code == 204
    [removed] = client.get(f"/v1/apps/{app.app_id}/webhook-endpoints").json()
    assert removed["status"] == "disabled"


@pytest.mark.parametrize(
    ("environment", "url"),
    [
        ("sandbox", "http://partner.example/hooks"),
        ("production", "http://localhost:8080/hooks"),
        ("production", "https://10.0.0.8/hooks"),
        ("sandbox", "ftp://partner.example/hooks"),
        ("sandbox", "https://user:secret@partner.example/hooks"),
    ],
)
def test_unacceptable_url_is_refused_with_a_problem_and_nothing_written(
    client: TestClient, environment: str, url: str
) -> None:
    app = create_app(client, environment=environment)

    response = client.post(
        f"/v1/apps/{app.app_id}/webhook-endpoints", json={"url": url, "event_types": ["*"]}
    )

    _problem(response, 422, "invalid_webhook_url")
    assert client.get(f"/v1/apps/{app.app_id}/webhook-endpoints").json() == []


def test_unknown_event_type_is_refused_with_a_problem_and_nothing_written(
    client: TestClient,
) -> None:
    app = create_app(client)

    response = client.post(
        f"/v1/apps/{app.app_id}/webhook-endpoints",
        json={"url": "https://partner.example/hooks", "event_types": ["account.hacked"]},
    )

    body = _problem(response, 422, "unknown_event_type")
    assert body["unknown"] == ["account.hacked"]
    assert client.get(f"/v1/apps/{app.app_id}/webhook-endpoints").json() == []


def test_endpoint_of_an_unknown_app_is_not_found(client: TestClient) -> None:
    response = client.post(
        f"/v1/apps/{uuid.uuid4()}/webhook-endpoints",
        json={"url": "https://partner.example/hooks", "event_types": ["*"]},
    )

    _problem(response, 404, "app_not_found")


def test_delivery_is_signed_and_verifies_with_the_published_jwks(
    client: TestClient, db: Database, receiver: Receiver
) -> None:
    app = create_app(client)
    _register(client, app, receiver.url)
    payload = {"e_account_id": str(uuid.uuid4()), "holder": "张三"}

    event_id = _emit(client, db, app, payload)

    [request] = receiver.wait_for(1)
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200, jwks.text
    header = verify_signature(request.body, request.headers["X-JWS-Signature"], jwks.json())
    assert header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in jwks.json()["keys"]}
    assert header["iss"] == client.app.state.settings.public_url  # type: ignore[attr-defined]
    assert request.headers["X-Openbank-Event-Id"] == event_id
    assert json.loads(request.body)["data"] == payload
    delivered = _with_status(client, app, event_id, "delivered")
    assert delivered["attempts"] == 1


def test_operator_replays_a_failed_delivery_and_it_is_delivered(
    client: TestClient, db: Database, receiver: Receiver
) -> None:
    app = create_app(client)
    _register(client, app, receiver.url)
    receiver.answers = [500]
    event_id = _emit(client, db, app, {"n": 1})
    failed = _with_status(client, app, event_id, "failed")

    response = client.post(f"/v1/webhook-deliveries/{failed['id']}/replay")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    _with_status(client, app, event_id, "delivered")
    requests = receiver.wait_for(2)
    assert {r.headers["X-Openbank-Event-Id"] for r in requests} == {event_id}


def test_dead_letters_list_the_deliveries_of_a_removed_endpoint(
    client: TestClient, db: Database, receiver: Receiver
) -> None:
    app = create_app(client)
    endpoint = _register(client, app, receiver.url)
    receiver.always = 500
    event_id = _emit(client, db, app, {"n": 2})
    _with_status(client, app, event_id, "failed")

    client.delete(f"/v1/apps/{app.app_id}/webhook-endpoints/{endpoint['id']}")

    page = client.get("/v1/webhook-deliveries", params={"status": "dead", "app_id": app.app_id})
    [dead] = page.json()["data"]
    assert (dead["event_id"], dead["last_error"]) == (event_id, "endpoint removed")
    _problem(
        client.post(f"/v1/webhook-deliveries/{dead['id']}/replay"),
        409,
        "webhook_delivery_not_replayable",
    )


# -- partners -------------------------------------------------------------------------------


def _token(client: TestClient, app: PartnerApp) -> Token:
    return client_credentials_token(client, app, "accounts")


def test_partner_registers_and_lists_its_own_endpoint(client: TestClient) -> None:
    app = create_app(client)
    token = _token(client, app)
    path = "/v1/open/webhook-endpoints"

    created = client.post(
        path,
        json={"url": "https://partner.example/hooks", "event_types": ["consent.revoked"]},
        headers={**auth_headers(token, "POST", path), "Idempotency-Key": str(uuid.uuid4())},
    )

    assert created.status_code == 201, created.text
    assert created.json()["app_id"] == app.app_id
    listed = client.get(path, headers=auth_headers(token, "GET", path))
    assert [e["id"] for e in listed.json()] == [created.json()["id"]]


def test_partner_cannot_remove_another_apps_endpoint(client: TestClient) -> None:
    mine, theirs = create_app(client), create_app(client)
    endpoint = _register(client, theirs, "https://partner.example/hooks")
    token = _token(client, mine)
    path = f"/v1/open/webhook-endpoints/{endpoint['id']}"

    response = client.delete(path, headers=auth_headers(token, "DELETE", path))

    _problem(response, 404, "webhook_endpoint_not_found")
    [still] = client.get(f"/v1/apps/{theirs.app_id}/webhook-endpoints").json()
    assert still["status"] == "active"


def test_partner_sees_only_its_own_deliveries(
    client: TestClient, db: Database, receiver: Receiver
) -> None:
    mine, theirs = create_app(client), create_app(client)
    _register(client, mine, receiver.url)
    _register(client, theirs, receiver.url)
    my_event = _emit(client, db, mine, {"n": 3})
    their_event = _emit(client, db, theirs, {"n": 4})
    _with_status(client, mine, my_event, "delivered")
    theirs_delivered = _with_status(client, theirs, their_event, "delivered")
    token = _token(client, mine)
    path = "/v1/open/webhook-deliveries"

    listed = client.get(path, headers=auth_headers(token, "GET", path))

    assert listed.status_code == 200, listed.text
    assert [d["event_id"] for d in listed.json()["data"]] == [my_event]
    other = f"{path}/{theirs_delivered['id']}"
    _problem(
        client.get(other, headers=auth_headers(token, "GET", other)),
        404,
        "webhook_delivery_not_found",
    )
