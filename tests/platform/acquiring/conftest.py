from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from tests.platform.consents.support import Bank


@pytest.fixture
def bank(db: Database, settings: Settings, clock: ShiftedClock, client: TestClient) -> Bank:
    return Bank(db, settings, clock, client)
