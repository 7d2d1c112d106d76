"""E-accounts over HTTP: opening, balances, top-ups, withdrawals, transfers, freeze, close."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.database import Database, unit_of_work
from openbank.customers import models
from tests.customers.helpers import (
    balance,
    card_number,
    create_person,
    funded_class_i,
    movement_count,
    open_e_account,
    top_up,
)


def _assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _e_accounts_of(db: Database, customer_id: str) -> int:
    e = models.EAccount
    return unit_of_work(
        db,
        lambda s: s.execute(
            select(func.count()).where(e.customer_id == uuid.UUID(customer_id))
        ).scalar_one(),
    )


def _open(client: TestClient, customer_id: str, account_class: str, number: str) -> Any:
    return client.post(
        "/v1/e-accounts",
        json={
            "customer_id": customer_id,
            "class": account_class,
            "bound_card": {"number": number, "bank_name": "招商银行"},
        },
    )


# -- opening --------------------------------------------------------------------------------


def test_opened_e_account_is_empty_active_and_shows_only_the_masked_card(
    client: TestClient,
) -> None:
    customer = create_person(client, kyc_level=2)
    number = card_number()
    r = _open(client, customer["id"], "II", number)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["class"] == "II"
    assert body["customer_id"] == customer["id"]
    assert body["currency"] == "CNY"
    assert body["status"] == "active"
    assert body["balance"] == 0
    assert body["available"] == 0
    assert body["bound_card"] == {
        "masked_number": number[:6] + "*" * (len(number) - 10) + number[-4:],
        "bank_name": "招商银行",
    }
    assert number not in r.text
    assert client.get(f"/v1/e-accounts/{body['id']}").json() == body


def test_e_account_is_backed_by_a_wallet_ledger_account(client: TestClient) -> None:
    e_account = open_e_account(client, "III")
    r = client.get(f"/v1/ledger/accounts/{e_account['ledger_account_id']}")
    assert r.status_code == 200
    assert r.json()["code"] == "customer_wallet"
    assert r.json()["flags"] == ["debits_must_not_exceed_credits"]


@pytest.mark.parametrize(("account_class", "kyc_level"), [("I", 2), ("II", 1), ("III", 0)])
def test_e_account_class_needs_its_kyc_level(
    client: TestClient, db: Database, account_class: str, kyc_level: int
) -> None:
    customer = create_person(client, kyc_level=kyc_level)
    body = _assert_problem(
        _open(client, customer["id"], account_class, card_number()), 422, "kyc_level_too_low"
    )
    assert body["required_kyc_level"] == kyc_level + 1
    assert _e_accounts_of(db, customer["id"]) == 0


@pytest.mark.parametrize(("account_class", "kyc_level"), [("I", 3), ("II", 2), ("III", 1)])
def test_e_account_class_opens_at_its_kyc_level(
    client: TestClient, account_class: str, kyc_level: int
) -> None:
    customer = create_person(client, kyc_level=kyc_level)
    assert _open(client, customer["id"], account_class, card_number()).status_code == 201


def test_e_account_for_an_unknown_customer_is_404(client: TestClient) -> None:
    r = _open(client, str(uuid.uuid4()), "III", card_number())
    _assert_problem(r, 404, "customer_not_found")


def test_e_account_with_a_card_failing_luhn_is_refused_and_nothing_written(
    client: TestClient, db: Database
) -> None:
    customer = create_person(client)
    good = card_number()
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    _assert_problem(_open(client, customer["id"], "II", bad), 422, "invalid_card_number")
    assert _e_accounts_of(db, customer["id"]) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"class": "IV"},
        {"class": 2},
        {"class": None},
        {"customer_id": "nope"},
        {"bound_card": None},
        {"bound_card": {"number": "6222020200112233"}},
        {"bound_card": {"number": 6222020200112233, "bank_name": "x"}},
        {"currency": "USD"},
    ],
    ids=lambda change: "-".join(f"{k}={v!r}" for k, v in change.items()),
)
def test_malformed_e_account_is_refused(
    client: TestClient, db: Database, change: dict[str, Any]
) -> None:
    customer = create_person(client)
    body = {
        "customer_id": customer["id"],
        "class": "II",
        "bound_card": {"number": card_number(), "bank_name": "招商银行"},
        **change,
    }
    _assert_problem(client.post("/v1/e-accounts", json=body), 422, "validation_error")
    assert _e_accounts_of(db, customer["id"]) == 0


def test_unknown_e_account_is_404(client: TestClient) -> None:
    _assert_problem(client.get(f"/v1/e-accounts/{uuid.uuid4()}"), 404, "e_account_not_found")


# -- top-ups, withdrawals, transfers ------------------------------------------------------


def test_top_up_from_the_bound_card_raises_balance_and_available(client: TestClient) -> None:
    e_account = open_e_account(client, "I")
    r = client.post(f"/v1/e-accounts/{e_account['id']}/top-ups", json={"amount": 12_345})
    assert r.status_code == 201, r.text
    movement = r.json()
    assert movement["kind"] == "top_up"
    assert movement["direction"] == "in"
    assert movement["counterparty_bound"] is True
    assert movement["amount"] == 12_345
    after = client.get(f"/v1/e-accounts/{e_account['id']}").json()
    assert (after["balance"], after["available"]) == (12_345, 12_345)


def test_withdrawal_to_the_bound_card_lowers_the_balance(client: TestClient) -> None:
    e_account_id = funded_class_i(client, 10_000)
    r = client.post(f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 2_500})
    assert r.status_code == 201, r.text
    assert r.json()["direction"] == "out"
    assert balance(client, e_account_id) == 7_500


def test_withdrawal_beyond_the_balance_is_refused_by_the_ledger(
    client: TestClient, db: Database
) -> None:
    e_account_id = funded_class_i(client, 10_000)
    r = client.post(f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 10_001})
    _assert_problem(r, 422, "exceeds_credits")
    assert balance(client, e_account_id) == 10_000
    assert movement_count(db, e_account_id) == 1


def test_transfer_moves_money_between_e_accounts(client: TestClient) -> None:
    payer = funded_class_i(client, 5_000)
    payee = open_e_account(client, "II")["id"]
    r = client.post(
        f"/v1/e-accounts/{payer}/transfers", json={"to_e_account_id": payee, "amount": 1_200}
    )
    assert r.status_code == 201, r.text
    movement = r.json()
    assert movement["e_account_id"] == payer
    assert movement["direction"] == "out"
    assert movement["counterparty_bound"] is False
    assert movement["counterparty_e_account_id"] == payee
    assert (balance(client, payer), balance(client, payee)) == (3_800, 1_200)


def test_transfer_to_itself_is_refused(client: TestClient) -> None:
    payer = funded_class_i(client, 5_000)
    r = client.post(
        f"/v1/e-accounts/{payer}/transfers", json={"to_e_account_id": payer, "amount": 100}
    )
    _assert_problem(r, 422, "same_e_account")
    assert balance(client, payer) == 5_000


def test_transfer_to_an_unknown_e_account_is_404_and_moves_nothing(
    client: TestClient, db: Database
) -> None:
    payer = funded_class_i(client, 5_000)
    r = client.post(
        f"/v1/e-accounts/{payer}/transfers",
        json={"to_e_account_id": str(uuid.uuid4()), "amount": 100},
    )
    _assert_problem(r, 404, "e_account_not_found")
    assert balance(client, payer) == 5_000
    assert movement_count(db, payer) == 1


def test_statement_lists_the_ledger_entries_oldest_first(client: TestClient) -> None:
    e_account_id = funded_class_i(client, 1_000)
    client.post(f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 300})
    r = client.get(f"/v1/e-accounts/{e_account_id}/statement", params={"limit": 1})
    assert r.status_code == 200, r.text
    first = r.json()
    assert [(e["side"], e["amount"]) for e in first["data"]] == [("credit", 1_000)]
    r = client.get(
        f"/v1/e-accounts/{e_account_id}/statement", params={"cursor": first["next_cursor"]}
    )
    second = r.json()
    assert [(e["side"], e["amount"]) for e in second["data"]] == [("debit", 300)]
    assert second["data"][0]["credits_posted"] - second["data"][0]["debits_posted"] == 700
    assert second["next_cursor"] is None


def test_statement_of_an_unknown_e_account_is_404(client: TestClient) -> None:
    r = client.get(f"/v1/e-accounts/{uuid.uuid4()}/statement")
    _assert_problem(r, 404, "e_account_not_found")


# -- idempotency ----------------------------------------------------------------------------


def test_top_up_retried_with_the_same_key_moves_money_once(
    client: TestClient, db: Database
) -> None:
    e_account_id = open_e_account(client, "I")["id"]
    key = f"top-up-{uuid.uuid4()}"
    first = client.post(
        f"/v1/e-accounts/{e_account_id}/top-ups",
        json={"amount": 700},
        headers={"Idempotency-Key": key},
    )
    again = client.post(
        f"/v1/e-accounts/{e_account_id}/top-ups",
        json={"amount": 700},
        headers={"Idempotency-Key": key},
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert balance(client, e_account_id) == 700
    assert movement_count(db, e_account_id) == 1


def test_idempotency_key_reused_with_another_amount_is_409(client: TestClient) -> None:
    e_account_id = open_e_account(client, "I")["id"]
    key = f"top-up-{uuid.uuid4()}"
    headers = {"Idempotency-Key": key}
    client.post(f"/v1/e-accounts/{e_account_id}/top-ups", json={"amount": 700}, headers=headers)
    r = client.post(f"/v1/e-accounts/{e_account_id}/top-ups", json={"amount": 701}, headers=headers)
    _assert_problem(r, 409, "idempotency_key_reused")
    assert balance(client, e_account_id) == 700


def test_refused_request_leaves_its_key_free_for_a_retry(client: TestClient) -> None:
    e_account_id = open_e_account(client, "I")["id"]
    headers = {"Idempotency-Key": f"withdraw-{uuid.uuid4()}"}
    url = f"/v1/e-accounts/{e_account_id}/withdrawals"
    _assert_problem(client.post(url, json={"amount": 500}, headers=headers), 422, "exceeds_credits")
    top_up(client, e_account_id, 500)
    assert client.post(url, json={"amount": 500}, headers=headers).status_code == 201
    assert balance(client, e_account_id) == 0


def test_opening_retried_with_the_same_key_opens_one_e_account(
    client: TestClient, db: Database
) -> None:
    customer = create_person(client)
    body = {
        "customer_id": customer["id"],
        "class": "III",
        "bound_card": {"number": card_number(), "bank_name": "招商银行"},
    }
    headers = {"Idempotency-Key": f"open-{uuid.uuid4()}"}
    first = client.post("/v1/e-accounts", json=body, headers=headers)
    again = client.post("/v1/e-accounts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert _e_accounts_of(db, customer["id"]) == 1


# -- freeze and close -----------------------------------------------------------------------


def test_frozen_e_account_refuses_money_in_and_out_until_unfrozen(
    client: TestClient, db: Database
) -> None:
    e_account_id = funded_class_i(client, 3_000)
    other = funded_class_i(client, 3_000)
    r = client.post(f"/v1/e-accounts/{e_account_id}/freeze")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "frozen"
    base = f"/v1/e-accounts/{e_account_id}"
    attempts = [
        client.post(f"{base}/top-ups", json={"amount": 100}),
        client.post(f"{base}/withdrawals", json={"amount": 100}),
        client.post(f"{base}/transfers", json={"to_e_account_id": other, "amount": 100}),
        client.post(
            f"/v1/e-accounts/{other}/transfers",
            json={"to_e_account_id": e_account_id, "amount": 100},
        ),
    ]
    for attempt in attempts:
        _assert_problem(attempt, 409, "e_account_frozen")
    assert (balance(client, e_account_id), balance(client, other)) == (3_000, 3_000)
    assert movement_count(db, e_account_id) == 1
    r = client.post(f"{base}/unfreeze")
    assert r.json()["status"] == "active"
    assert client.post(f"{base}/withdrawals", json={"amount": 100}).status_code == 201


def test_frozen_e_account_cannot_be_closed(client: TestClient) -> None:
    e_account_id = open_e_account(client, "III")["id"]
    client.post(f"/v1/e-accounts/{e_account_id}/freeze")
    _assert_problem(client.post(f"/v1/e-accounts/{e_account_id}/close"), 409, "e_account_frozen")


def test_close_refuses_an_e_account_holding_money(client: TestClient) -> None:
    e_account_id = funded_class_i(client, 1)
    body = _assert_problem(
        client.post(f"/v1/e-accounts/{e_account_id}/close"), 409, "balance_not_zero"
    )
    assert body["balance"] == 1
    after = client.get(f"/v1/e-accounts/{e_account_id}").json()
    assert (after["status"], after["balance"]) == ("active", 1)


def test_close_at_zero_balance_closes_the_ledger_account_too(client: TestClient) -> None:
    e_account_id = funded_class_i(client, 800)
    client.post(f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 800})
    r = client.post(f"/v1/e-accounts/{e_account_id}/close")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    assert r.json()["closed_at"] is not None
    ledger_account = client.get(f"/v1/ledger/accounts/{r.json()['ledger_account_id']}").json()
    assert ledger_account["closed"] is True


def test_closed_e_account_refuses_movement_and_state_changes(client: TestClient) -> None:
    e_account_id = open_e_account(client, "III")["id"]
    assert client.post(f"/v1/e-accounts/{e_account_id}/close").status_code == 200
    base = f"/v1/e-accounts/{e_account_id}"
    _assert_problem(client.post(f"{base}/top-ups", json={"amount": 1}), 409, "e_account_closed")
    _assert_problem(client.post(f"{base}/close"), 409, "e_account_closed")
    _assert_problem(client.post(f"{base}/freeze"), 409, "e_account_closed")
    _assert_problem(client.post(f"{base}/unfreeze"), 409, "e_account_closed")
    assert balance(client, e_account_id) == 0


# -- bad input on every endpoint ------------------------------------------------------------

MOVEMENTS = ["top-ups", "withdrawals", "transfers"]


@pytest.mark.parametrize("endpoint", MOVEMENTS)
@pytest.mark.parametrize("amount", [0, -1, "100", 1.5, 100.0, None, True, 2**63], ids=repr)
def test_amount_that_is_not_a_positive_integer_of_fen_is_refused(
    client: TestClient, db: Database, endpoint: str, amount: Any
) -> None:
    e_account_id = funded_class_i(client, 1_000)
    other = open_e_account(client, "I")["id"]
    body: dict[str, Any] = {"amount": amount}
    if endpoint == "transfers":
        body["to_e_account_id"] = other
    r = client.post(f"/v1/e-accounts/{e_account_id}/{endpoint}", json=body)
    _assert_problem(r, 422, "validation_error")
    assert balance(client, e_account_id) == 1_000
    assert movement_count(db, e_account_id) == 1


@pytest.mark.parametrize("endpoint", MOVEMENTS)
def test_movement_without_an_amount_is_refused(client: TestClient, endpoint: str) -> None:
    e_account_id = open_e_account(client, "I")["id"]
    r = client.post(f"/v1/e-accounts/{e_account_id}/{endpoint}", json={})
    _assert_problem(r, 422, "validation_error")


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("top-ups", {"amount": 100}),
        ("withdrawals", {"amount": 100}),
        ("transfers", {"amount": 100}),
        ("freeze", None),
        ("unfreeze", None),
        ("close", None),
    ],
)
def test_post_to_an_unknown_e_account_is_404(
    client: TestClient, endpoint: str, body: dict[str, Any] | None
) -> None:
    if body is not None and endpoint == "transfers":
        body = {**body, "to_e_account_id": open_e_account(client, "I")["id"]}
    r = client.post(f"/v1/e-accounts/{uuid.uuid4()}/{endpoint}", json=body)
    _assert_problem(r, 404, "e_account_not_found")


@pytest.mark.parametrize(
    "endpoint", ["top-ups", "withdrawals", "transfers", "freeze", "unfreeze", "close"]
)
def test_post_to_a_malformed_e_account_id_is_422(client: TestClient, endpoint: str) -> None:
    r = client.post(f"/v1/e-accounts/not-a-uuid/{endpoint}", json={"amount": 1})
    _assert_problem(r, 422, "validation_error")


def test_transfer_to_a_malformed_e_account_id_is_422(client: TestClient) -> None:
    payer = funded_class_i(client, 100)
    r = client.post(
        f"/v1/e-accounts/{payer}/transfers", json={"to_e_account_id": "nope", "amount": 1}
    )
    _assert_problem(r, 422, "validation_error")
    assert balance(client, payer) == 100


def test_movement_with_an_unexpected_field_is_refused(client: TestClient) -> None:
    e_account_id = open_e_account(client, "I")["id"]
    r = client.post(
        f"/v1/e-accounts/{e_account_id}/top-ups", json={"amount": 100, "currency": "USD"}
    )
    _assert_problem(r, 422, "validation_error")
    assert balance(client, e_account_id) == 0


def test_statement_refuses_a_bad_cursor_and_limit(client: TestClient) -> None:
    e_account_id = open_e_account(client, "I")["id"]
    url = f"/v1/e-accounts/{e_account_id}/statement"
    _assert_problem(client.get(url, params={"cursor": "x"}), 400, "invalid_cursor")
    _assert_problem(client.get(url, params={"limit": 1001}), 422, "validation_error")


def test_e_account_endpoints_need_the_operator_token(client: TestClient) -> None:
    e_account_id = funded_class_i(client, 100)
    wrong = {"Authorization": "Bearer wrong"}
    r = client.post(
        f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 100}, headers=wrong
    )
    _assert_problem(r, 401, "unauthorized")
    _assert_problem(
        client.get(f"/v1/e-accounts/{e_account_id}", headers=wrong), 401, "unauthorized"
    )
    assert balance(client, e_account_id) == 100


def test_large_amounts_stay_exact(client: TestClient) -> None:
    e_account_id = funded_class_i(client, 10**15 + 1)
    assert balance(client, e_account_id) == 10**15 + 1
    r = client.post(f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 10**15})
    assert r.status_code == 201
    assert balance(client, e_account_id) == 1
