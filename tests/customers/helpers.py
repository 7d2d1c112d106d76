"""Test data for the customers context: valid identity numbers (computed here, independently of
the code under test), customers and e-accounts created through the API or the service."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import models, service
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.customers.vocabulary import AccountClass

# A random start per process, then a counter: numbers never repeat within a test database.
_serial = itertools.count(random.randrange(10**6))

_RESIDENT_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]

CNY = 100  # fen per yuan
PHONE = "+8613800138000"


def resident_id_body(n: int | None = None) -> str:
    """17 digits: a Beijing region, a birth date in 1950-2004, a sequence number."""
    n = next(_serial) if n is None else n
    born = date(1950, 1, 1) + timedelta(days=n % 20000)
    return f"110105{born:%Y%m%d}{n // 20000 % 1000:03d}"


def resident_check(body: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, _RESIDENT_WEIGHTS, strict=True)) % 11]


def resident_id() -> str:
    body = resident_id_body()
    return body + resident_check(body)


def credit_code_body() -> str:
    n = next(_serial)
    digits = ""
    for _ in range(9):
        n, r = divmod(n, 31)
        digits += _CREDIT_ALPHABET[r]
    return "91110000" + digits


def credit_check(body: str) -> str:
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return _CREDIT_ALPHABET[(31 - total % 31) % 31]


def credit_code() -> str:
    body = credit_code_body()
    return body + credit_check(body)


def luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        v = int(ch)
        if i % 2 == 0:  # these digits are doubled once the check digit is appended
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return str((10 - total % 10) % 10)


def card_number() -> str:
    payload = f"622202{next(_serial) % 10**9:09d}"
    return payload + luhn_digit(payload)


# -- through the HTTP API -------------------------------------------------------------------


def create_person(client: TestClient, kyc_level: int = 3, **fields: Any) -> dict[str, Any]:
    body = {
        "type": "person",
        "name": "张三",
        "id_number": resident_id(),
        "phone": PHONE,
        "kyc_level": kyc_level,
        **fields,
    }
    r = client.post("/v1/customers", json=body)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def open_e_account(
    client: TestClient, account_class: AccountClass, customer_id: str | None = None
) -> dict[str, Any]:
    if customer_id is None:
        customer_id = create_person(client, kyc_level=3)["id"]
    r = client.post(
        "/v1/e-accounts",
        json={
            "customer_id": customer_id,
            "class": account_class,
            "bound_card": {"number": card_number(), "bank_name": "中国工商银行"},
        },
    )
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


def top_up(client: TestClient, e_account_id: str, amount: int) -> None:
    r = client.post(f"/v1/e-accounts/{e_account_id}/top-ups", json={"amount": amount})
    assert r.status_code == 201, r.text


def balance(client: TestClient, e_account_id: str) -> int:
    r = client.get(f"/v1/e-accounts/{e_account_id}")
    assert r.status_code == 200, r.text
    return int(r.json()["balance"])


def funded_class_i(client: TestClient, amount: int) -> str:
    """A class I e-account (no limits) holding `amount` fen: a source of non-bound money."""
    e_account_id = str(open_e_account(client, "I")["id"])
    top_up(client, e_account_id, amount)
    return e_account_id


def away_from_midnight(clock: ShiftedClock, settings: Settings) -> None:
    """Tests that count on one business day move the clock past a midnight that is near."""
    now = clock.now().astimezone(settings.tz)
    next_day = (now + timedelta(days=1)).replace(hour=0, minute=0, second=5, microsecond=0)
    if next_day - now < timedelta(minutes=15):
        clock.advance(next_day - now)


# -- through the service --------------------------------------------------------------------


def service_e_account(
    db: Database, settings: Settings, now: datetime, account_class: AccountClass
) -> uuid.UUID:
    def work(session: Any) -> uuid.UUID:
        customer = service.create_customer(
            session,
            CustomerCreate(
                type="person", name="李四", id_number=resident_id(), phone=PHONE, kyc_level=3
            ),
            now,
            settings,
        )
        opened = service.open_e_account(
            session,
            EAccountCreate(
                customer_id=customer.id,
                account_class=account_class,
                bound_card=BoundCardCreate(number=card_number(), bank_name="中国银行"),
            ),
            now,
        )
        return opened.id

    return unit_of_work(db, work)


def movement_count(db: Database, e_account_id: str | uuid.UUID) -> int:
    m = models.EAccountMovement
    return unit_of_work(
        db,
        lambda s: s.execute(
            select(func.count()).where(m.e_account_id == uuid.UUID(str(e_account_id)))
        ).scalar_one(),
    )
