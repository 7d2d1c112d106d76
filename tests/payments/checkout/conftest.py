"""Fixtures of the checkout tests: the app on a clock of its own, so tests can let orders
expire without moving the time of anyone else's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openbank.api import create_app
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.conftest import AUTH, BASE_URL


@pytest.fixture(scope="session")
def checkout_clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="session")
def checkout_client(
    db: Database, settings: Settings, checkout_clock: ShiftedClock
) -> Iterator[TestClient]:
    """Operator calls carry the bootstrap token; redirects are not followed, so tests see
    where the pages send the browser."""
    with TestClient(
        create_app(settings, checkout_clock),
        headers=AUTH,
        base_url=BASE_URL,
        follow_redirects=False,
    ) as client:
        yield client


@pytest.fixture
def web(checkout_client: TestClient) -> TestClient:
    """The same client with an empty cookie jar: a fresh browser."""
    checkout_client.cookies.clear()
    return checkout_client
