"""Idempotency-Key on partner POSTs: required, replayed, 409 on another body, kept 24 hours
per app, then purged."""

from __future__ import annotations

import uuid
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.models import IdempotencyRecord
from openbank.platform.gateway import service as gateway
from tests.platform.gateway.conftest import Caller

PATH = "/v1/open/test/things"


def test_a_partner_post_without_idempotency_key_is_400(gw: TestClient, caller: Caller) -> None:
    response = gw.post(PATH, params=caller.params(), json={"name": "widget"})
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


def test_the_same_key_and_body_replays_the_first_response(gw: TestClient, caller: Caller) -> None:
    key = str(uuid.uuid4())
    first = gw.post(
        PATH, params=caller.params(), json={"name": "a"}, headers={"Idempotency-Key": key}
    )
    second = gw.post(
        PATH, params=caller.params(), json={"name": "a"}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_the_same_key_with_another_body_is_409(gw: TestClient, caller: Caller) -> None:
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key}
    gw.post(PATH, params=caller.params(), json={"name": "a"}, headers=headers)
    response = gw.post(PATH, params=caller.params(), json={"name": "b"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"


def test_keys_are_per_app(gw: TestClient, caller: Caller) -> None:
    other = Caller(app_id=uuid.uuid4(), partner_id=uuid.uuid4())
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    mine = gw.post(PATH, params=caller.params(), json={"name": "a"}, headers=headers)
    theirs = gw.post(PATH, params=other.params(), json={"name": "b"}, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_key_older_than_24_hours_counts_as_new(
    gw: TestClient, caller: Caller, gateway_clock: ShiftedClock
) -> None:
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = gw.post(PATH, params=caller.params(), json={"name": "a"}, headers=headers)
    gateway_clock.advance(timedelta(hours=23))
    within = gw.post(PATH, params=caller.params(), json={"name": "b"}, headers=headers)
    assert within.status_code == 409
    gateway_clock.advance(timedelta(hours=1, minutes=1))
    after = gw.post(PATH, params=caller.params(), json={"name": "b"}, headers=headers)
    assert after.status_code == 201
    assert "Idempotent-Replayed" not in after.headers
    assert after.json()["id"] != first.json()["id"]
    again = gw.post(PATH, params=caller.params(), json={"name": "b"}, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == after.json()


def test_purge_deletes_expired_partner_keys_only(
    gw: TestClient, db: Database, caller: Caller, gateway_clock: ShiftedClock
) -> None:
    scope = f"app:{caller.app_id}"
    gw.post(PATH, params=caller.params(), json={"name": "a"}, headers={"Idempotency-Key": "old"})
    gateway_clock.advance(timedelta(hours=25))
    gw.post(PATH, params=caller.params(), json={"name": "a"}, headers={"Idempotency-Key": "new"})

    def keys() -> set[str]:
        return set(
            unit_of_work(
                db,
                lambda s: (
                    s.execute(select(IdempotencyRecord.key).where(IdempotencyRecord.scope == scope))
                    .scalars()
                    .all()
                ),
            )
        )

    assert keys() == {"old", "new"}
    operator_before = _operator_records(db)
    purged = unit_of_work(db, lambda s: gateway.purge_idempotency(s, gateway_clock.now()))
    assert purged >= 1
    assert keys() == {"new"}
    assert _operator_records(db) == operator_before


def _operator_records(db: Database) -> int:
    return unit_of_work(
        db,
        lambda s: s.execute(
            select(func.count()).where(IdempotencyRecord.scope == "operator")
        ).scalar_one(),
    )
