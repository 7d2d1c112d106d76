"""Acquiring's periodic chore, run by every API process (rows another process is handling are
skipped): unpaid orders past their expiry close, authorizations past their hold are marked
voided, each with its webhook."""

from __future__ import annotations

import threading

import structlog

from openbank.core.clock import Clock
from openbank.core.database import Database, unit_of_work
from openbank.payments import service

log = structlog.get_logger(__name__)


def run_once(db: Database, clock: Clock) -> int:
    """Close what is due, a thousand orders a transaction; returns how many changed."""
    total = 0
    while True:
        changed = unit_of_work(
            db, lambda s: service.close_expired_orders(s, clock.now(), db.settings)
        )
        total += changed
        if changed < 1000:
            return total


def run_forever(db: Database, clock: Clock, stop: threading.Event) -> None:
    """Every `housekeeping_seconds` until `stop` (not at all when it is 0)."""
    interval = db.settings.housekeeping_seconds
    if interval <= 0:
        return
    while not stop.wait(interval):
        try:
            closed = run_once(db, clock)
            if closed:
                log.info("payments.orders_closed", count=closed)
        except Exception:
            log.exception("payments.housekeeping_failed")
