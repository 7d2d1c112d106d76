"""Webhook fixtures: a database of the package's own (no API process runs a dispatcher on
it, so tests drive the dispatcher pass by pass with their own clock) and a receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, drop_database
from openbank.core.migrate import upgrade
from openbank.core.settings import Settings
from openbank.platform.webhooks.dispatcher import Dispatcher
from tests.conftest import create_database, make_settings
from tests.platform.webhooks.helpers import Receiver, receiver_handler

MAX_ATTEMPTS = 3


class ReceiverServer(ThreadingHTTPServer):
    request_queue_size = 128  # two dispatchers send 16 requests at once


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ReceiverServer(("127.0.0.1", 0), receiver_handler(found))
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="package")
def wh_settings(server_url: str) -> Iterator[Settings]:
    url = create_database(server_url)
    yield make_settings(
        url,
        webhook_max_attempts=MAX_ATTEMPTS,
        webhook_first_retry_seconds=10,
        webhook_max_retry_seconds=60,
        webhook_timeout_seconds=0.5,
        webhook_poll_seconds=0.05,
    )
    drop_database(server_url, url)


@pytest.fixture(scope="package")
def wh_db(wh_settings: Settings) -> Iterator[Database]:
    database = Database(wh_settings)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def wh_clock() -> ShiftedClock:
    """A clock of the test's own: time moves only for this test's deliveries."""
    return ShiftedClock()


@pytest.fixture
def dispatcher(
    wh_db: Database, wh_settings: Settings, wh_clock: ShiftedClock
) -> Iterator[Dispatcher]:
    found = Dispatcher(wh_db, wh_settings, wh_clock)
    yield found
    found.close()
