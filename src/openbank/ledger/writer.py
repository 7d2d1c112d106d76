"""Group commit for the ledger: one thread per process turns concurrent requests into batches.

Requests arriving while a batch is being written wait in a queue and go out together in the
next transaction, so the cost of a commit (and of a hot account's row lock) is shared by every
request in the batch. A request's own commands never straddle two batches, so a linked batch
still succeeds or fails as a whole.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
import structlog

from openbank.core.clock import Clock
from openbank.core.database import RETRYABLE
from openbank.ledger.engine import Outcome, TransferCommand, apply_batch

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class _Request:
    commands: Sequence[TransferCommand]
    future: Future[list[Outcome]] = field(default_factory=Future)


_STOP = object()


class LedgerWriter:
    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        clock: Clock,
        max_batch: int = 2000,
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._conn: psycopg.Connection[Any] | None = None
        self.batches = 0
        self.transfers = 0

    def start(self) -> LedgerWriter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=10)

    def submit(self, commands: Sequence[TransferCommand]) -> Future[list[Outcome]]:
        """Queue one request's commands; the future resolves once they are committed."""
        if commands and commands[-1].linked:
            # A chain ends with its request: never link into the next request in the batch.
            commands = [*commands[:-1], replace(commands[-1], linked=False)]
        request = _Request(commands)
        self._queue.put(request)
        return request.future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            assert isinstance(first, _Request)
            requests = [first]
            size = len(first.commands)
            while size < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                assert isinstance(more, _Request)
                requests.append(more)
                size += len(more.commands)
            self._write(requests)
        if self._conn is not None:
            self._conn.close()

    def _write(self, requests: list[_Request]) -> None:
        commands = [c for r in requests for c in r.commands]
        try:
            outcomes = self._commit(commands)
        except Exception as exc:
            if len(requests) > 1:
                # Keep one bad request from failing its neighbours: write each on its own.
                log.warning("ledger_writer.batch_split", requests=len(requests), error=repr(exc))
                for request in requests:
                    self._write([request])
                return
            log.exception("ledger_writer.request_failed", transfers=len(commands))
            requests[0].future.set_exception(exc)
            return
        self.batches += 1
        self.transfers += len(commands)
        start = 0
        for request in requests:
            end = start + len(request.commands)
            request.future.set_result(outcomes[start:end])
            start = end

    def _commit(self, commands: list[TransferCommand]) -> list[Outcome]:
        for attempt in range(1, 9):
            conn = self._connection()
            try:
                outcomes = apply_batch(conn, commands, self._clock.now())
                conn.commit()
                return outcomes
            except RETRYABLE as exc:
                conn.rollback()
                log.info("ledger_writer.retry", attempt=attempt, reason=type(exc).__name__)
            except psycopg.OperationalError:
                # The connection broke (server restart): reconnect and try the batch again.
                self._drop_connection()
                if attempt >= 3:
                    raise
            except Exception:
                conn.rollback()
                raise
        raise RuntimeError("ledger batch kept conflicting with concurrent writers")

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
