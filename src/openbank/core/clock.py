"""Injectable time, so batches, expiries and limit windows are testable without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """Real time plus an offset that only grows: lets tests and drills jump ahead in time."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += delta


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    """The process's clock; tests and drills pass their own clock to `create_app` instead."""
    return _clock


def business_date(at: datetime, tz: ZoneInfo) -> date:
    """The bank's business date of an instant (Asia/Shanghai unless configured)."""
    return at.astimezone(tz).date()
