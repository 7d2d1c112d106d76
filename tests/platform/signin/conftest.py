"""Fixtures of the sign-in tests: an app that serves the sign-in router (the lead includes it
in `openbank.api`; until then it is added here), and a cookie jar cleared for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import openbank.platform.signin.models  # noqa: F401  (the metadata knows the tables)
from openbank.api import create_app
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.platform.signin.api import router as signin_router
from tests.conftest import AUTH, BASE_URL


def signin_app(settings: Settings, clock: ShiftedClock) -> FastAPI:
    app = create_app(settings, clock)
    if not any(getattr(route, "path", None) == "/oauth2/authorize" for route in app.routes):
        app.include_router(signin_router)
    return app


@pytest.fixture(scope="session")
def signin_client(db: Database, settings: Settings, clock: ShiftedClock) -> Iterator[TestClient]:
    """Operator calls carry the bootstrap token; redirects are not followed, so tests see
    where the pages send the browser."""
    with TestClient(
        signin_app(settings, clock), headers=AUTH, base_url=BASE_URL, follow_redirects=False
    ) as client:
        yield client


@pytest.fixture
def web(signin_client: TestClient) -> TestClient:
    """The same client with an empty cookie jar: a fresh browser."""
    signin_client.cookies.clear()
    return signin_client
