"""Test fixtures: a real PostgreSQL (the embedded one, or OPENBANK_TEST_DATABASE_URL) with a
fresh database per test session (per xdist worker), migrated to head."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbank.api import create_app
from openbank.core import database
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, drop_database, embedded_server
from openbank.core.migrate import upgrade
from openbank.core.settings import Settings

ADMIN_TOKEN = "test-admin-token"
# The bank's public URL in tests, and the base URL of every test client: OAuth audiences and
# DPoP proofs name endpoints as published, never as a request's Host header says.
BASE_URL = "http://127.0.0.1:8000"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _server_url() -> str:
    url = os.environ.get("OPENBANK_TEST_DATABASE_URL")
    if url:
        return url
    home = Path(tempfile.gettempdir()) / "openbank-tests"
    return str(embedded_server(Settings(home=home)).get_uri())


def create_database(server_url: str) -> str:
    return database.create_database(server_url, "openbank_test")


def make_settings(url: str, **overrides: Any) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        public_url=overrides.pop("public_url", BASE_URL),
        # Test receivers listen on 127.0.0.1; one test turns this off to see the refusal.
        webhook_allow_private_targets=overrides.pop("webhook_allow_private_targets", True),
        # Test apps run on clocks of their own over one database: a chore run on a clock far
        # ahead would expire or purge what other tests just made (housekeeping is tested by
        # calling it).
        housekeeping_seconds=overrides.pop("housekeeping_seconds", 0),
        home=Path(tempfile.gettempdir()) / "openbank-tests",
        **overrides,
    )


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    url = create_database(server_url)
    yield url
    drop_database(server_url, url)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return make_settings(database_url, pending_sweep_seconds=0.1)


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="session")
def client(db: Database, settings: Settings, clock: ShiftedClock) -> Iterator[TestClient]:
    app = create_app(settings, clock)
    with TestClient(app, headers=AUTH, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def fresh_db(server_url: str) -> Iterator[Database]:
    """A database of its own, for tests that must see (or break) the whole ledger."""
    url = create_database(server_url)
    database = Database(make_settings(url))
    upgrade(database.engine)
    yield database
    database.dispose()
    drop_database(server_url, url)
