"""`openbank webhooks ...` run as a real process against the package's database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.platform.webhooks.dispatcher import Dispatcher
from tests.conftest import ADMIN_TOKEN
from tests.platform.webhooks.conftest import MAX_ATTEMPTS
from tests.platform.webhooks.helpers import (
    Receiver,
    add_endpoint,
    deliveries,
    emit_event,
    new_app,
)


def webhooks(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OPENBANK_DATABASE_URL": str(settings.database_url),
        "OPENBANK_ADMIN_TOKEN": ADMIN_TOKEN,
        "OPENBANK_WEBHOOK_TIMEOUT_SECONDS": "0.5",
        "OPENBANK_WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the receiver is on 127.0.0.1
    }
    return subprocess.run(
        [sys.executable, "-m", "openbank.platform.webhooks.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dispatch_once_delivers_what_is_due(
    wh_db: Database, wh_settings: Settings, receiver: Receiver
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    event_id = emit_event(wh_db, app_id)

    result = webhooks(wh_settings, "dispatch", "--once", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["events"] >= 1
    assert report["delivered"] >= 1
    assert [r.headers["X-Openbank-Event-Id"] for r in receiver.requests] == [str(event_id)]
    assert deliveries(wh_db, event_id)[0].status == "delivered"


def test_dead_letters_are_listed_and_replayed(
    wh_db: Database,
    wh_settings: Settings,
    dispatcher: Dispatcher,
    wh_clock: ShiftedClock,
    receiver: Receiver,
) -> None:
    app_id = new_app(wh_db)
    add_endpoint(wh_db, app_id, receiver.url)
    receiver.always = 500
    event_id = emit_event(wh_db, app_id)
    for _ in range(MAX_ATTEMPTS):
        dispatcher.run_once()
        wh_clock.advance(timedelta(seconds=wh_settings.webhook_max_retry_seconds))
    [dead] = deliveries(wh_db, event_id)

    listed = webhooks(wh_settings, "dead-letters", "--app-id", str(app_id), "--json")
    replayed = webhooks(wh_settings, "replay", str(dead.id), "--json")

    assert listed.returncode == 0, listed.stderr
    assert [d["id"] for d in json.loads(listed.stdout)] == [str(dead.id)]
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout) == {"replayed": [str(dead.id)]}
    [row] = deliveries(wh_db, event_id)
    assert (row.status, row.attempts) == ("pending", 0)


def test_replay_needs_a_delivery_or_all_dead(wh_settings: Settings) -> None:
    result = webhooks(wh_settings, "replay")

    assert result.returncode == 2
