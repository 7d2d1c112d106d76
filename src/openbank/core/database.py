"""PostgreSQL, always: a configured server, or a private one from the `pgserver` wheel.

Service functions take a SQLAlchemy `Session`; the unit of work (`unit_of_work`) commits it
once and retries the whole work on a deadlock or serialization failure, so those never reach
a client. Hot paths that want plain psycopg use `Session.connection()` of the same transaction.
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import errors as pg_errors
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from openbank.core.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")


class Base(DeclarativeBase):
    """Declarative base shared by every context's models (one metadata, one migration chain)."""


_embedded_lock = threading.Lock()
_embedded: dict[str, Any] = {}


def embedded_server(settings: Settings) -> Any:
    """Start (or join) the private PostgreSQL under OPENBANK_HOME; data survives across runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR in containers
        import pgserver

    pgdata = settings.home / "pgdata"
    key = str(pgdata)
    with _embedded_lock:
        if key not in _embedded:
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            log.debug("embedded_postgres.starting", pgdata=key)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _embedded[key] = pgserver.get_server(pgdata)  # type: ignore[attr-defined]
        return _embedded[key]


def libpq_url(settings: Settings) -> str:
    """The database URL in libpq form (for psycopg, psql, pgbench)."""
    if settings.database_url:
        url = settings.database_url
        for prefix in ("postgresql+psycopg://", "postgres://"):
            if url.startswith(prefix):
                url = "postgresql://" + url[len(prefix) :]
        return url
    return str(embedded_server(settings).get_uri())


def sqlalchemy_url(settings: Settings) -> str:
    return "postgresql+psycopg://" + libpq_url(settings).removeprefix("postgresql://")


# psycopg prepares a statement after five runs; a generic plan for `id = ANY($1)` chosen while
# a table is small is a sequential scan, and it would stay cached as the table grows. Custom
# plans keep the saved parse and plan each run with the real array.
SESSION_OPTIONS = "-c plan_cache_mode=force_custom_plan"


def make_engine(settings: Settings) -> Engine:
    return create_engine(
        sqlalchemy_url(settings),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=True,
        connect_args={"application_name": "openbank", "options": SESSION_OPTIONS},
    )


def connect(settings: Settings, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A plain psycopg connection (the ledger writer keeps one of these for itself)."""
    return psycopg.connect(
        libpq_url(settings),
        autocommit=autocommit,
        application_name="openbank",
        options=SESSION_OPTIONS,
    )


def _with_database(url: str, name: str) -> str:
    base, sep, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (sep + query if sep else "")


def create_database(server_url: str, prefix: str = "openbank") -> str:
    """A new, empty database on the server of `server_url` (tests, benchmarks); its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database of `url`, disconnecting whoever still uses it."""
    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Database:
    """The engine and session factory of one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = libpq_url(settings)
        self.engine = make_engine(settings)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._side_engines: dict[str, Engine] = {}
        self._side_lock = threading.Lock()

    def side_engine(self, name: str, pool_size: int, options: str = "") -> Engine:
        """A small autocommit engine of its own for a hot path that runs one or two short
        statements per call (the partner resource check, the rate limiter): no BEGIN/COMMIT
        and no pre-ping round trips (a dropped connection is retried by the caller). Made on
        first use, disposed with the database."""
        engine = self._side_engines.get(name)
        if engine is not None:
            return engine
        with self._side_lock:
            engine = self._side_engines.get(name)
            if engine is None:
                size = min(pool_size, self.settings.db_pool_size)
                engine = create_engine(
                    sqlalchemy_url(self.settings),
                    pool_size=size,
                    max_overflow=size,
                    isolation_level="AUTOCOMMIT",
                    pool_reset_on_return=None,
                    connect_args={
                        "application_name": f"openbank-{name}",
                        "options": f"{SESSION_OPTIONS} {options}".strip(),
                    },
                )
                self._side_engines[name] = engine
            return engine

    def dispose(self) -> None:
        with self._side_lock:
            for engine in self._side_engines.values():
                engine.dispose()
            self._side_engines.clear()
        self.engine.dispose()


class RetryableConflict(Exception):
    """A concurrent transaction won a race; running the same work again resolves it."""


RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, RetryableConflict)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError):
        exc = exc.orig  # type: ignore[assignment]
    return isinstance(exc, RETRYABLE)


def retrying(work: Callable[[], T], attempts: int = 8) -> T:
    """Run `work`, retrying it on deadlock/serialization failure with a short jittered backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if not is_retryable(exc) or attempt == attempts:
                raise
            log.warning("database.retry", attempt=attempt, error=type(exc).__name__)
            time.sleep(0.002 * attempt * attempt)
    raise AssertionError("unreachable")


@contextmanager
def session_scope(db: Database) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with db.sessions() as session, session.begin():
        yield session


def unit_of_work(db: Database, work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction, retried whole on deadlock or serialization failure."""

    def attempt() -> T:
        with session_scope(db) as session:
            return work(session)

    return retrying(attempt)
