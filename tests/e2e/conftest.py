"""A real `openbank serve` process (two workers) on a database of its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from openbank.core.database import Database, drop_database
from openbank.ledger import service
from openbank.ledger.schemas import VerifyReport
from tests.conftest import ADMIN_TOKEN, AUTH, BASE_URL, create_database, make_settings

STARTUP_LIMIT_S = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One `openbank serve --workers 2` process group; `kill` is SIGKILL to all of it."""

    database_url: str
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "OPENBANK_DATABASE_URL": self.database_url,
            "OPENBANK_ADMIN_TOKEN": ADMIN_TOKEN,
            # Every process answers for one public URL, as behind a load balancer.
            "OPENBANK_PUBLIC_URL": BASE_URL,
            "OPENBANK_HOME": str(self.log.parent / "home"),
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "openbank.cli", "serve", "--host", "127.0.0.1"),
                    *("--port", str(self.port), "--workers", "2"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill reaches the workers too
            )
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_LIMIT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"openbank serve exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"openbank serve did not answer /healthz:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL the supervisor and its workers at once, as a crash or `kill -9` would."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=AUTH, timeout=timeout)

    def verify(self) -> VerifyReport:
        database = Database(make_settings(self.database_url))
        try:
            return service.verify(database)
        finally:
            database.dispose()


@contextmanager
def serving(server_url: str, log_dir: Path) -> Iterator[Server]:
    """A server on a database of its own; killed and the database dropped on the way out."""
    url = create_database(server_url)
    server = Server(url, free_port(), log_dir / "serve.log")
    try:
        yield server
    finally:
        server.kill()
        drop_database(server_url, url)


@pytest.fixture
def stopped_server(server_url: str, tmp_path: Path) -> Iterator[Server]:
    """A server on a fresh database, not yet started (the test starts, kills, restarts it)."""
    with serving(server_url, tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def running_server(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A started server on a fresh database, shared by a module's tests."""
    with serving(server_url, tmp_path_factory.mktemp("serve")) as server:
        server.start()
        yield server
