"""Concurrent movements cannot squeeze past a limit together."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.settings import Settings
from openbank.customers import service
from openbank.customers.schemas import EAccountTransferCreate
from tests.customers.helpers import CNY, movement_count, service_e_account

NOON = datetime(2031, 7, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def _fund(db: Database, settings: Settings, source: uuid.UUID) -> None:
    unit_of_work(db, lambda s: service.top_up(s, source, 2_000 * CNY, NOON, settings))


def test_eight_concurrent_transfers_into_a_class_ii_account_fill_its_daily_room_exactly(
    db: Database, settings: Settings
) -> None:
    assert settings.class_ii_non_bound_daily_limit == 10_000 * CNY
    payee = service_e_account(db, settings, NOON, "II")
    sources = []
    for _ in range(8):
        source = service_e_account(db, settings, NOON, "I")
        _fund(db, settings, source)
        sources.append(source)
    start = threading.Barrier(len(sources))
    outcomes: list[str] = []
    lock = threading.Lock()

    def send(source: uuid.UUID) -> None:
        spec = EAccountTransferCreate(to_e_account_id=payee, amount=2_000 * CNY)
        start.wait()
        try:
            unit_of_work(db, lambda s: service.transfer(s, source, spec, NOON, settings))
            outcome = "ok"
        except DomainError as refused:
            outcome = refused.code
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=send, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["limit_exceeded"] * 3 + ["ok"] * 5
    assert unit_of_work(db, lambda s: service.get_e_account(s, payee)).balance == 10_000 * CNY
    assert movement_count(db, payee) == 5
