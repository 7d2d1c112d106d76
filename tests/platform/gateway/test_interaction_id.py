"""x-fapi-interaction-id on every response: the client's UUID echoed, otherwise a fresh
UUID4; on successes and on every kind of error alike. x-request-id stays."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.platform.gateway.conftest import Caller


def _interaction(response: object) -> str:
    return response.headers["x-fapi-interaction-id"]  # type: ignore[attr-defined, no-any-return]


def test_a_uuid_sent_is_echoed_on_success(gw: TestClient, caller: Caller) -> None:
    sent = str(uuid.uuid4())
    response = gw.get(
        "/v1/open/test/things/a", params=caller.params(), headers={"x-fapi-interaction-id": sent}
    )
    assert response.status_code == 200
    assert _interaction(response) == sent


def test_one_is_generated_when_none_is_sent(gw: TestClient) -> None:
    response = gw.get("/healthz")
    assert uuid.UUID(_interaction(response)).version == 4
    assert uuid.UUID(response.headers["x-request-id"])


def test_a_value_that_is_not_a_uuid_is_replaced(gw: TestClient) -> None:
    response = gw.get("/healthz", headers={"x-fapi-interaction-id": "abc-123"})
    assert _interaction(response) != "abc-123"
    assert uuid.UUID(_interaction(response)).version == 4


def test_it_is_echoed_on_a_domain_error(gw: TestClient, caller: Caller) -> None:
    sent = str(uuid.uuid4())
    response = gw.get(
        "/v1/open/test/things/missing",
        params=caller.params(),
        headers={"x-fapi-interaction-id": sent},
    )
    assert response.status_code == 404
    assert _interaction(response) == sent


def test_it_is_echoed_on_an_unknown_route(gw: TestClient) -> None:
    sent = str(uuid.uuid4())
    response = gw.get("/v1/open/no-such-route", headers={"x-fapi-interaction-id": sent})
    assert response.status_code == 404
    assert _interaction(response) == sent


def test_it_is_generated_on_an_unknown_route(gw: TestClient) -> None:
    response = gw.get("/no-such-route")
    assert response.status_code == 404
    assert uuid.UUID(_interaction(response))


def test_it_is_echoed_on_a_validation_error(gw: TestClient, caller: Caller) -> None:
    sent = str(uuid.uuid4())
    response = gw.post(
        "/v1/open/test/things",
        params=caller.params(),
        content=b"{not json",
        headers={"x-fapi-interaction-id": sent, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert _interaction(response) == sent


def test_an_unexpected_error_is_a_500_problem_with_both_ids(gw: TestClient, caller: Caller) -> None:
    sent = str(uuid.uuid4())
    response = gw.get(
        "/v1/open/test/things/boom",
        params=caller.params(),
        headers={"x-fapi-interaction-id": sent},
    )
    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert _interaction(response) == sent
    assert uuid.UUID(response.headers["x-request-id"])


def test_it_is_sent_once(gw: TestClient) -> None:
    sent = str(uuid.uuid4())
    response = gw.get("/healthz", headers={"x-fapi-interaction-id": sent})
    assert response.headers.get_list("x-fapi-interaction-id") == [sent]
