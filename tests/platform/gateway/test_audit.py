"""The API audit log: each partner-facing call recorded with who, what, result, latency and
interaction id; searched by auditors, newest first, a page at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.gateway.audit import COLUMNS, AuditWriter
from openbank.platform.gateway.models import ApiCall
from tests.platform.gateway.conftest import Caller, search
from tests.platform.test_operators_api import _bearer, _operator, _sign_in

TEMPLATE = "/v1/open/test/things/{thing_id}"


def _call(gw: TestClient, caller: Caller, thing: str = "a", **headers: str) -> str:
    """One partner call; its interaction id."""
    interaction = str(uuid.uuid4())
    gw.get(
        f"/v1/open/test/things/{thing}",
        params=caller.params(),
        headers={"x-fapi-interaction-id": interaction, **headers},
    )
    return interaction


def test_a_partner_call_is_recorded_with_who_what_and_how_long(
    gw: TestClient, caller: Caller
) -> None:
    interaction = _call(gw, caller)
    [row] = search(gw, interaction_id=interaction)["data"]
    assert row["app_id"] == str(caller.app_id)
    assert row["partner_id"] == str(caller.partner_id)
    assert row["customer_id"] == str(caller.customer_id)
    assert row["consent_id"] == str(caller.consent_id)
    assert row["channel"] == "oauth"
    assert (row["method"], row["path"], row["status"]) == ("GET", TEMPLATE, 200)
    assert row["problem_code"] is None
    assert row["latency_us"] > 0
    assert row["interaction_id"] == interaction
    assert row["client_ip"] is None  # the test client has no IP address


def test_an_error_is_recorded_with_its_problem_code(gw: TestClient, caller: Caller) -> None:
    interaction = _call(gw, caller, "missing")
    [row] = search(gw, interaction_id=interaction)["data"]
    assert (row["status"], row["problem_code"]) == (404, "not_found")
    assert row["app_id"] == str(caller.app_id)


def test_an_unexpected_error_is_recorded_as_a_500(gw: TestClient, caller: Caller) -> None:
    interaction = _call(gw, caller, "boom")
    [row] = search(gw, interaction_id=interaction)["data"]
    assert (row["status"], row["problem_code"]) == (500, "internal_error")


def test_an_unknown_partner_route_is_recorded_by_its_raw_path(gw: TestClient) -> None:
    interaction = str(uuid.uuid4())
    gw.get("/v1/open/nothing/here", headers={"x-fapi-interaction-id": interaction})
    [row] = search(gw, interaction_id=interaction)["data"]
    assert (row["path"], row["status"], row["problem_code"]) == (
        "/v1/open/nothing/here",
        404,
        "not_found",
    )
    assert row["app_id"] is None


def test_a_raw_path_postgresql_cannot_store_is_cleaned(gw: TestClient) -> None:
    interaction = str(uuid.uuid4())
    gw.get("/v1/open/a%00b", headers={"x-fapi-interaction-id": interaction})
    [row] = search(gw, interaction_id=interaction)["data"]
    assert row["path"] == "/v1/open/ab"


def test_oauth_endpoints_are_recorded(gw: TestClient) -> None:
    interaction = str(uuid.uuid4())
    gw.post("/oauth2/token", data={}, headers={"x-fapi-interaction-id": interaction})
    [row] = search(gw, interaction_id=interaction)["data"]
    assert row["path"] == "/oauth2/token"
    assert row["status"] >= 400


def test_operator_calls_are_not_recorded(gw: TestClient) -> None:
    interaction = str(uuid.uuid4())
    gw.get("/v1/partners", headers={"x-fapi-interaction-id": interaction})
    assert search(gw, interaction_id=interaction)["data"] == []


def test_search_filters_by_customer_consent_status_and_path(gw: TestClient, caller: Caller) -> None:
    other = Caller(
        app_id=caller.app_id,
        partner_id=caller.partner_id,
        customer_id=uuid.uuid4(),
        consent_id=uuid.uuid4(),
    )
    ok = _call(gw, caller)
    missing = _call(gw, caller, "missing")
    theirs = _call(gw, other)

    def interactions(**filters: object) -> list[str]:
        return [row["interaction_id"] for row in search(gw, **filters)["data"]]

    assert interactions(customer_id=caller.customer_id) == [missing, ok]
    assert interactions(consent_id=other.consent_id) == [theirs]
    assert interactions(app_id=caller.app_id, status=404) == [missing]
    assert interactions(app_id=caller.app_id, path=TEMPLATE) == [theirs, missing, ok]
    assert interactions(app_id=caller.app_id, path="/v1/open/other") == []


def test_search_filters_by_time(
    gw: TestClient, caller: Caller, gateway_clock: ShiftedClock
) -> None:
    before = _call(gw, caller)
    gateway_clock.advance(timedelta(minutes=10))
    boundary = gateway_clock.now()
    after = _call(gw, caller)
    since = search(gw, app_id=caller.app_id, since=boundary.isoformat())["data"]
    until = search(gw, app_id=caller.app_id, until=boundary.isoformat())["data"]
    assert [row["interaction_id"] for row in since] == [after]
    assert [row["interaction_id"] for row in until] == [before]


def test_search_pages_newest_first_without_gaps_or_repeats(gw: TestClient, caller: Caller) -> None:
    made = [_call(gw, caller) for _ in range(5)]
    seen: list[str] = []
    page = search(gw, app_id=caller.app_id, limit=2)
    pages = 1
    while True:
        seen += [row["interaction_id"] for row in page["data"]]
        if page["next_cursor"] is None:
            break
        assert page["next"] is not None
        page = search(gw, app_id=caller.app_id, limit=2, cursor=page["next_cursor"])
        pages += 1
    assert seen == list(reversed(made))
    assert pages == 3


def test_a_malformed_cursor_is_400(gw: TestClient) -> None:
    response = gw.get("/v1/audit/api-calls", params={"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_naive_since_is_422(gw: TestClient) -> None:
    response = gw.get("/v1/audit/api-calls", params={"since": "2030-01-01T00:00:00"})
    assert response.status_code == 422


def test_an_auditor_may_search(gw: TestClient, caller: Caller) -> None:
    interaction = _call(gw, caller)
    token = _sign_in(gw, _operator(gw, ["auditor"])).json()["access_token"]
    search(gw)  # flush
    response = gw.get(
        "/v1/audit/api-calls", params={"interaction_id": interaction}, headers=_bearer(token)
    )
    assert response.status_code == 200
    assert len(response.json()["data"]) == 1


def test_an_operator_without_the_auditor_role_may_not_search(gw: TestClient) -> None:
    token = _sign_in(gw, _operator(gw, ["operations", "risk"])).json()["access_token"]
    response = gw.get("/v1/audit/api-calls", headers=_bearer(token))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_search_needs_an_operator(gw: TestClient) -> None:
    response = gw.get("/v1/audit/api-calls", headers={"Authorization": ""})
    assert response.status_code == 401


def test_a_batch_postgresql_refuses_is_dropped_not_retried_forever(
    settings: Settings, db: Database
) -> None:
    writer = AuditWriter(settings)
    good, bad = _audit_row(), _audit_row(client_ip="not an address")
    writer.record(bad)
    writer.flush()
    assert writer.dropped == 1
    writer.record(good)
    writer.flush()
    writer.stop()
    found = unit_of_work(db, lambda s: s.get(ApiCall, good[0]))
    assert found is not None


def _audit_row(client_ip: str | None = None) -> tuple[object, ...]:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "at": datetime.now(UTC),
        "method": "GET",
        "path": "/v1/open/accounts",
        "status": 200,
        "latency_us": 1,
        "interaction_id": uuid.uuid4(),
        "client_ip": client_ip,
    }
    return tuple(values.get(column) for column in COLUMNS)


def test_oauth_calls_are_recorded_under_the_client_that_called(gw: TestClient) -> None:
    interaction = str(uuid.uuid4())
    client_id = str(uuid.uuid4())
    gw.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id},
        headers={"x-fapi-interaction-id": interaction},
    )
    [row] = search(gw, interaction_id=interaction)["data"]
    assert row["app_id"] == client_id
