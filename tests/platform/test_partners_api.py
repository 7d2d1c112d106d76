"""Partners and their apps over the operator API: onboarding, keys, redirect URIs, products."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from joserfc.jwk import OctKey, RSAKey
from sqlalchemy import func, select

from openbank.core.database import Database, unit_of_work
from openbank.platform import models
from tests.customers.helpers import credit_code
from tests.platform.support import REDIRECT_URI, create_app, create_partner, new_key, public_jwks


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _count(db: Database, table: Any) -> int:
    return unit_of_work(
        db, lambda s: s.execute(select(func.count()).select_from(table)).scalar_one()
    )


def _app_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "商城",
        "redirect_uris": [REDIRECT_URI],
        "jwks": public_jwks(new_key()),
        "products": ["e_accounts"],
        **fields,
    }


def test_partner_is_onboarded_active_with_its_credit_code_canonical(client: TestClient) -> None:
    code = credit_code()
    partner_id = create_partner(client, unified_social_credit_code=code.lower())
    body = client.get(f"/v1/partners/{partner_id}").json()
    assert body["unified_social_credit_code"] == code
    assert body["status"] == "active"
    assert body["contact_phone"] == "+8613800138000"


def test_partner_with_a_wrong_check_character_is_refused_and_nothing_written(
    client: TestClient, db: Database
) -> None:
    code = credit_code()
    wrong = code[:17] + ("0" if code[17] != "0" else "1")
    before = _count(db, models.Partner)
    response = client.post(
        "/v1/partners",
        json={
            "legal_name": "某公司",
            "unified_social_credit_code": wrong,
            "contact_name": "王五",
            "contact_email": "a@b.cn",
            "contact_phone": "+8613800138000",
        },
    )
    _problem(response, 422, "invalid_id_number")
    assert _count(db, models.Partner) == before


def test_second_partner_with_the_same_credit_code_is_refused(client: TestClient) -> None:
    code = credit_code()
    create_partner(client, unified_social_credit_code=code)
    response = client.post(
        "/v1/partners",
        json={
            "legal_name": "重复公司",
            "unified_social_credit_code": code,
            "contact_name": "王五",
            "contact_email": "a@b.cn",
            "contact_phone": "+8613800138000",
        },
    )
    _problem(response, 409, "partner_exists")


def test_app_lists_the_scopes_its_products_allow(client: TestClient) -> None:
    app = create_app(client, products=("e_accounts", "payments"))
    body = client.get(f"/v1/apps/{app.app_id}").json()
    assert body["client_id"] == app.app_id
    assert body["products"] == ["e_accounts", "payments"]
    assert body["scopes"] == ["accounts", "e_accounts", "payments"]


def test_app_keys_of_every_accepted_algorithm_are_registered(client: TestClient) -> None:
    for alg in ("ES256", "PS256", "EdDSA"):
        create_app(client, alg=alg)


def test_app_with_a_symmetric_key_is_refused(client: TestClient) -> None:
    partner_id = create_partner(client)
    secret = OctKey.generate_key(256, parameters={"kid": "k1"}).as_dict(private=False)
    response = client.post(
        f"/v1/partners/{partner_id}/apps", json=_app_body(jwks={"keys": [secret]})
    )
    _problem(response, 422, "invalid_jwks")


def test_app_with_an_rs256_key_is_refused(client: TestClient) -> None:
    partner_id = create_partner(client)
    key = RSAKey.generate_key(2048, parameters={"kid": "r1", "alg": "RS256"})
    response = client.post(f"/v1/partners/{partner_id}/apps", json=_app_body(jwks=public_jwks(key)))
    _problem(response, 422, "invalid_jwks")


def test_app_with_a_private_key_in_its_jwks_is_refused(client: TestClient) -> None:
    partner_id = create_partner(client)
    key = new_key()
    response = client.post(
        f"/v1/partners/{partner_id}/apps",
        json=_app_body(jwks={"keys": [key.as_dict(private=True)]}),
    )
    _problem(response, 422, "invalid_jwks")


def test_app_needs_a_jwks_or_a_jwks_uri(client: TestClient) -> None:
    partner_id = create_partner(client)
    response = client.post(f"/v1/partners/{partner_id}/apps", json=_app_body(jwks=None))
    _problem(response, 422, "invalid_jwks")


def test_production_app_with_an_http_redirect_uri_is_refused(
    client: TestClient, db: Database
) -> None:
    partner_id = create_partner(client)
    before = _count(db, models.App)
    response = client.post(
        f"/v1/partners/{partner_id}/apps",
        json=_app_body(environment="production", redirect_uris=["http://localhost/cb"]),
    )
    _problem(response, 422, "invalid_redirect_uri")
    assert _count(db, models.App) == before


def test_sandbox_app_may_redirect_to_localhost_over_http(client: TestClient) -> None:
    create_app(client, redirect_uris=("http://127.0.0.1:8765/callback",))


def test_redirect_uri_with_a_fragment_is_refused(client: TestClient) -> None:
    partner_id = create_partner(client)
    response = client.post(
        f"/v1/partners/{partner_id}/apps",
        json=_app_body(redirect_uris=["https://partner.example/cb#x"]),
    )
    _problem(response, 422, "invalid_redirect_uri")


def test_app_subscribing_to_an_unknown_product_is_refused(client: TestClient) -> None:
    partner_id = create_partner(client)
    response = client.post(
        f"/v1/partners/{partner_id}/apps", json=_app_body(products=["e_accounts", "casino"])
    )
    _problem(response, 422, "unknown_product")


def test_changing_subscriptions_changes_the_scopes(client: TestClient) -> None:
    app = create_app(client, products=("e_accounts",))
    body = client.put(
        f"/v1/apps/{app.app_id}/subscriptions", json={"products": ["payments", "lending"]}
    ).json()
    assert body["products"] == ["lending", "payments"]
    assert body["scopes"] == ["lending", "payments"]


def test_suspended_partner_cannot_register_apps(client: TestClient) -> None:
    partner_id = create_partner(client)
    r = client.post(f"/v1/partners/{partner_id}/status", json={"status": "suspended"})
    assert r.json()["status"] == "suspended"
    response = client.post(f"/v1/partners/{partner_id}/apps", json=_app_body())
    _problem(response, 409, "partner_not_active")


def test_apps_of_an_unknown_partner_are_not_found(client: TestClient) -> None:
    response = client.get("/v1/partners/0190a000-0000-7000-8000-000000000000/apps")
    _problem(response, 404, "partner_not_found")


def test_partner_endpoints_need_an_operator(client: TestClient) -> None:
    response = client.get("/v1/partners", headers={"Authorization": "Bearer nope"})
    _problem(response, 401, "unauthorized")


def test_disabled_app_reads_back_disabled_and_can_be_enabled_again(client: TestClient) -> None:
    app = create_app(client)
    assert (
        client.post(f"/v1/apps/{app.app_id}/status", json={"status": "disabled"}).json()["status"]
        == "disabled"
    )
    assert (
        client.post(f"/v1/apps/{app.app_id}/status", json={"status": "active"}).json()["status"]
        == "active"
    )
