"""Webhook test helpers: a real HTTP receiver on 127.0.0.1 that records what it gets, and
apps, endpoints and events made through the services."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

from sqlalchemy import select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.outbox import emit
from openbank.platform import service as platform
from openbank.platform.principal import PartnerCall
from openbank.platform.schemas import AppCreate, PartnerCreate
from openbank.platform.webhooks import service
from openbank.platform.webhooks.models import WebhookDelivery
from openbank.platform.webhooks.schemas import Endpoint, EndpointCreate
from tests.customers.helpers import PHONE, credit_code
from tests.platform.support import new_key, public_jwks

T = TypeVar("T")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A partner's webhook server: answers with the scripted status codes (then 200),
    optionally after a delay, and records every request."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    always: int = 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else self.always

    def record(self, received: Received) -> None:
        with self.lock:
            self.requests.append(received)

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")


def receiver_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            receiver.record(Received(self.path, dict(self.headers.items()), body))
            if receiver.delay:
                time.sleep(receiver.delay)
            code = receiver.answer()
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def new_app(db: Database, environment: str = "sandbox") -> uuid.UUID:
    """An active app of a new active partner, made through platform.service."""

    def work(session: Any) -> uuid.UUID:
        now = ShiftedClock().now()
        partner = platform.create_partner(
            session,
            PartnerCreate(
                legal_name="测试平台有限公司",
                unified_social_credit_code=credit_code(),
                contact_name="李四",
                contact_email="dev@partner.example",
                contact_phone=PHONE,
            ),
            now,
        )
        app = platform.create_app(
            session,
            partner.id,
            AppCreate(
                name="测试应用",
                environment=environment,
                redirect_uris=["https://partner.example/callback"],
                jwks=public_jwks(new_key()),
                products=["e_accounts"],
            ),
            now,
        )
        return app.id

    return unit_of_work(db, work)


def add_endpoint(
    db: Database, app_id: uuid.UUID, url: str, event_types: tuple[str, ...] = ("*",)
) -> Endpoint:
    spec = EndpointCreate(url=url, event_types=list(event_types))
    return unit_of_work(
        db, lambda s: service.create_endpoint(s, app_id, spec, ShiftedClock().now())
    )


def emit_event(
    db: Database,
    app_id: uuid.UUID | None,
    event_type: str = "e_account.top_up.completed",
    payload: dict[str, Any] | None = None,
) -> uuid.UUID:
    """An event committed in its own transaction, as a service would emit it."""
    data = payload or {"e_account_id": str(uuid.uuid4()), "amount": 10_000}
    return unit_of_work(
        db,
        lambda s: emit(
            s,
            event_type,
            f"e-accounts/{data.get('e_account_id')}",
            data,
            ShiftedClock().now(),
            app_id,
        ),
    )


def deliveries(db: Database, event_id: uuid.UUID) -> list[WebhookDelivery]:
    """The event's delivery rows (this package's own table), oldest first."""

    def work(session: Any) -> list[WebhookDelivery]:
        rows = session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.event_id == event_id)
            .order_by(WebhookDelivery.id)
        ).scalars()
        return list(rows)

    return unit_of_work(db, work)


def partner_call(app_id: uuid.UUID) -> PartnerCall:
    """What a client_credentials token of the app resolves to."""
    return PartnerCall(
        app_id=app_id,
        partner_id=uuid.uuid4(),
        environment="sandbox",
        scopes=frozenset(),
        channel="oauth",
    )


def eventually(check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll `check` until it returns something (the API process's dispatcher works in the
    background, every webhook_poll_seconds, through every test's outbox events: with
    acquiring's events in the shared test database a full run once took more than 15 s)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
