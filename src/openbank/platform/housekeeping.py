"""The platform's periodic chores, run by every API process but by one at a time (an
advisory lock): consents past their expiry are marked expired (with their events), partner
idempotency keys older than 24 h and expired OAuth tokens are purged."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass

import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session

from openbank.core.clock import Clock
from openbank.core.database import Database, unit_of_work
from openbank.platform.consents import service as consents
from openbank.platform.gateway import service as gateway
from openbank.platform.oauth import service as oauth

log = structlog.get_logger(__name__)
LOCK_KEY = 7243113  # advisory lock: one process does a round at a time


@dataclass(frozen=True, slots=True)
class Chores:
    consents_expired: int
    idempotency_keys_purged: int
    oauth_rows_purged: int


def run_once(db: Database, clock: Clock) -> Chores | None:
    """One round of chores; None when another process holds the lock."""

    def work(session: Session) -> Chores | None:
        if not session.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}
        ).scalar():
            return None
        now = clock.now()
        return Chores(
            consents_expired=consents.expire_due(session, now),
            idempotency_keys_purged=gateway.purge_idempotency(
                session, now, keep_hours=db.settings.gateway_idempotency_hours
            ),
            oauth_rows_purged=oauth.purge_expired(session, now),
        )

    return unit_of_work(db, work)


def run_forever(db: Database, clock: Clock, stop: threading.Event) -> None:
    """Every `housekeeping_seconds` until `stop` (not at all when it is 0)."""
    interval = db.settings.housekeeping_seconds
    if interval <= 0:
        return
    while not stop.wait(interval):
        try:
            chores = run_once(db, clock)
            if chores is not None and any(asdict(chores).values()):
                log.info("platform.housekeeping", **asdict(chores))
        except Exception:
            log.exception("platform.housekeeping_failed")
