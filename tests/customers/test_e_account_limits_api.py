"""Class limits over HTTP with the default figures: at the limit passes, one fen over is a
422 `limit_exceeded` that moves nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.customers.helpers import (
    CNY,
    away_from_midnight,
    balance,
    funded_class_i,
    movement_count,
    open_e_account,
    top_up,
)


def _transfer(client: TestClient, payer: str, payee: str, amount: int) -> Any:
    return client.post(
        f"/v1/e-accounts/{payer}/transfers", json={"to_e_account_id": payee, "amount": amount}
    )


def _assert_limit_exceeded(response: Any, limit: str, remaining: int) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == "limit_exceeded"
    assert body["limit"] == limit
    assert body["remaining"] == remaining
    return body


# -- class II -------------------------------------------------------------------------------


def test_class_ii_takes_in_non_bound_money_up_to_its_daily_limit_and_not_a_fen_more(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    source = funded_class_i(client, 20_000 * CNY)
    e_account_id = open_e_account(client, "II")["id"]
    assert _transfer(client, source, e_account_id, 10_000 * CNY).status_code == 201
    body = _assert_limit_exceeded(
        _transfer(client, source, e_account_id, 1), "class_ii_non_bound_daily", 0
    )
    assert "10,000.00 CNY" in body["detail"]
    assert body["e_account_id"] == e_account_id
    assert balance(client, e_account_id) == 10_000 * CNY
    assert balance(client, source) == 10_000 * CNY
    assert movement_count(db, e_account_id) == 1


def test_class_ii_counts_non_bound_money_in_and_out_together(
    client: TestClient, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    source = funded_class_i(client, 10_000 * CNY)
    e_account_id = open_e_account(client, "II")["id"]
    assert _transfer(client, source, e_account_id, 6_000 * CNY).status_code == 201
    assert _transfer(client, e_account_id, source, 4_000 * CNY - 1).status_code == 201
    body = _assert_limit_exceeded(
        _transfer(client, e_account_id, source, 2), "class_ii_non_bound_daily", 1
    )
    assert "0.01 CNY remains" in body["detail"]
    assert _transfer(client, e_account_id, source, 1).status_code == 201
    assert balance(client, e_account_id) == 2_000 * CNY


def test_class_ii_bound_card_top_ups_and_withdrawals_do_not_count(
    client: TestClient, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    source = funded_class_i(client, 10_000 * CNY)
    e_account_id = open_e_account(client, "II")["id"]
    top_up(client, e_account_id, 50_000 * CNY)
    r = client.post(f"/v1/e-accounts/{e_account_id}/withdrawals", json={"amount": 50_000 * CNY})
    assert r.status_code == 201, r.text
    assert _transfer(client, source, e_account_id, 10_000 * CNY).status_code == 201


def test_class_ii_daily_window_resets_on_the_next_business_day(
    client: TestClient, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    source = funded_class_i(client, 20_000 * CNY)
    e_account_id = open_e_account(client, "II")["id"]
    assert _transfer(client, source, e_account_id, 10_000 * CNY).status_code == 201
    _assert_limit_exceeded(
        _transfer(client, source, e_account_id, 1), "class_ii_non_bound_daily", 0
    )
    clock.advance(timedelta(days=1))
    assert _transfer(client, source, e_account_id, 10_000 * CNY).status_code == 201
    assert balance(client, e_account_id) == 20_000 * CNY


def test_class_ii_limit_of_the_payee_refuses_a_transfer_and_the_payer_keeps_its_money(
    client: TestClient, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    source = funded_class_i(client, 20_000 * CNY)
    payee = open_e_account(client, "II")["id"]
    assert _transfer(client, source, payee, 9_000 * CNY).status_code == 201
    body = _assert_limit_exceeded(
        _transfer(client, source, payee, 1_000 * CNY + 1), "class_ii_non_bound_daily", 1_000 * CNY
    )
    assert body["e_account_id"] == payee
    assert (balance(client, source), balance(client, payee)) == (11_000 * CNY, 9_000 * CNY)


# -- class III ------------------------------------------------------------------------------


def test_class_iii_balance_may_reach_its_cap_and_not_a_fen_more(
    client: TestClient, db: Database
) -> None:
    e_account_id = open_e_account(client, "III")["id"]
    top_up(client, e_account_id, 1_500 * CNY)
    top_up(client, e_account_id, 500 * CNY)
    r = client.post(f"/v1/e-accounts/{e_account_id}/top-ups", json={"amount": 1})
    body = _assert_limit_exceeded(r, "class_iii_balance", 0)
    assert "2,000.00 CNY" in body["detail"]
    assert balance(client, e_account_id) == 2_000 * CNY
    assert movement_count(db, e_account_id) == 2


def test_class_iii_balance_cap_applies_to_transfers_in(client: TestClient) -> None:
    source = funded_class_i(client, 5_000 * CNY)
    e_account_id = open_e_account(client, "III")["id"]
    top_up(client, e_account_id, 1_200 * CNY)
    r = _transfer(client, source, e_account_id, 800 * CNY + 1)
    _assert_limit_exceeded(r, "class_iii_balance", 800 * CNY)
    assert (balance(client, source), balance(client, e_account_id)) == (
        5_000 * CNY,
        1_200 * CNY,
    )
    assert _transfer(client, source, e_account_id, 800 * CNY).status_code == 201


def test_class_iii_sends_money_out_up_to_its_daily_limit_and_not_a_fen_more(
    client: TestClient, db: Database, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    e_account_id = open_e_account(client, "III")["id"]
    payee = open_e_account(client, "I")["id"]
    url = f"/v1/e-accounts/{e_account_id}"
    for amount in (2_000 * CNY, 2_000 * CNY):
        top_up(client, e_account_id, amount)
        assert client.post(f"{url}/withdrawals", json={"amount": amount}).status_code == 201
    top_up(client, e_account_id, 1_000 * CNY + 1)
    assert _transfer(client, e_account_id, payee, 1_000 * CNY).status_code == 201  # 5,000 out
    r = client.post(f"{url}/withdrawals", json={"amount": 1})
    _assert_limit_exceeded(r, "class_iii_outflow_daily", 0)
    _assert_limit_exceeded(_transfer(client, e_account_id, payee, 1), "class_iii_outflow_daily", 0)
    assert balance(client, e_account_id) == 1
    assert movement_count(db, e_account_id) == 6


def test_class_iii_money_out_window_resets_on_the_next_business_day(
    client: TestClient, clock: ShiftedClock, settings: Settings
) -> None:
    away_from_midnight(clock, settings)
    e_account_id = open_e_account(client, "III")["id"]
    url = f"/v1/e-accounts/{e_account_id}/withdrawals"
    for _ in range(2):
        top_up(client, e_account_id, 2_000 * CNY)
        assert client.post(url, json={"amount": 2_000 * CNY}).status_code == 201
    top_up(client, e_account_id, 2_000 * CNY)
    _assert_limit_exceeded(
        client.post(url, json={"amount": 2_000 * CNY}), "class_iii_outflow_daily", 1_000 * CNY
    )
    clock.advance(timedelta(days=1))
    assert client.post(url, json={"amount": 2_000 * CNY}).status_code == 201
