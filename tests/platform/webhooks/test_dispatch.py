"""The dispatcher against real PostgreSQL and a real HTTP receiver: fan-out from the outbox,
retries with backoff on the test's own clock, dead letters, replay, two dispatchers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, session_scope, unit_of_work
from openbank.core.models import OutboxEvent
from openbank.core.outbox import emit
from openbank.core.settings import Settings
from openbank.platform.webhooks import service
from openbank.platform.webhooks.dispatcher import Dispatcher
from openbank.platform.webhooks.errors import DeliveryNotReplayable
from openbank.platform.webhooks.service import JITTER
from tests.platform.webhooks.conftest import MAX_ATTEMPTS
from tests.platform.webhooks.helpers import (
    Receiver,
    add_endpoint,
    deliveries,
    emit_event,
    new_app,
)

CLOSED_PORT = "http://127.0.0.1:9/hooks"  # refuses connections at once


def test_event_of_a_rolled_back_transaction_is_never_delivered(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    event_id = uuid.uuid4()

    def failing_change() -> None:
        nonlocal event_id
        with session_scope(wh_db) as session:
            event_id = emit(
                session, "consent.revoked", "consents/1", {}, ShiftedClock().now(), app_id
            )
            raise RuntimeError("the change it announced failed")

    with pytest.raises(RuntimeError):
        failing_change()

    dispatcher.run_once()

    assert deliveries(wh_db, event_id) == []
    assert receiver.requests == []
    assert unit_of_work(wh_db, lambda s: s.get(OutboxEvent, event_id)) is None


def test_committed_event_creates_one_delivery_per_matching_active_endpoint(
    wh_db: Database, wh_clock: ShiftedClock
) -> None:
    app_id, other_app = new_app(wh_db), new_app(wh_db)
    everything = add_endpoint(wh_db, app_id, CLOSED_PORT + "/all")
    top_ups = add_endpoint(wh_db, app_id, CLOSED_PORT + "/top-ups", ("e_account.top_up.completed",))
    add_endpoint(wh_db, app_id, CLOSED_PORT + "/consents", ("consent.revoked",))
    removed = add_endpoint(wh_db, app_id, CLOSED_PORT + "/removed")
    unit_of_work(wh_db, lambda s: service.remove_endpoint(s, app_id, removed.id, wh_clock.now()))
    add_endpoint(wh_db, other_app, CLOSED_PORT + "/other")
    event_id = emit_event(wh_db, app_id, "e_account.top_up.completed")

    unit_of_work(wh_db, lambda s: service.fan_out(s, wh_clock.now()))

    rows = deliveries(wh_db, event_id)
    assert sorted(r.endpoint_id for r in rows) == sorted([everything.id, top_ups.id])
    assert {(r.status, r.attempts, r.app_id) for r in rows} == {("pending", 0, app_id)}
    event = unit_of_work(wh_db, lambda s: s.get(OutboxEvent, event_id))
    assert event is not None
    assert event.dispatched_at is not None


def test_fan_out_twice_queues_each_delivery_once(wh_db: Database, wh_clock: ShiftedClock) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, CLOSED_PORT)
    event_id = emit_event(wh_db, app_id)
    unit_of_work(wh_db, lambda s: service.fan_out(s, wh_clock.now()))

    def undispatch(session: object) -> None:  # as if a crash lost the dispatched mark
        row = session.get(OutboxEvent, event_id)  # type: ignore[attr-defined]
        row.dispatched_at = None

    unit_of_work(wh_db, undispatch)
    unit_of_work(wh_db, lambda s: service.fan_out(s, wh_clock.now()))

    assert len(deliveries(wh_db, event_id)) == 1


def test_delivery_posts_the_event_with_its_headers(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver, wh_settings: Settings
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    payload = {"consent_id": str(uuid.uuid4()), "reason": "客户撤销"}
    event_id = emit_event(wh_db, app_id, "consent.revoked", payload)

    dispatcher.run_once()

    [request] = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Openbank-Event-Id"] == str(event_id)
    assert request.headers["X-Openbank-Event-Type"] == "consent.revoked"
    assert request.headers["X-Openbank-Delivery-Attempt"] == "1"
    document = json.loads(request.body)
    assert document["id"] == str(event_id)
    assert document["type"] == "consent.revoked"
    assert document["data"] == payload
    assert document["occurred_at"].endswith("Z")
    [row] = deliveries(wh_db, event_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)
    assert row.delivered_at is not None
    assert row.next_attempt_at is None


def test_failed_attempt_is_retried_after_backoff_and_delivered_once(
    wh_db: Database,
    dispatcher: Dispatcher,
    receiver: Receiver,
    wh_clock: ShiftedClock,
    wh_settings: Settings,
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    receiver.answers = [500, 200]
    event_id = emit_event(wh_db, app_id)

    dispatcher.run_once()
    [failed] = deliveries(wh_db, event_id)
    assert (failed.status, failed.attempts, failed.last_status_code) == ("failed", 1, 500)
    assert failed.next_attempt_at is not None
    assert failed.last_attempt_at is not None
    delay = (failed.next_attempt_at - failed.last_attempt_at).total_seconds()
    first = wh_settings.webhook_first_retry_seconds
    assert first * (1 - JITTER) - 1 <= delay <= first + 1

    dispatcher.run_once()  # not due yet
    assert len(receiver.requests) == 1

    wh_clock.advance(timedelta(seconds=first))
    dispatcher.run_once()
    dispatcher.run_once()

    assert [r.headers["X-Openbank-Event-Id"] for r in receiver.requests] == [str(event_id)] * 2
    assert [r.headers["X-Openbank-Delivery-Attempt"] for r in receiver.requests] == ["1", "2"]
    [delivered] = deliveries(wh_db, event_id)
    assert (delivered.status, delivered.attempts, delivered.last_error) == ("delivered", 2, None)


def test_backoff_doubles_each_attempt_up_to_the_cap(wh_settings: Settings) -> None:
    class NoJitter:
        def random(self) -> float:
            return 0.0

    delays = [
        service.backoff_seconds(n, wh_settings, NoJitter())  # type: ignore[arg-type]
        for n in range(1, 6)
    ]

    assert delays == [10, 20, 40, 60, 60]


def test_timeout_is_a_failed_attempt(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    receiver.delay = 2.0  # the timeout is 0.5 s
    event_id = emit_event(wh_db, app_id)

    dispatcher.run_once()

    [row] = deliveries(wh_db, event_id)
    assert (row.status, row.last_error, row.last_status_code) == ("failed", "timeout", None)


def _exhaust(dispatcher: Dispatcher, clock: ShiftedClock, settings: Settings) -> None:
    for _ in range(MAX_ATTEMPTS):
        dispatcher.run_once()
        clock.advance(timedelta(seconds=settings.webhook_max_retry_seconds))


def test_delivery_out_of_attempts_is_dead(
    wh_db: Database,
    dispatcher: Dispatcher,
    receiver: Receiver,
    wh_clock: ShiftedClock,
    wh_settings: Settings,
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    receiver.always = 503
    event_id = emit_event(wh_db, app_id)

    _exhaust(dispatcher, wh_clock, wh_settings)
    dispatcher.run_once()

    [row] = deliveries(wh_db, event_id)
    assert (row.status, row.attempts, row.last_error) == ("dead", MAX_ATTEMPTS, "HTTP 503")
    assert row.next_attempt_at is None
    assert len(receiver.requests) == MAX_ATTEMPTS
    dead, _ = unit_of_work(wh_db, lambda s: service.list_deliveries(s, "dead", app_id, None, 10))
    assert [d.id for d in dead] == [row.id]


def test_replayed_dead_delivery_is_delivered_with_the_same_event_id(
    wh_db: Database,
    dispatcher: Dispatcher,
    receiver: Receiver,
    wh_clock: ShiftedClock,
    wh_settings: Settings,
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    receiver.answers = [500] * MAX_ATTEMPTS
    event_id = emit_event(wh_db, app_id)
    _exhaust(dispatcher, wh_clock, wh_settings)
    [dead] = deliveries(wh_db, event_id)
    assert dead.status == "dead"

    replayed = unit_of_work(wh_db, lambda s: service.replay(s, dead.id, wh_clock.now()))
    assert (replayed.status, replayed.attempts) == ("pending", 0)
    dispatcher.run_once()

    [row] = deliveries(wh_db, event_id)
    assert (row.id, row.status) == (dead.id, "delivered")
    assert {r.headers["X-Openbank-Event-Id"] for r in receiver.requests} == {str(event_id)}
    assert len(receiver.requests) == MAX_ATTEMPTS + 1


def test_replay_of_a_delivered_delivery_is_refused(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver, wh_clock: ShiftedClock
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    event_id = emit_event(wh_db, app_id)
    dispatcher.run_once()
    [row] = deliveries(wh_db, event_id)

    with pytest.raises(DeliveryNotReplayable):
        unit_of_work(wh_db, lambda s: service.replay(s, row.id, wh_clock.now()))

    assert deliveries(wh_db, event_id)[0].status == "delivered"


def test_removing_an_endpoint_moves_its_waiting_deliveries_to_the_dead_letters(
    wh_db: Database, dispatcher: Dispatcher, receiver: Receiver, wh_clock: ShiftedClock
) -> None:
    app_id = new_app(wh_db)
    endpoint = add_endpoint(wh_db, app_id, receiver.url)
    receiver.always = 500
    event_id = emit_event(wh_db, app_id)
    dispatcher.run_once()

    unit_of_work(wh_db, lambda s: service.remove_endpoint(s, app_id, endpoint.id, wh_clock.now()))
    wh_clock.advance(timedelta(hours=1))
    dispatcher.run_once()

    [row] = deliveries(wh_db, event_id)
    assert (row.status, row.last_error) == ("dead", "endpoint removed")
    assert len(receiver.requests) == 1


def test_two_dispatchers_deliver_every_event_exactly_once(
    wh_db: Database, wh_settings: Settings, receiver: Receiver, wh_clock: ShiftedClock
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    receiver.delay = 0.005
    events = {emit_event(wh_db, app_id) for _ in range(120)}
    databases = [Database(wh_settings), Database(wh_settings)]
    dispatchers = [
        Dispatcher(d, wh_settings, wh_clock, name=f"d{i}") for i, d in enumerate(databases)
    ]
    start = threading.Barrier(len(dispatchers))
    sent: list[int] = [0, 0]
    deadline = time.monotonic() + 60

    def all_delivered() -> bool:
        done = unit_of_work(
            wh_db, lambda s: service.list_deliveries(s, "delivered", app_id, None, 1000)
        )[0]
        return len(done) >= len(events)

    def work(index: int) -> None:
        # Both keep going until everything is delivered, so they really compete.
        start.wait()
        while time.monotonic() < deadline and not all_delivered():
            sent[index] += dispatchers[index].run_once().delivered

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(dispatchers))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        for dispatcher, database in zip(dispatchers, databases, strict=True):
            dispatcher.close()
            database.dispose()

    received = Counter(uuid.UUID(r.headers["X-Openbank-Event-Id"]) for r in receiver.requests)
    mine = {event_id: received[event_id] for event_id in events}
    assert set(mine.values()) == {1}
    assert sum(sent) == len(events)
    statuses = {d.status for e in events for d in deliveries(wh_db, e)}
    assert statuses == {"delivered"}


def test_lost_attempt_is_sent_again_once_its_lease_ends(
    wh_db: Database,
    dispatcher: Dispatcher,
    receiver: Receiver,
    wh_clock: ShiftedClock,
    wh_settings: Settings,
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    event_id = emit_event(wh_db, app_id)
    unit_of_work(wh_db, lambda s: service.fan_out(s, wh_clock.now()))
    # A dispatcher claims the attempt, then dies before sending or recording it.
    claimed = unit_of_work(
        wh_db, lambda s: service.claim_due(s, wh_clock.now(), wh_settings, limit=1000)
    )
    assert [a.number for a in claimed if a.event_id == event_id] == [1]

    dispatcher.run_once()
    assert [r for r in receiver.requests if r.headers["X-Openbank-Event-Id"] == str(event_id)] == []

    wh_clock.advance(service.attempt_lease(wh_settings))
    dispatcher.run_once()

    [row] = deliveries(wh_db, event_id)
    assert (row.status, row.attempts) == ("delivered", 2)


def test_events_of_no_app_or_an_app_without_endpoints_are_marked_dispatched(
    wh_db: Database, wh_clock: ShiftedClock
) -> None:
    lonely = new_app(wh_db)
    ids = [emit_event(wh_db, None), emit_event(wh_db, lonely)]

    unit_of_work(wh_db, lambda s: service.fan_out(s, wh_clock.now()))

    def undispatched(session: object) -> list[object]:
        return list(
            session.execute(  # type: ignore[attr-defined]
                select(OutboxEvent.id).where(
                    OutboxEvent.id.in_(ids), OutboxEvent.dispatched_at.is_(None)
                )
            ).scalars()
        )

    assert unit_of_work(wh_db, undispatched) == []


def test_an_endpoint_on_a_non_public_address_is_never_sent_to(
    wh_db: Database, wh_settings: Settings, wh_clock: ShiftedClock, receiver: Receiver
) -> None:
    """Outside development, the dispatcher will not aim at the bank's own network, however
    the host is spelled (here `localhost`, a name registration cannot judge by itself)."""
    guarded = Dispatcher(
        wh_db, wh_settings.model_copy(update={"webhook_allow_private_targets": False}), wh_clock
    )
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url.replace("127.0.0.1", "localhost"))
    event_id = emit_event(wh_db, app_id)
    try:
        guarded.run_once()
    finally:
        guarded.close()

    assert receiver.requests == []
    [row] = deliveries(wh_db, event_id)
    assert row.last_error is not None
    assert "non-public address" in row.last_error
