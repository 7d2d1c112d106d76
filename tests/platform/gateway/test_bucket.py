"""GCRA arithmetic: the Python model and the one SQL statement every process runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from openbank.core.database import Database
from openbank.platform.gateway.ratelimit import Limit, admit, count_call, retry_after_seconds

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def test_an_idle_bucket_admits_the_burst_at_once_then_refuses() -> None:
    limit = Limit(per_second=2, burst=3)
    tat = None
    outcomes = []
    for _ in range(4):
        decision = admit(tat, T0, limit)
        outcomes.append(decision.admitted)
        tat = decision.tat
    assert outcomes == [True, True, True, False]


def test_the_bucket_refills_at_the_rate() -> None:
    limit = Limit(per_second=2, burst=1)
    first = admit(None, T0, limit)
    assert not admit(first.tat, T0 + timedelta(milliseconds=499), limit).admitted
    assert admit(first.tat, T0 + timedelta(milliseconds=500), limit).admitted


def test_a_refusal_does_not_use_up_the_bucket() -> None:
    limit = Limit(per_second=1, burst=1)
    first = admit(None, T0, limit)
    refused = admit(first.tat, T0, limit)
    assert not refused.admitted
    assert refused.tat == first.tat


def test_retry_after_is_whole_seconds_until_the_next_admission() -> None:
    limit = Limit(per_second=1, burst=2)
    tat = admit(admit(None, T0, limit).tat, T0, limit).tat  # both tokens used: tat = T0 + 2 s
    assert retry_after_seconds(tat, T0, limit) == 1
    assert retry_after_seconds(tat, T0 + timedelta(milliseconds=100), limit) == 1
    slow = Limit(per_second=1, burst=1)
    assert retry_after_seconds(T0 + timedelta(seconds=10), T0, slow) == 10


def test_retry_after_is_at_least_one_second() -> None:
    limit = Limit(per_second=1000, burst=1)
    tat = admit(None, T0, limit).tat
    assert not admit(tat, T0, limit).admitted
    assert retry_after_seconds(tat, T0, limit) == 1


def test_the_sql_statement_decides_as_the_python_model(db: Database) -> None:
    app_id = uuid.uuid4()
    limit = Limit(per_second=50, burst=3)
    steps = [0, 0, 0, 0, 5, 7, 20, 20, 21, 21, 21, 500, 500, 500, 500]  # milliseconds
    tat = None
    for ms in steps:
        now = T0 + timedelta(milliseconds=ms)
        expected = admit(tat, now, limit)
        got = count_call(db, app_id, "e_accounts", now, limit)
        assert (got.admitted, got.tat) == (expected.admitted, expected.tat), ms
        tat = expected.tat


def test_the_sql_statement_rounds_an_interval_as_python_does(db: Database) -> None:
    app_id = uuid.uuid4()
    limit = Limit(per_second=3, burst=2)  # 1/3 s is not a whole number of microseconds
    tat = None
    for ms in [0, 0, 0, 333, 334, 667, 1000, 1000]:
        now = T0 + timedelta(milliseconds=ms)
        expected = admit(tat, now, limit)
        got = count_call(db, app_id, "payments", now, limit)
        assert (got.admitted, got.tat) == (expected.admitted, expected.tat), ms
        tat = expected.tat
