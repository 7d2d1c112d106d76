"""Sandbox sign-in credentials: set by an operator, checked with one answer for every
failure, locked after five wrong passwords."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.signin import models
from openbank.platform.signin.service import LOCKED_FOR
from tests.customers.helpers import create_person
from tests.platform.signin.support import (
    PASSWORD,
    csrf_of,
    sandbox_customer,
    set_password,
    unique_phone,
)

SELF_SERVICE = "/me/consents"


def _sign_in(web: TestClient, phone: str, password: str) -> tuple[int, str]:
    """One sign-in attempt on the self-service pages, from a fresh session."""
    web.cookies.clear()
    csrf = csrf_of(web.get(SELF_SERVICE).text)
    response = web.post("/me/sign-in", data={"phone": phone, "password": password, "csrf": csrf})
    return response.status_code, response.text


def _error_of(html: str) -> str:
    start = html.index('<div class="error"')
    return html[start : html.index("</div>", start)]


def test_operator_sets_credentials_with_the_customers_phone_as_login(
    signin_client: TestClient, db: Database
) -> None:
    phone = unique_phone()
    customer_id = create_person(signin_client, phone=phone, sandbox=True)["id"]

    response = set_password(signin_client, customer_id)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == customer_id
    assert body["login"] == phone
    stored = unit_of_work(db, lambda s: s.get(models.CustomerCredential, body["customer_id"]))
    assert stored is not None
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash


def test_setting_credentials_needs_an_operator(signin_client: TestClient) -> None:
    customer_id = create_person(signin_client, phone=unique_phone())["id"]

    response = signin_client.post(
        f"/v1/sandbox/customers/{customer_id}/credentials",
        json={"password": PASSWORD},
        headers={"Authorization": "Bearer not-a-token"},
    )

    assert response.status_code == 401


def test_credentials_for_an_unknown_customer_are_refused(signin_client: TestClient) -> None:
    response = set_password(signin_client, "0190f1d2-0000-7000-8000-000000000000")

    assert response.status_code == 404
    assert response.json()["code"] == "customer_not_found"


def test_a_phone_already_used_as_login_is_refused(signin_client: TestClient) -> None:
    first = sandbox_customer(signin_client)
    second_id = create_person(signin_client, phone=first.phone, sandbox=True)["id"]

    response = set_password(signin_client, second_id)

    assert response.status_code == 409
    assert response.json()["code"] == "login_taken"


def test_wrong_password_and_unknown_phone_give_the_same_answer(
    signin_client: TestClient, web: TestClient
) -> None:
    customer = sandbox_customer(signin_client)

    wrong_password = _sign_in(web, customer.phone, "not-the-password")
    unknown_phone = _sign_in(web, unique_phone(), customer.password)

    assert wrong_password[0] == unknown_phone[0] == 401
    assert _error_of(wrong_password[1]) == _error_of(unknown_phone[1])
    assert "手机号或密码错误" in _error_of(unknown_phone[1])


def test_five_wrong_passwords_lock_sign_in_for_fifteen_minutes(
    signin_client: TestClient, web: TestClient, clock: ShiftedClock, settings: Settings
) -> None:
    customer = sandbox_customer(signin_client)
    for _ in range(5):
        assert _sign_in(web, customer.phone, "not-the-password")[0] == 401

    locked = _sign_in(web, customer.phone, customer.password)
    clock.advance(LOCKED_FOR + timedelta(seconds=1))
    after_lock = _sign_in(web, customer.phone, customer.password)

    assert locked[0] == 401
    assert _error_of(locked[1]) == _error_of(_sign_in(web, unique_phone(), "x")[1])
    assert after_lock[0] == 200
    assert 'id="sandbox-code"' in after_lock[1]


def test_a_right_password_resets_the_count_of_wrong_ones(
    signin_client: TestClient, web: TestClient
) -> None:
    customer = sandbox_customer(signin_client)
    for _ in range(4):
        _sign_in(web, customer.phone, "not-the-password")
    assert _sign_in(web, customer.phone, customer.password)[0] == 200

    for _ in range(4):
        _sign_in(web, customer.phone, "not-the-password")

    assert _sign_in(web, customer.phone, customer.password)[0] == 200


def test_a_production_customer_gets_no_sandbox_password(signin_client: TestClient) -> None:
    """The sandbox shows one-time codes on screen: a production customer signing in there
    would be authorised by a password alone."""
    customer_id = create_person(signin_client)["id"]
    response = signin_client.post(
        f"/v1/sandbox/customers/{customer_id}/credentials", json={"password": "secret-enough-1"}
    )
    assert response.status_code == 409
    assert response.json()["code"] == "not_a_sandbox_customer"
