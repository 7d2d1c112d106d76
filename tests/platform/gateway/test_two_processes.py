"""Rate limit across processes: two real `openbank serve` processes (two workers each) on one
database admit, together, no more than the one limit allows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from openbank.api import create_app
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, drop_database
from openbank.core.migrate import upgrade
from tests.conftest import AUTH, BASE_URL, create_database, make_settings
from tests.e2e.conftest import Server, free_port
from tests.platform.consents.api_support import account_token
from tests.platform.consents.support import Bank
from tests.platform.tokens import Token, auth_headers

pytestmark = pytest.mark.e2e

RATE = 5  # per second
BURST = 10
DURATION_S = 3.0
THREADS = 6
PATH = "/v1/open/accounts"


@dataclass
class Setup:
    database_url: str
    app_id: str
    token: Token


@pytest.fixture
def limited_app(server_url: str) -> Iterator[Setup]:
    """A fresh database with an app limited to RATE/s (burst BURST) for e_accounts, and a
    customer token under an authorised account-access consent."""
    url = create_database(server_url)
    settings = make_settings(url)
    db = Database(settings)
    upgrade(db.engine)
    clock = ShiftedClock()
    try:
        with TestClient(create_app(settings, clock), headers=AUTH, base_url=BASE_URL) as client:
            bank = Bank(db, settings, clock, client)
            app = bank.app()
            holder = bank.holder(accounts=1)
            _, token = account_token(bank, app, holder)
            limits = {"limits": [{"product": "e_accounts", "per_second": RATE, "burst": BURST}]}
            response = client.put(f"/v1/apps/{app.app_id}/rate-limits", json=limits)
            assert response.status_code == 200, response.text
        yield Setup(url, app.app_id, token)
    finally:
        db.dispose()
        drop_database(server_url, url)


def test_two_serve_processes_enforce_one_limit(limited_app: Setup, tmp_path: Path) -> None:
    servers = [
        Server(limited_app.database_url, free_port(), tmp_path / f"serve-{n}.log") for n in range(2)
    ]
    outcomes: list[tuple[int, int, str | None]] = []  # (server, status, Retry-After)
    lock = threading.Lock()
    try:
        for server in servers:
            server.start()

        def fire(thread: int, deadline: float) -> None:
            clients = [httpx.Client(base_url=server.url, timeout=30) for server in servers]
            n = thread
            while time.monotonic() < deadline:
                which = n % 2
                n += 1
                # Proofs name the bank's public URL, whichever process answers.
                response = clients[which].get(
                    PATH, headers=auth_headers(limited_app.token, "GET", BASE_URL + PATH)
                )
                with lock:
                    outcomes.append(
                        (which, response.status_code, response.headers.get("Retry-After"))
                    )
            for client in clients:
                client.close()

        started = time.monotonic()
        threads = [
            threading.Thread(target=fire, args=(n, started + DURATION_S)) for n in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        for server in servers:
            server.kill()

    statuses = {status for _, status, _ in outcomes}
    assert statuses <= {200, 429}, statuses
    admitted = sum(status == 200 for _, status, _ in outcomes)
    refused = [retry for _, status, retry in outcomes if status == 429]
    assert BURST <= admitted <= BURST + RATE * elapsed + 1, (admitted, elapsed, len(outcomes))
    assert refused
    assert all(retry is not None and int(retry) >= 1 for retry in refused)
    for which in (0, 1):  # both processes answered, and both refused: one shared limit
        assert any(server == which and status == 429 for server, status, _ in outcomes)
