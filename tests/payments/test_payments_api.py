"""The operator API of acquiring: problem details with stable codes for bad input, and bad
input changes nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.database import Database, unit_of_work
from openbank.payments import models
from tests.customers.helpers import card_number, credit_code, open_e_account


def plan(client: TestClient, **fields: Any) -> str:
    code = f"api-plan-{credit_code().lower()[-9:]}"
    r = client.post(
        "/v1/payments/fee-plans", json={"code": code, "name": "Std", "rate_ppm": 6000, **fields}
    )
    assert r.status_code == 201, r.text
    return code


def merchant_body(fee_plan: str, **fields: Any) -> dict[str, Any]:
    return {
        "legal_name": "北京示例科技有限公司",
        "unified_social_credit_code": credit_code(),
        "legal_representative": "张三",
        "phone": "+8613800138000",
        "mcc": "5411",
        "fee_plan_code": fee_plan,
        "bound_account": {"number": card_number(), "bank_name": "中国建设银行"},
        **fields,
    }


def onboard(client: TestClient, **fields: Any) -> dict[str, Any]:
    r = client.post("/v1/merchants", json=merchant_body(plan(client), **fields))
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def merchant_count(db: Database) -> int:
    return unit_of_work(
        db, lambda s: s.execute(select(func.count()).select_from(models.Merchant)).scalar_one()
    )


def order_body(**fields: Any) -> dict[str, Any]:
    return {
        "out_trade_no": f"API{credit_code()[-9:]}",
        "amount": 1_000,
        "currency": "CNY",
        "description": "午餐",
        **fields,
    }


def test_onboarding_opens_a_class_i_settlement_e_account(client: TestClient) -> None:
    shop = onboard(client)
    account = client.get(f"/v1/e-accounts/{shop['settlement_e_account_id']}").json()
    assert (account["class"], account["customer_id"], account["balance"]) == (
        "I",
        shop["customer_id"],
        0,
    )
    assert shop["status"] == "active"
    assert shop["settlement_delay_days"] == 1


def test_a_bad_credit_code_is_refused_and_nothing_is_written(
    client: TestClient, db: Database
) -> None:
    fee_plan = plan(client)
    before = merchant_count(db)
    body = merchant_body(fee_plan, unified_social_credit_code="91110000MA01ABCDE0")
    r = client.post("/v1/merchants", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "invalid_id_number"
    assert merchant_count(db) == before


def test_an_unknown_fee_plan_is_refused(client: TestClient) -> None:
    r = client.post("/v1/merchants", json=merchant_body("no-such-plan"))
    assert (r.status_code, r.json()["code"]) == (404, "fee_plan_not_found")


def test_one_credit_code_is_one_merchant(client: TestClient) -> None:
    fee_plan = plan(client)
    body = merchant_body(fee_plan)
    assert client.post("/v1/merchants", json=body).status_code == 201
    r = client.post("/v1/merchants", json=body)
    assert (r.status_code, r.json()["code"]) == (409, "merchant_exists")


def test_an_enterprise_customer_becomes_a_merchant_with_its_own_customer_record(
    client: TestClient,
) -> None:
    code = credit_code()
    customer = client.post(
        "/v1/customers",
        json={
            "type": "enterprise",
            "name": "北京示例",
            "id_number": code,
            "phone": "+8613800138000",
        },
    ).json()
    shop = onboard(client, unified_social_credit_code=code)
    assert shop["customer_id"] == customer["id"]
    assert client.get(f"/v1/customers/{customer['id']}").json()["kyc_level"] == 3


def test_a_merchant_category_code_has_four_digits(client: TestClient) -> None:
    r = client.post("/v1/merchants", json=merchant_body(plan(client), mcc="58A2"))
    assert r.status_code == 422


def test_a_fee_cap_below_the_minimum_is_refused(client: TestClient) -> None:
    r = client.post(
        "/v1/payments/fee-plans",
        json={"code": "bad-cap", "name": "x", "rate_ppm": 1, "min_fee": 10, "max_fee": 5},
    )
    assert r.status_code == 422


def test_zero_and_negative_amounts_are_refused(client: TestClient) -> None:
    shop = onboard(client)
    for amount in (0, -100):
        r = client.post(
            f"/v1/merchants/{shop['id']}/payment-orders", json=order_body(amount=amount)
        )
        assert r.status_code == 422


def test_an_unknown_currency_is_refused(client: TestClient) -> None:
    shop = onboard(client)
    r = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=order_body(currency="XYZ"))
    assert (r.status_code, r.json()["code"]) == (422, "unknown_currency")


def test_an_order_asked_for_again_answers_200_with_the_first(client: TestClient) -> None:
    shop = onboard(client)
    body = order_body()
    first = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=body)
    again = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    found = client.get(
        f"/v1/merchants/{shop['id']}/payment-orders", params={"out_trade_no": body["out_trade_no"]}
    )
    assert found.json()["id"] == first.json()["id"]


def test_a_retry_with_its_idempotency_key_replays_the_payment(client: TestClient) -> None:
    shop = onboard(client)
    payer = open_e_account(client, "II")
    client.post(f"/v1/e-accounts/{payer['id']}/top-ups", json={"amount": 5_000})
    made = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=order_body()).json()
    headers = {"Idempotency-Key": f"pay-{made['id']}"}
    first = client.post(
        f"/v1/payment-orders/{made['id']}/pay", json={"e_account_id": payer["id"]}, headers=headers
    )
    again = client.post(
        f"/v1/payment-orders/{made['id']}/pay", json={"e_account_id": payer["id"]}, headers=headers
    )
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert client.get(f"/v1/e-accounts/{payer['id']}").json()["balance"] == 4_000


def test_a_payment_names_exactly_one_payer(client: TestClient) -> None:
    shop = onboard(client)
    made = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=order_body()).json()
    r = client.post(f"/v1/payment-orders/{made['id']}/pay", json={})
    assert r.status_code == 422


def test_paying_an_unknown_order_is_404(client: TestClient) -> None:
    r = client.post(
        "/v1/payment-orders/01900000-0000-7000-8000-000000000000/pay",
        json={"card": {"number": card_number(), "holder_name": "王五"}},
    )
    assert (r.status_code, r.json()["code"]) == (404, "payment_order_not_found")


def test_refunding_more_than_captured_is_a_409_problem(client: TestClient) -> None:
    shop = onboard(client)
    made = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=order_body()).json()
    client.post(
        f"/v1/payment-orders/{made['id']}/pay",
        json={"card": {"number": card_number(), "holder_name": "王五"}},
    )
    r = client.post(
        f"/v1/payment-orders/{made['id']}/refunds", json={"out_refund_no": "R1", "amount": 1_001}
    )
    assert (r.status_code, r.json()["code"], r.json()["refundable"]) == (
        409,
        "refund_exceeds_captured",
        1_000,
    )
    ok = client.post(
        f"/v1/payment-orders/{made['id']}/refunds", json={"out_refund_no": "R1", "amount": 400}
    )
    again = client.post(
        f"/v1/payment-orders/{made['id']}/refunds", json={"out_refund_no": "R1", "amount": 400}
    )
    assert (ok.status_code, again.status_code, again.json()["id"]) == (201, 200, ok.json()["id"])


def test_acquiring_needs_an_operator(client: TestClient) -> None:
    r = client.get("/v1/payments/fee-plans", headers={"Authorization": ""})
    assert r.status_code == 401


def test_a_nul_in_a_description_is_a_422_and_makes_no_order(client: TestClient) -> None:
    shop = onboard(client)
    body = order_body(description="拿\x00铁")
    r = client.post(f"/v1/merchants/{shop['id']}/payment-orders", json=body)
    assert r.status_code == 422
    found = client.get(
        f"/v1/merchants/{shop['id']}/payment-orders", params={"out_trade_no": body["out_trade_no"]}
    )
    assert found.status_code == 404


def test_a_nul_in_a_lookup_is_a_422(client: TestClient) -> None:
    shop = onboard(client)
    r = client.get(f"/v1/merchants/{shop['id']}/payment-orders", params={"out_trade_no": "a\x00b"})
    assert r.status_code == 422


def test_one_enterprise_onboarded_at_once_from_four_requests_is_one_merchant(
    client: TestClient,
) -> None:
    body = merchant_body(plan(client))
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/merchants", json=body), range(4)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"merchant_exists"}
