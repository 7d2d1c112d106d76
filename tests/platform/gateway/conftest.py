"""A gateway test app: the real application (create_app) plus a test-only router under
/v1/open/test/... that stands in for a partner endpoint: it sets request.state.partner_call
as the authentication dependency would, counts the call against the rate limit, and runs a
partner POST through partner_idempotent_post. It has a clock of its own, so tests here can
move time forward without disturbing other modules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy.orm import Session

from openbank.api import create_app
from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.errors import NotFound
from openbank.core.http import ClockDep, DatabaseDep, IdempotencyKey
from openbank.core.settings import Settings
from openbank.platform.gateway import audit
from openbank.platform.gateway import service as gateway
from openbank.platform.principal import PartnerCall
from tests.conftest import AUTH, BASE_URL

router = APIRouter()


@dataclass
class Caller:
    """Who the test router pretends authenticated (query parameters of each request)."""

    app_id: uuid.UUID
    partner_id: uuid.UUID
    customer_id: uuid.UUID | None = None
    consent_id: uuid.UUID | None = None

    def params(self, product: str = "e_accounts") -> dict[str, str]:
        params = {"app_id": str(self.app_id), "partner_id": str(self.partner_id)}
        if self.customer_id is not None:
            params["customer_id"] = str(self.customer_id)
        if self.consent_id is not None:
            params["consent_id"] = str(self.consent_id)
        params["product"] = product
        return params


def _authenticate(request: Request) -> PartnerCall:
    query = request.query_params
    call = PartnerCall(
        app_id=uuid.UUID(query["app_id"]),
        partner_id=uuid.UUID(query["partner_id"]),
        environment="sandbox",
        scopes=frozenset({"accounts"}),
        channel="oauth",
        customer_id=uuid.UUID(query["customer_id"]) if "customer_id" in query else None,
        consent_id=uuid.UUID(query["consent_id"]) if "consent_id" in query else None,
    )
    request.state.partner_call = call
    return call


class Thing(BaseModel):
    name: str


class Created(BaseModel):
    id: uuid.UUID
    name: str


@router.get("/v1/open/test/things/{thing_id}")
def read_thing(thing_id: str, request: Request, db: DatabaseDep, clock: ClockDep) -> Thing:
    call = _authenticate(request)
    gateway.enforce_rate_limit(db, call.app_id, request.query_params["product"], clock.now())
    if thing_id == "missing":
        raise NotFound("no such thing")
    if thing_id == "boom":
        raise RuntimeError("an unexpected failure")
    return Thing(name=thing_id)


@router.post("/v1/open/test/things", status_code=201)
def create_thing(
    body: Thing,
    request: Request,
    response: Response,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    call = _authenticate(request)

    def work(session: Session) -> Created:
        return Created(id=uuid.uuid4(), name=body.name)

    return gateway.partner_idempotent_post(
        db, request, response, call, idempotency_key, body, 201, work
    )


@pytest.fixture(scope="session")
def gateway_clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="session")
def gateway_app(db: Database, settings: Settings, gateway_clock: ShiftedClock) -> FastAPI:
    app = create_app(settings, gateway_clock)
    app.include_router(router)
    return app


@pytest.fixture(scope="session")
def gw(gateway_app: FastAPI) -> Iterator[TestClient]:
    """A client of the gateway test app, sending the bootstrap admin token."""
    with TestClient(
        gateway_app, headers=AUTH, base_url=BASE_URL, raise_server_exceptions=False
    ) as test_client:
        yield test_client


@pytest.fixture
def caller() -> Caller:
    """A fresh caller (ids not in any table: the audit log and buckets need none)."""
    return Caller(
        app_id=uuid.uuid4(),
        partner_id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        consent_id=uuid.uuid4(),
    )


def flush_audit(client: TestClient) -> None:
    audit.flush(client.app)


def search(client: TestClient, **params: Any) -> Any:
    flush_audit(client)
    response = client.get("/v1/audit/api-calls", params=params)
    assert response.status_code == 200, response.text
    return response.json()
