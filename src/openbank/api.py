"""The FastAPI application: composes every context's router."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI

import openbank
from openbank.core.clock import Clock, get_clock
from openbank.core.database import Database, connect, unit_of_work
from openbank.core.http import OperatorIdentity, RequestIdMiddleware, install_problem_handlers
from openbank.core.logging import configure_logging
from openbank.core.settings import Settings, get_settings
from openbank.customers.api import router as customers_router
from openbank.ledger import service as ledger
from openbank.ledger.api import router as ledger_router
from openbank.ledger.writer import LedgerWriter
from openbank.lending.api import router as lending_router
from openbank.payments import housekeeping as payments_housekeeping
from openbank.payments.api import router as payments_router
from openbank.payments.checkout.api import router as checkout_router
from openbank.payments.flow_api import router as payment_flow_router
from openbank.payments.settlement_api import router as settlement_router
from openbank.platform import housekeeping
from openbank.platform import service as platform
from openbank.platform.acquiring.api import router as acquiring_router
from openbank.platform.api import router as platform_router
from openbank.platform.consents.api import router as consents_router
from openbank.platform.gateway.api import router as gateway_router
from openbank.platform.gateway.audit import ApiAuditMiddleware, AuditWriter
from openbank.platform.oauth.api import router as oauth_router
from openbank.platform.onboarding.api import router as onboarding_router
from openbank.platform.signed.api import router as signed_router
from openbank.platform.signin.api import router as signin_router
from openbank.platform.webhooks.api import router as webhooks_router
from openbank.platform.webhooks.dispatcher import Dispatcher as WebhookDispatcher

log = structlog.get_logger(__name__)


def _sweep_expired_pending(
    db: Database, writer: LedgerWriter, clock: Clock, stop: threading.Event
) -> None:
    """Release expired pending transfers through the writer, every few hundred milliseconds."""
    while not stop.wait(db.settings.pending_sweep_seconds):
        try:
            due = unit_of_work(db, lambda s: ledger.due_pending_transfers(s, clock.now()))
            if due:
                ledger.submit(writer, ledger.expiry_commands(due)).result()
                log.info("ledger.pending_expired", count=len(due))
        except Exception:
            log.exception("ledger.expiry_sweep_failed")


def _operator_for_token(app: FastAPI, token: str) -> OperatorIdentity | None:
    clock: Clock = app.state.clock
    found = unit_of_work(app.state.db, lambda s: platform.operator_for_token(s, token, clock.now()))
    if found is None:
        return None
    return OperatorIdentity(
        username=found.username, roles=frozenset(found.roles), operator_id=found.id
    )


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    clock = clock or get_clock()
    configure_logging(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings)
        writer = LedgerWriter(
            lambda: connect(settings), clock, max_batch=settings.ledger_batch_max
        ).start()
        stop = threading.Event()
        sweeper = threading.Thread(
            target=_sweep_expired_pending,
            args=(db, writer, clock, stop),
            name="pending-expiry",
            daemon=True,
        )
        sweeper.start()
        webhooks = WebhookDispatcher(db, settings, clock).start()
        chores = threading.Thread(
            target=housekeeping.run_forever,
            args=(db, clock, stop),
            name="platform-housekeeping",
            daemon=True,
        )
        chores.start()
        acquiring_chores = threading.Thread(
            target=payments_housekeeping.run_forever,
            args=(db, clock, stop),
            name="payments-housekeeping",
            daemon=True,
        )
        acquiring_chores.start()
        app.state.db = db
        app.state.ledger_writer = writer
        app.state.audit_writer = AuditWriter(settings).start()
        log.info("api.started", version=openbank.__version__)
        try:
            yield
        finally:
            stop.set()
            sweeper.join(timeout=5)
            chores.join(timeout=5)
            acquiring_chores.join(timeout=5)
            app.state.audit_writer.stop()  # writes the buffered audit rows
            webhooks.stop()
            writer.stop()
            db.dispose()

    app = FastAPI(
        title="openbank",
        version=openbank.__version__,
        summary="Open-banking platform: ledger, e-accounts and open APIs for partner platforms.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.operator_lookup = lambda token: _operator_for_token(app, token)
    install_problem_handlers(app)
    # Added first, so it runs inside RequestIdMiddleware and sees the interaction id.
    app.add_middleware(ApiAuditMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(ledger_router)
    app.include_router(customers_router)
    app.include_router(lending_router)
    app.include_router(payments_router)
    app.include_router(checkout_router)
    app.include_router(payment_flow_router)
    app.include_router(settlement_router)
    app.include_router(platform_router)
    app.include_router(oauth_router)
    app.include_router(consents_router)
    app.include_router(gateway_router)
    app.include_router(webhooks_router)
    app.include_router(signed_router)
    app.include_router(onboarding_router)
    app.include_router(acquiring_router)
    app.include_router(signin_router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
