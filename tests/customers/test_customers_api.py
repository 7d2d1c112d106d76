"""Customers over HTTP: persons and enterprises, their identity data, and bad input."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.database import Database, unit_of_work
from openbank.customers import models
from tests.customers.helpers import PHONE, create_person, credit_code, resident_id


def _count_with_id_number(db: Database, id_number: str) -> int:
    c = models.Customer
    return unit_of_work(
        db,
        lambda s: s.execute(
            select(func.count()).where(c.id_number == id_number.upper())
        ).scalar_one(),
    )


def _assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_person_is_created_with_masked_id_and_normalised_phone(client: TestClient) -> None:
    number = resident_id()
    r = client.post(
        "/v1/customers",
        json={
            "type": "person",
            "name": " 张三 ",
            "id_number": number,
            "phone": "138 0013 8000",
            "kyc_level": 2,
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["type"] == "person"
    assert body["name"] == "张三"
    assert body["id_type"] == "prc_resident_id"
    assert body["id_number_masked"] == number[:6] + "********" + number[-4:]
    assert number not in r.text
    assert body["phone"] == "+8613800138000"
    assert body["kyc_level"] == 2
    assert uuid.UUID(body["id"]).version == 7
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_customer_reads_back_as_created(client: TestClient) -> None:
    created = create_person(client, kyc_level=1)
    r = client.get(f"/v1/customers/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created


def test_enterprise_is_identified_by_its_credit_code(client: TestClient) -> None:
    code = credit_code()
    r = client.post(
        "/v1/customers",
        json={"type": "enterprise", "name": "某某科技有限公司", "id_number": code, "phone": PHONE},
    )
    assert r.status_code == 201, r.text
    assert r.json()["id_type"] == "unified_social_credit_code"
    assert r.json()["kyc_level"] == 0


def test_second_customer_with_the_same_identity_is_refused_with_409(
    client: TestClient, db: Database
) -> None:
    number = resident_id()
    create_person(client, id_number=number)
    r = client.post(
        "/v1/customers",
        json={"type": "person", "name": "王五", "id_number": number, "phone": PHONE},
    )
    _assert_problem(r, 409, "customer_exists")
    assert _count_with_id_number(db, number) == 1


def test_identity_differing_only_in_the_case_of_x_is_the_same_identity(
    client: TestClient,
) -> None:
    number = resident_id()
    while not number.endswith("X"):
        number = resident_id()
    create_person(client, id_number=number)
    r = client.post(
        "/v1/customers",
        json={"type": "person", "name": "王五", "id_number": number.lower(), "phone": PHONE},
    )
    _assert_problem(r, 409, "customer_exists")


def test_resident_id_with_a_wrong_check_char_is_refused_and_nothing_written(
    client: TestClient, db: Database
) -> None:
    good = resident_id()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    r = client.post(
        "/v1/customers",
        json={"type": "person", "name": "张三", "id_number": bad, "phone": PHONE},
    )
    _assert_problem(r, 422, "invalid_id_number")
    assert _count_with_id_number(db, bad) == 0


def test_enterprise_with_a_bad_credit_code_is_refused(client: TestClient) -> None:
    good = credit_code()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    r = client.post(
        "/v1/customers",
        json={"type": "enterprise", "name": "某公司", "id_number": bad, "phone": PHONE},
    )
    _assert_problem(r, 422, "invalid_id_number")


def test_person_needs_a_resident_id_not_a_credit_code(client: TestClient) -> None:
    r = client.post(
        "/v1/customers",
        json={"type": "person", "name": "张三", "id_number": credit_code(), "phone": PHONE},
    )
    _assert_problem(r, 422, "invalid_id_number")
    r = client.post(
        "/v1/customers",
        json={
            "type": "person",
            "name": "张三",
            "id_type": "unified_social_credit_code",
            "id_number": credit_code(),
            "phone": PHONE,
        },
    )
    _assert_problem(r, 422, "validation_error")


def test_phone_that_is_not_a_prc_mobile_is_refused_and_nothing_written(
    client: TestClient, db: Database
) -> None:
    number = resident_id()
    r = client.post(
        "/v1/customers",
        json={"type": "person", "name": "张三", "id_number": number, "phone": "12800138000"},
    )
    _assert_problem(r, 422, "invalid_phone")
    assert _count_with_id_number(db, number) == 0


@pytest.mark.parametrize(
    "change",
    [
        {"type": "robot"},
        {"name": ""},
        {"name": 42},
        {"kyc_level": 4},
        {"kyc_level": -1},
        {"kyc_level": "3"},
        {"kyc_level": 2.0},
        {"phone": None},
        {"id_number": "x" * 33},
        {"unexpected": True},
    ],
    ids=lambda change: "-".join(f"{k}={v!r}" for k, v in change.items()),
)
def test_malformed_customer_is_refused_with_problem_details(
    client: TestClient, db: Database, change: dict[str, Any]
) -> None:
    number = resident_id()
    body = {"type": "person", "name": "张三", "id_number": number, "phone": PHONE, **change}
    r = client.post("/v1/customers", json=body)
    _assert_problem(r, 422, "validation_error")
    assert _count_with_id_number(db, number) == 0


def test_body_that_is_not_json_is_refused(client: TestClient) -> None:
    r = client.post(
        "/v1/customers", content=b"{not json", headers={"content-type": "application/json"}
    )
    _assert_problem(r, 422, "validation_error")


def test_unknown_customer_is_404(client: TestClient) -> None:
    _assert_problem(client.get(f"/v1/customers/{uuid.uuid4()}"), 404, "customer_not_found")


def test_malformed_customer_id_is_422(client: TestClient) -> None:
    _assert_problem(client.get("/v1/customers/not-a-uuid"), 422, "validation_error")


def test_customers_need_the_operator_token(client: TestClient) -> None:
    r = client.get("/v1/customers", headers={"Authorization": "Bearer wrong"})
    _assert_problem(r, 401, "unauthorized")
    r = client.post(
        "/v1/customers",
        json={"type": "person", "name": "张三", "id_number": resident_id(), "phone": PHONE},
        headers={"Authorization": "Bearer wrong"},
    )
    _assert_problem(r, 401, "unauthorized")


def test_customer_list_pages_oldest_first_without_gaps_or_repeats(client: TestClient) -> None:
    mine = [create_person(client)["id"] for _ in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = client.get("/v1/customers", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= 2
        seen.extend(c["id"] for c in page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["next"] is None
            break
        assert "cursor=" in page["next"]
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, key=uuid.UUID)
    assert [i for i in seen if i in mine] == mine


def test_customer_list_refuses_a_bad_cursor_and_limit(client: TestClient) -> None:
    _assert_problem(client.get("/v1/customers", params={"cursor": "nope"}), 400, "invalid_cursor")
    _assert_problem(client.get("/v1/customers", params={"limit": 1001}), 422, "validation_error")
    _assert_problem(client.get("/v1/customers", params={"limit": 0}), 422, "validation_error")
