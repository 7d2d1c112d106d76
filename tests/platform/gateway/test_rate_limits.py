"""Rate limits per app and product: 429 with Retry-After, products apart, operator overrides,
and one limit however many connection pools (processes) count against it."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.platform.gateway import service as gateway
from openbank.platform.gateway.errors import RateLimited
from openbank.platform.gateway.ratelimit import Limit, count_call
from tests.platform.gateway.conftest import Caller
from tests.platform.support import create_app
from tests.platform.test_operators_api import _bearer, _operator, _sign_in


def _app_caller(gw: TestClient, **limits: tuple[int, int]) -> Caller:
    """A caller of a real app (overrides reference partner_apps) with `limits` set."""
    app = create_app(gw)
    if limits:
        body = {
            "limits": [
                {"product": product, "per_second": rate, "burst": burst}
                for product, (rate, burst) in limits.items()
            ]
        }
        response = gw.put(f"/v1/apps/{app.app_id}/rate-limits", json=body)
        assert response.status_code == 200, response.text
    return Caller(app_id=uuid.UUID(app.app_id), partner_id=uuid.UUID(app.partner_id))


def _read(gw: TestClient, caller: Caller, product: str = "e_accounts") -> int:
    status: int = gw.get("/v1/open/test/things/a", params=caller.params(product)).status_code
    return status


def test_calls_over_the_limit_get_429_rate_limited_with_retry_after(gw: TestClient) -> None:
    caller = _app_caller(gw, e_accounts=(1, 3))
    assert [_read(gw, caller) for _ in range(3)] == [200, 200, 200]
    refused = gw.get("/v1/open/test/things/a", params=caller.params())
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    retry_after = refused.headers["Retry-After"]
    assert retry_after.isdigit()
    assert int(retry_after) >= 1
    assert refused.json()["retry_after"] == int(retry_after)


def test_limits_of_two_products_are_independent(gw: TestClient) -> None:
    caller = _app_caller(gw, e_accounts=(1, 2), payments=(1, 2))
    assert [_read(gw, caller, "e_accounts") for _ in range(3)] == [200, 200, 429]
    assert [_read(gw, caller, "payments") for _ in range(3)] == [200, 200, 429]


def test_limits_of_two_apps_are_independent(gw: TestClient) -> None:
    first = _app_caller(gw, e_accounts=(1, 1))
    second = _app_caller(gw, e_accounts=(1, 1))
    assert [_read(gw, first), _read(gw, first)] == [200, 429]
    assert _read(gw, second) == 200


def test_an_operator_override_replaces_the_default_for_that_app_only(gw: TestClient) -> None:
    caller = _app_caller(gw)
    limits = gw.get(f"/v1/apps/{caller.app_id}/rate-limits").json()["limits"]
    defaults = {limit["product"]: limit for limit in limits}
    assert defaults["payments"]["source"] == "default"
    settings: Settings = gw.app.state.settings  # type: ignore[attr-defined]
    assert defaults["payments"]["burst"] == settings.gateway_rate_limit_burst

    body = {"limits": [{"product": "payments", "per_second": 2, "burst": 5}]}
    changed = gw.put(f"/v1/apps/{caller.app_id}/rate-limits", json=body).json()["limits"]
    payments = next(limit for limit in changed if limit["product"] == "payments")
    assert (payments["per_second"], payments["burst"], payments["source"]) == (2, 5, "override")
    assert [_read(gw, caller, "payments") for _ in range(6)] == [200] * 5 + [429]
    assert _read(gw, caller, "e_accounts") == 200  # still the (large) default


def test_putting_no_limits_restores_the_defaults(gw: TestClient) -> None:
    caller = _app_caller(gw, payments=(1, 1))
    assert [_read(gw, caller, "payments"), _read(gw, caller, "payments")] == [200, 429]
    gw.put(f"/v1/apps/{caller.app_id}/rate-limits", json={"limits": []})
    limits = gw.get(f"/v1/apps/{caller.app_id}/rate-limits").json()["limits"]
    assert {limit["source"] for limit in limits} == {"default"}


def test_an_override_for_an_unknown_product_is_refused(gw: TestClient) -> None:
    caller = _app_caller(gw)
    body = {"limits": [{"product": "casino", "per_second": 1, "burst": 1}]}
    response = gw.put(f"/v1/apps/{caller.app_id}/rate-limits", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_product"


def test_rate_limits_of_an_unknown_app_are_404(gw: TestClient) -> None:
    response = gw.get(f"/v1/apps/{uuid.uuid4()}/rate-limits")
    assert response.status_code == 404
    assert response.json()["code"] == "app_not_found"


def test_only_operations_operators_change_rate_limits(gw: TestClient) -> None:
    caller = _app_caller(gw)
    token = _sign_in(gw, _operator(gw, ["auditor"])).json()["access_token"]
    body = {"limits": [{"product": "payments", "per_second": 1, "burst": 1}]}
    response = gw.put(f"/v1/apps/{caller.app_id}/rate-limits", json=body, headers=_bearer(token))
    assert response.status_code == 403
    readable = gw.get(f"/v1/apps/{caller.app_id}/rate-limits", headers=_bearer(token))
    assert readable.status_code == 200


def test_a_call_that_fails_after_admission_still_counts(gw: TestClient) -> None:
    caller = _app_caller(gw, e_accounts=(1, 1))
    params = caller.params()
    assert gw.get("/v1/open/test/things/missing", params=params).status_code == 404
    assert gw.get("/v1/open/test/things/a", params=params).status_code == 429


def test_enforce_rate_limit_raises_rate_limited_with_the_header(db: Database) -> None:
    app_id, now = uuid.uuid4(), datetime.now(UTC)
    settings = db.settings
    for _ in range(settings.gateway_rate_limit_burst):
        gateway.enforce_rate_limit(db, app_id, "lending", now)
    with pytest.raises(RateLimited) as refused:
        gateway.enforce_rate_limit(db, app_id, "lending", now)
    assert int(refused.value.headers["Retry-After"]) >= 1


def test_two_connection_pools_share_one_limit(settings: Settings) -> None:
    """Two Database objects stand for two API processes: each has its own pools (its own
    connections), yet together they admit exactly the burst at one instant."""
    pools = [Database(settings), Database(settings)]
    app_id, now, limit = uuid.uuid4(), datetime.now(UTC), Limit(per_second=1, burst=37)

    def hammer(db: Database) -> int:
        return sum(count_call(db, app_id, "payments", now, limit).admitted for _ in range(25))

    try:
        with ThreadPoolExecutor(max_workers=8) as threads:
            admitted = sum(threads.map(hammer, [pools[i % 2] for i in range(16)]))
    finally:
        for pool in pools:
            pool.dispose()
    assert admitted == 37
