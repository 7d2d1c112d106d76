"""Bad input on every ledger endpoint is a 4xx problem document and writes nothing."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock


def _account(client: TestClient, flags: list[str] | None = None, currency: str = "CNY") -> str:
    r = client.post(
        "/v1/ledger/accounts",
        json={"currency": currency, "code": "customer_wallet", "flags": flags or []},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture
def pair(client: TestClient) -> tuple[str, str]:
    bank = _account(client)
    wallet = _account(client, ["debits_must_not_exceed_credits"])
    r = client.post(
        "/v1/ledger/transfers",
        json={
            "debit_account_id": bank,
            "credit_account_id": wallet,
            "amount": 1_000,
            "currency": "CNY",
            "code": "fund",
        },
    )
    assert r.status_code == 201
    return bank, wallet


def _transfer(bank: str, wallet: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "debit_account_id": wallet,
        "credit_account_id": bank,
        "amount": 100,
        "currency": "CNY",
        "code": "pay",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def _assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def _wallet_unchanged(client: TestClient, wallet: str) -> None:
    account = client.get(f"/v1/ledger/accounts/{wallet}").json()
    assert account["credits_posted"] - account["debits_posted"] == 1_000
    assert account["debits_pending"] == 0
    entries = client.get(f"/v1/ledger/accounts/{wallet}/entries").json()["data"]
    assert len(entries) == 1


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"amount": 0}, 422, "validation_error"),
        ({"amount": -5}, 422, "validation_error"),
        ({"amount": 1.5}, 422, "validation_error"),
        ({"amount": "100"}, 422, "validation_error"),
        ({"amount": 2**63}, 422, "validation_error"),
        ({"amount": ...}, 422, "validation_error"),
        ({"currency": "XYZ"}, 422, "unknown_currency"),
        ({"currency": "USD"}, 422, "currency_mismatch"),
        ({"code": ""}, 422, "validation_error"),
        ({"debit_account_id": "not-a-uuid"}, 422, "validation_error"),
        ({"credit_account_id": str(uuid.uuid4())}, 404, "credit_account_not_found"),
        ({"unexpected": True}, 422, "validation_error"),
        ({"timeout_seconds": 30}, 422, "timeout_reserved_for_pending_transfer"),
        ({"amount": 1_001}, 422, "exceeds_credits"),
        ({"metadata": {"note": "nul\u0000byte"}}, 422, "validation_error"),
        ({"balancing": "sideways"}, 422, "validation_error"),
    ],
)
def test_refused_transfer_is_a_problem_and_moves_nothing(
    client: TestClient, pair: tuple[str, str], changes: dict[str, Any], status: int, code: str
) -> None:
    bank, wallet = pair
    response = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet, **changes))
    _assert_problem(response, status, code)
    _wallet_unchanged(client, wallet)


def test_non_finite_numbers_in_metadata_are_refused(
    client: TestClient, pair: tuple[str, str]
) -> None:
    bank, wallet = pair
    body = orjson.dumps(_transfer(bank, wallet)).replace(b"}", b', "metadata": {"rate": NaN}}')
    response = client.post(
        "/v1/ledger/transfers", content=body, headers={"content-type": "application/json"}
    )
    _assert_problem(response, 422, "validation_error")
    _wallet_unchanged(client, wallet)


def test_transfer_to_itself_is_refused(client: TestClient, pair: tuple[str, str]) -> None:
    _, wallet = pair
    response = client.post("/v1/ledger/transfers", json=_transfer(wallet, wallet))
    _assert_problem(response, 422, "accounts_must_be_different")
    _wallet_unchanged(client, wallet)


def test_mixed_currency_accounts_are_refused(client: TestClient, pair: tuple[str, str]) -> None:
    _, wallet = pair
    dollars = _account(client, currency="USD")
    response = client.post("/v1/ledger/transfers", json=_transfer(dollars, wallet))
    _assert_problem(response, 422, "currency_mismatch")
    _wallet_unchanged(client, wallet)


def test_batch_with_a_bad_item_is_refused_whole(client: TestClient, pair: tuple[str, str]) -> None:
    bank, wallet = pair
    body = {"transfers": [_transfer(bank, wallet), _transfer(bank, wallet, amount=-1)]}
    response = client.post("/v1/ledger/transfers/batch", json=body)
    _assert_problem(response, 422, "validation_error")
    _wallet_unchanged(client, wallet)


def test_empty_batch_is_refused(client: TestClient) -> None:
    response = client.post("/v1/ledger/transfers/batch", json={"transfers": []})
    _assert_problem(response, 422, "validation_error")


def test_linked_batch_over_http_reports_each_result(
    client: TestClient, pair: tuple[str, str]
) -> None:
    bank, wallet = pair
    body = {
        "transfers": [_transfer(bank, wallet, amount=600), _transfer(bank, wallet, amount=600)],
        "linked": True,
    }
    response = client.post("/v1/ledger/transfers/batch", json=body)
    assert response.status_code == 201
    codes = [item["error"]["code"] for item in response.json()["data"]]
    assert codes == ["linked_event_failed", "exceeds_credits"]
    _wallet_unchanged(client, wallet)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"currency": "CNY", "code": "x", "flags": ["no_such_flag"]}, "validation_error"),
        ({"currency": "CNY", "code": "Has Spaces"}, "validation_error"),
        ({"currency": "cny", "code": "x"}, "unknown_currency"),
        ({"code": "x"}, "validation_error"),
        (
            {
                "currency": "CNY",
                "code": "x",
                "flags": ["debits_must_not_exceed_credits", "credits_must_not_exceed_debits"],
            },
            "conflicting_account_flags",
        ),
    ],
)
def test_bad_account_is_refused(client: TestClient, body: dict[str, Any], code: str) -> None:
    response = client.post("/v1/ledger/accounts", json=body)
    assert response.status_code in (409, 422)
    assert response.json()["code"] == code


def test_account_id_reused_with_other_fields_is_a_conflict(client: TestClient) -> None:
    account_id = str(uuid.uuid4())
    body = {"id": account_id, "currency": "CNY", "code": "x"}
    assert client.post("/v1/ledger/accounts", json=body).status_code == 201
    response = client.post("/v1/ledger/accounts", json={**body, "code": "y"})
    _assert_problem(response, 409, "account_exists_with_different_fields")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/ledger/accounts/{id}",
        "/v1/ledger/accounts/{id}/entries",
        "/v1/ledger/transfers/{id}",
        "/v1/ledger/accounts?id={id}",
    ],
)
def test_unknown_ids_are_404(client: TestClient, path: str) -> None:
    response = client.get(path.format(id=uuid.uuid4()))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "url",
    ["/v1/ledger/accounts/not-a-uuid", "/v1/ledger/transfers/42", "/v1/ledger/accounts?id=nope"],
)
def test_malformed_ids_are_422(client: TestClient, url: str) -> None:
    _assert_problem(client.get(url), 422, "validation_error")


def test_statement_rejects_a_bad_cursor_and_limit(
    client: TestClient, pair: tuple[str, str]
) -> None:
    _, wallet = pair
    response = client.get(f"/v1/ledger/accounts/{wallet}/entries?cursor=abc")
    _assert_problem(response, 400, "invalid_cursor")
    response = client.get(f"/v1/ledger/accounts/{wallet}/entries?limit=1001")
    _assert_problem(response, 422, "validation_error")


def test_post_of_unknown_pending_transfer_is_404(client: TestClient) -> None:
    response = client.post(f"/v1/ledger/transfers/{uuid.uuid4()}/post", json={})
    _assert_problem(response, 404, "pending_transfer_not_found")


def test_post_of_a_posted_transfer_is_refused(client: TestClient, pair: tuple[str, str]) -> None:
    bank, wallet = pair
    single = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet)).json()
    response = client.post(f"/v1/ledger/transfers/{single['id']}/void")
    _assert_problem(response, 409, "pending_transfer_not_pending")


def test_void_with_an_amount_is_refused(client: TestClient, pair: tuple[str, str]) -> None:
    bank, wallet = pair
    pending = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet, pending=True)).json()
    response = client.post(f"/v1/ledger/transfers/{pending['id']}/void", json={"amount": 5})
    _assert_problem(response, 422, "void_takes_no_amount")
    assert client.get(f"/v1/ledger/accounts/{wallet}").json()["debits_pending"] == 100


def test_post_over_http_posts_part_and_replays_by_key(
    client: TestClient, pair: tuple[str, str]
) -> None:
    bank, wallet = pair
    pending = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet, pending=True)).json()
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post(
        f"/v1/ledger/transfers/{pending['id']}/post", json={"amount": 40}, headers=key
    )
    again = client.post(
        f"/v1/ledger/transfers/{pending['id']}/post", json={"amount": 40}, headers=key
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    account = client.get(f"/v1/ledger/accounts/{wallet}").json()
    assert (account["debits_posted"], account["debits_pending"]) == (40, 0)


def test_transfer_retried_with_its_key_is_replayed(
    client: TestClient, pair: tuple[str, str]
) -> None:
    bank, wallet = pair
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet), headers=key)
    again = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet), headers=key)
    other = client.post("/v1/ledger/transfers", json=_transfer(bank, wallet, amount=5), headers=key)
    assert first.json() == again.json()
    _assert_problem(other, 409, "idempotency_key_reused")
    account = client.get(f"/v1/ledger/accounts/{wallet}").json()
    assert account["debits_posted"] == 100


def test_pending_transfer_expires_through_the_servers_sweeper(
    client: TestClient, pair: tuple[str, str], clock: ShiftedClock
) -> None:
    bank, wallet = pair
    pending = client.post(
        "/v1/ledger/transfers", json=_transfer(bank, wallet, pending=True, timeout_seconds=5)
    ).json()
    clock.advance(timedelta(seconds=6))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = client.get(f"/v1/ledger/transfers/{pending['id']}").json()["state"]
        if state == "expired":
            break
        time.sleep(0.05)
    assert state == "expired"
    account = client.get(f"/v1/ledger/accounts/{wallet}").json()
    assert (account["credits_posted"] - account["debits_posted"], account["debits_pending"]) == (
        1_000,
        0,
    )
