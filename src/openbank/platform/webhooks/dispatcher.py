"""The webhook dispatcher: outbox -> deliveries -> signed HTTP POSTs to partners.

One runs in every API process (a daemon thread started by the app's lifespan) and
`openbank webhooks dispatch` runs one on its own. Any number may run against one database:
the outbox fan-out and the attempts are claimed with SKIP LOCKED and leased, and no
database transaction is open while a partner's server is being called.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import structlog

from openbank.core.clock import Clock
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.webhooks import service
from openbank.platform.webhooks.service import Attempt, Outcome

log = structlog.get_logger(__name__)

FAN_OUT_BATCH = 200
CLAIM_BATCH = 32
SEND_CONCURRENCY = 8
# Rounds of claims per pass, so a long backlog does not keep a pass (and shutdown) waiting.
MAX_SEND_ROUNDS = 20
_ERROR_LENGTH = 500


@dataclass
class DispatchReport:
    """What one pass did: events fanned out and attempts by outcome."""

    events: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    statuses: list[str] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.delivered + self.failed + self.dead


def _non_public(url: str) -> str | None:
    """Why `url` may not be sent to, or None: its host must resolve to public addresses only
    (names such as `127.1`, `0x7f000001` or a DNS name pointing inside the bank are caught
    here, at send time, where registration could only look at IP literals). A name that
    re-resolves elsewhere between this check and the connection (DNS rebinding) is not
    caught; pinning the connection to the checked address would be the next step."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return "the endpoint's host does not resolve"
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return f"the endpoint's host resolves to a non-public address ({address})"
    return None


class Dispatcher:
    """Fans out the outbox and sends due deliveries; `run_once` for one pass (CLI, tests),
    `start`/`stop` for the background thread of an API process."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        concurrency: int = SEND_CONCURRENCY,
        rng: random.Random | None = None,
        name: str = "webhooks",
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.name = name
        self._rng = rng or random.SystemRandom()
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            follow_redirects=False,  # a redirect is a failed attempt, not a new target
        )
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ---------------------------------------------------------------------------

    def fan_out(self) -> int:
        """Queue deliveries for every committed, undispatched outbox event."""
        total = 0
        while not self._stop.is_set():
            count = unit_of_work(
                self.db, lambda s: service.fan_out(s, self.clock.now(), FAN_OUT_BATCH)
            )
            total += count
            if count < FAN_OUT_BATCH:
                break
        return total

    def send_due(self, report: DispatchReport) -> None:
        """Claim due attempts (committed before sending), send them concurrently, and record
        each outcome in its own short transaction as it comes back."""
        for _ in range(MAX_SEND_ROUNDS):
            if self._stop.is_set():
                return
            attempts = unit_of_work(
                self.db,
                lambda s: service.claim_due(s, self.clock.now(), self.settings, CLAIM_BATCH),
            )
            if not attempts:
                return
            futures = {self._pool.submit(self._send, a): a for a in attempts}
            for future in as_completed(futures):
                self._record(futures[future], future.result(), report)
            if len(attempts) < CLAIM_BATCH:
                return

    def run_once(self) -> DispatchReport:
        report = DispatchReport()
        report.events = self.fan_out()
        self.send_due(report)
        return report

    def _send(self, attempt: Attempt) -> Outcome:
        refusal = None if self.settings.webhook_allow_private_targets else _non_public(attempt.url)
        if refusal is not None:
            return Outcome(status_code=None, error=refusal)
        try:
            # Only the status line matters: the answer's body is never read.
            with self._client.stream(
                "POST", attempt.url, content=attempt.body, headers=attempt.headers
            ) as response:
                return Outcome(status_code=response.status_code, error=None)
        except httpx.TimeoutException:
            return Outcome(status_code=None, error="timeout")
        except httpx.HTTPError as exc:
            return Outcome(status_code=None, error=f"{type(exc).__name__}: {exc}"[:_ERROR_LENGTH])

    def _record(self, attempt: Attempt, outcome: Outcome, report: DispatchReport) -> None:
        status = unit_of_work(
            self.db,
            lambda s: service.record_outcome(
                s, attempt, outcome, self.clock.now(), self.settings, self._rng
            ),
        )
        if status is None:
            return
        report.statuses.append(status)
        if status == "delivered":
            report.delivered += 1
        elif status == "dead":
            report.dead += 1
        else:
            report.failed += 1
        log.info(
            "webhooks.attempt",
            delivery_id=str(attempt.delivery_id),
            event_id=str(attempt.event_id),
            attempt=attempt.number,
            status=status,
            status_code=outcome.status_code,
            error=outcome.error,
        )

    # -- background thread ------------------------------------------------------------------

    def run_forever(self) -> None:
        """Pass after pass, pausing `webhook_poll_seconds` between them, until `stop`."""
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("webhooks.dispatch_failed")
            self._stop.wait(self.settings.webhook_poll_seconds)

    def start(self) -> Dispatcher:
        self._thread = threading.Thread(target=self.run_forever, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish the attempts in flight (each bounded by the timeout), then release the
        HTTP client. Attempts claimed but not sent are retried when their lease ends."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3 * self.settings.webhook_timeout_seconds + 5)
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()
