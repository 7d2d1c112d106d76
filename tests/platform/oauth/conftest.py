"""The authorization server's tests run against an app with a clock of their own, so they
can move time forward (code, request_uri and token expiry) without shifting the clock the
rest of the suite shares, and so proofs made with real time (Authlib) stay fresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from openbank.api import create_app
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.conftest import AUTH, BASE_URL
from tests.platform.support import PartnerApp
from tests.platform.support import create_app as create_partner_app


@pytest.fixture(scope="package")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="package")
def client(db: Database, settings: Settings, clock: ShiftedClock) -> Iterator[TestClient]:
    app = create_app(settings, clock)
    with TestClient(app, headers=AUTH, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def app(client: TestClient) -> PartnerApp:
    """A sandbox app of a new partner, subscribed to e-accounts, payments and lending."""
    return create_partner_app(client, products=("e_accounts", "payments", "lending"))
