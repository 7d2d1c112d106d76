"""The lending HTTP API: bad input gets a problem document with a stable code, and changes
nothing; the product library round-trips; the schedule of an offer is the one that is frozen."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbank.lending import service as lending
from tests.lending.support import GOOD_PROFILE, adult_resident_id

LIBRARY: list[dict[str, Any]] = lending.read_product_file(lending.SAMPLE_LIBRARY)
CONSUMER = next(p for p in LIBRARY if p["code"] == "ob-consumer-flex")


def product(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(CONSUMER)
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def consumer_product(client: TestClient) -> str:
    r = client.post("/v1/loan-products", json=product(code="api-consumer"))
    assert r.status_code == 200, r.text
    return "api-consumer"


def person(client: TestClient) -> str:
    from tests.customers.helpers import create_person

    return str(create_person(client, id_number=adult_resident_id())["id"])


def application(customer_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer_id,
        "product_code": "api-consumer",
        "amount": 2_000_000,
        "term_months": 12,
        "purpose": "furniture",
        "declared": {"monthly_income": 3_000_000, "credit_profile": GOOD_PROFILE},
    }
    body.update(changes)
    return body


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_a_product_is_created_then_versioned_when_it_changes(client: TestClient) -> None:
    first = client.post("/v1/loan-products", json=product(code="api-versioned")).json()
    changed = client.post(
        "/v1/loan-products", json=product(code="api-versioned", name="Renamed")
    ).json()
    assert (first["version"], changed["version"]) == (1, 2)
    assert client.get("/v1/loan-products/api-versioned").json()["spec"]["name"] == "Renamed"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_min": 0}, "amount_min"),
        ({"terms_months": [0]}, "terms_months"),
        ({"repayment_methods": ["balloon"]}, "repayment_methods"),
        ({"pricing": {"annual_rate": "-0.01"}}, "pricing"),
        ({"pricing": {}}, "pricing"),
        ({"amount_min": 10_000, "amount_max": 100}, "amount_max"),
    ],
)
def test_an_invalid_product_is_refused_naming_the_field(
    client: TestClient, changes: dict[str, Any], field: str
) -> None:
    r = client.post("/v1/loan-products", json=product(code="api-invalid", **changes))
    assert r.status_code == 422, r.text
    assert field in r.text
    assert client.get("/v1/loan-products/api-invalid").status_code == 404


def test_an_import_with_one_bad_product_imports_none_and_lists_the_problem(
    client: TestClient,
) -> None:
    good = product(code="api-import-good")
    bad = product(code="api-import-bad", terms_months=[])
    r = client.post("/v1/loan-products/import", json=[good, bad])
    assert_problem(r, 422, "invalid_product")
    assert r.json()["problems"][0]["index"] == 1
    assert client.get("/v1/loan-products/api-import-good").status_code == 404


def test_a_quote_shows_the_price_schedule_and_apr_without_recording_anything(
    client: TestClient, consumer_product: str
) -> None:
    r = client.post("/v1/loan-quotes", json=application(person(client)))
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["decision"] == "approved", quote["reasons"]
    offer = quote["offer"]
    assert sum(line["principal"] for line in offer["schedule"]) == offer["amount"]
    assert 0 < float(offer["apr"]["nominal"]) < 0.24
    assert client.get(f"/v1/loan-applications/{quote['id']}").status_code == 404


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"amount": 99}, "amount_out_of_range"),
        ({"term_months": 7}, "term_not_offered"),
        ({"method": "bullet"}, "repayment_method_not_offered"),
        ({"product_code": "no-such-product"}, "loan_product_not_found"),
    ],
)
def test_an_application_outside_the_product_is_refused(
    client: TestClient, consumer_product: str, changes: dict[str, Any], code: str
) -> None:
    r = client.post("/v1/loan-applications", json=application(person(client), **changes))
    assert_problem(r, 404 if code.endswith("not_found") else 422, code)


@pytest.mark.parametrize(
    "changes",
    [{"amount": 0}, {"amount": -100}, {"term_months": 0}, {"method": "balloon"}, {"amount": 1.5}],
)
def test_malformed_application_fields_are_refused(
    client: TestClient, consumer_product: str, changes: dict[str, Any]
) -> None:
    r = client.post("/v1/loan-applications", json=application(person(client), **changes))
    assert_problem(r, 422, "validation_error")


def test_an_unknown_credit_characteristic_is_refused(
    client: TestClient, consumer_product: str
) -> None:
    body = application(person(client))
    body["declared"]["credit_profile"] = {"shoe_size": 42}
    r = client.post("/v1/loan-applications", json=body)
    assert_problem(r, 422, "unknown_credit_characteristic")


def test_an_unknown_loan_is_a_404_problem(client: TestClient) -> None:
    r = client.get("/v1/loans/0192f000-0000-7000-8000-000000000000")
    assert_problem(r, 404, "loan_contract_not_found")


def test_an_application_with_an_idempotency_key_is_recorded_once(
    client: TestClient, consumer_product: str
) -> None:
    body = application(person(client))
    headers = {"Idempotency-Key": "loan-app-once"}
    first = client.post("/v1/loan-applications", json=body, headers=headers)
    again = client.post("/v1/loan-applications", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


def test_score_stability_compares_recent_application_scores_with_the_training_population(
    client: TestClient, consumer_product: str
) -> None:
    for _ in range(3):
        client.post("/v1/loan-applications", json=application(person(client)))
    r = client.get("/v1/lending/score-stability", params={"days": 1})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["applications"] >= 3
    assert report["verdict"] in ("stable", "watch", "shift")
    assert sum(band["count"] for band in report["bands"]) == report["applications"]


def test_a_retried_acceptance_and_repayment_move_money_once(
    client: TestClient, consumer_product: str
) -> None:
    from tests.customers.helpers import balance, open_e_account

    customer_id = person(client)
    e_account_id = str(open_e_account(client, "I", customer_id)["id"])
    offer = client.post("/v1/loan-applications", json=application(customer_id)).json()
    assert offer["decision"] == "approved", offer["reasons"]
    accept = {"e_account_id": e_account_id}
    key = {"Idempotency-Key": f"accept-{offer['id']}"}
    first = client.post(f"/v1/loan-applications/{offer['id']}/accept", json=accept, headers=key)
    again = client.post(f"/v1/loan-applications/{offer['id']}/accept", json=accept, headers=key)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"]
    assert balance(client, e_account_id) == 2_000_000
    loan_id = first.json()["id"]
    key = {"Idempotency-Key": f"repay-{loan_id}"}
    for _ in range(2):
        r = client.post(f"/v1/loans/{loan_id}/repayments", json={"amount": 10_000}, headers=key)
        assert r.status_code == 200, r.text
    events = client.get(f"/v1/loans/{loan_id}/events").json()
    assert [e["amount"] for e in events] == [10_000]
    assert balance(client, e_account_id) == 2_000_000 - 10_000


def test_a_product_file_that_is_not_a_list_of_products_is_refused(tmp_path: Any) -> None:
    from openbank.core.errors import DomainError

    path = tmp_path / "products.yaml"
    path.write_text("code: just-one-mapping\n", encoding="utf-8")
    with pytest.raises(DomainError) as refused:
        lending.read_product_file(path)
    assert refused.value.code == "invalid_import_file"


def test_a_referral_decision_needs_a_note_and_a_known_application(client: TestClient) -> None:
    unknown = "/v1/loan-applications/0192f000-0000-7000-8000-000000000000/referral-decision"
    assert_problem(
        client.post(unknown, json={"approve": True, "note": ""}), 422, "validation_error"
    )
    r = client.post(unknown, json={"approve": True, "note": "income checked"})
    assert_problem(r, 404, "loan_application_not_found")


def test_end_of_day_for_a_day_that_has_not_begun_is_refused(client: TestClient) -> None:
    r = client.post("/v1/lending/end-of-day", json={"business_date": "2999-01-01"})
    assert_problem(r, 422, "invalid_effective_date")
