"""Remote opening through the signed gateway: the same service, the same refusals, nothing
written when refused, and wrong one-time codes counted."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.database import Database, unit_of_work
from openbank.customers import models as customer_models
from tests.customers.helpers import card_number, resident_id
from tests.platform.signed.support import (
    SignedApp,
    call,
    data_of,
    new_phone,
    open_account,
    signed_app,
)


def _counts(db: Database) -> tuple[int, int]:
    return unit_of_work(
        db,
        lambda s: (
            s.execute(select(func.count()).select_from(customer_models.Customer)).scalar_one(),
            s.execute(select(func.count()).select_from(customer_models.EAccount)).scalar_one(),
        ),
    )


def _opening(client: TestClient, sapp: SignedApp, **fields: Any) -> dict[str, Any]:
    phone = fields.pop("phone", None) or new_phone()
    challenge = data_of(sapp, call(client, sapp, "openbank.otp.send", {"phone": phone}))
    return {
        "name": "王五",
        "id_number": resident_id(),
        "phone": phone,
        "otp_challenge_id": challenge["challenge_id"],
        "otp_code": challenge["sandbox_code"],
        "bound_card": {"number": card_number(), "bank_name": "中国农业银行"},
        **fields,
    }


def test_an_identity_mismatch_through_the_gateway_writes_nothing(
    client: TestClient, db: Database
) -> None:
    sapp = signed_app(client)
    known = open_account(client, sapp)
    biz = _opening(client, sapp, phone=known.phone, id_number=known.id_number, name="赵六")
    before = _counts(db)
    response = call(client, sapp, "openbank.eaccount.open", biz, "SM2")
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "identity_mismatch"
    assert _counts(db) == before


def test_a_bad_id_number_through_the_gateway_writes_nothing(
    client: TestClient, db: Database
) -> None:
    sapp = signed_app(client)
    good = resident_id()
    biz = _opening(client, sapp, id_number=good[:17] + ("0" if good[17] != "0" else "1"))
    before = _counts(db)
    response = call(client, sapp, "openbank.eaccount.open", biz)
    assert response.json()["code"] == "invalid_id_number"
    assert _counts(db) == before


def test_wrong_codes_through_the_gateway_count(client: TestClient, db: Database) -> None:
    sapp = signed_app(client)
    biz = _opening(client, sapp)
    wrong = {**biz, "otp_code": "000000" if biz["otp_code"] != "000000" else "111111"}
    before = _counts(db)
    for _ in range(5):
        response = call(client, sapp, "openbank.eaccount.open", wrong)
        assert response.json()["code"] == "otp_invalid"
    response = call(client, sapp, "openbank.eaccount.open", biz)  # right, but too late
    assert response.status_code == 401
    assert response.json()["code"] == "otp_invalid"
    assert _counts(db) == before


def test_a_retried_opening_with_its_out_request_no_opens_one_account(
    client: TestClient, db: Database
) -> None:
    sapp = signed_app(client)
    biz = _opening(client, sapp, out_request_no="OPEN-1")
    first = data_of(sapp, call(client, sapp, "openbank.eaccount.open", biz))
    before = _counts(db)
    again = data_of(sapp, call(client, sapp, "openbank.eaccount.open", biz, "SM2"))
    assert again["e_account_id"] == first["e_account_id"]
    assert _counts(db) == before
