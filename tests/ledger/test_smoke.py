from __future__ import annotations

from fastapi.testclient import TestClient


def _account(client: TestClient, flags: list[str] | None = None) -> str:
    r = client.post(
        "/v1/ledger/accounts",
        json={"currency": "CNY", "code": "customer_wallet", "flags": flags or []},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_transfer_moves_money_between_accounts(client: TestClient) -> None:
    bank = _account(client)
    wallet = _account(client, ["debits_must_not_exceed_credits"])
    r = client.post(
        "/v1/ledger/transfers",
        json={
            "debit_account_id": bank,
            "credit_account_id": wallet,
            "amount": 500,
            "currency": "CNY",
            "code": "top_up",
        },
    )
    assert r.status_code == 201, r.text
    r = client.get(f"/v1/ledger/accounts/{wallet}")
    assert r.json()["credits_posted"] == 500
    r = client.post(
        "/v1/ledger/transfers",
        json={
            "debit_account_id": wallet,
            "credit_account_id": bank,
            "amount": 501,
            "currency": "CNY",
            "code": "withdraw",
        },
    )
    assert r.status_code == 422
    assert r.json()["code"] == "exceeds_credits"
    assert r.headers["content-type"] == "application/problem+json"
