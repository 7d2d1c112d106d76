"""`openbank serve --workers 2`: a socket per worker, a supervisor that keeps them running."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx

from tests.e2e.conftest import Server


def _workers(supervisor: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(supervisor)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    children = [int(pid) for pid in out.split()]
    # multiprocessing's resource tracker is a child too; workers are the ones holding the port
    return [pid for pid in children if "spawn_main" in _cmdline(pid)]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _wait_for(condition: object, limit_s: float = 60.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_that_dies_is_replaced_and_the_api_keeps_answering(
    stopped_server: Server,
) -> None:
    stopped_server.start()
    assert stopped_server.process is not None
    supervisor = stopped_server.process.pid
    assert _wait_for(lambda: len(_workers(supervisor)) == 2)
    victim = _workers(supervisor)[0]

    os.kill(victim, signal.SIGKILL)

    assert _wait_for(lambda: len(_workers(supervisor)) == 2 and victim not in _workers(supervisor))
    assert _wait_for(lambda: httpx.get(f"{stopped_server.url}/healthz").status_code == 200)


def test_sigterm_stops_the_supervisor_and_every_worker(stopped_server: Server) -> None:
    stopped_server.start()
    assert stopped_server.process is not None
    supervisor = stopped_server.process.pid
    assert _wait_for(lambda: len(_workers(supervisor)) == 2)
    workers = _workers(supervisor)

    stopped_server.process.send_signal(signal.SIGTERM)

    assert stopped_server.process.wait(timeout=30) == 0
    assert _wait_for(lambda: not any(_cmdline(pid) for pid in workers), limit_s=15)
