"""Run the API in N worker processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's own `--workers` shares one listening socket: the worker that wakes first accepts
every pending connection, so clients that connect in a burst (a proxy's keep-alive pool, a
load test) all land on one worker. With a socket per worker the kernel spreads connections.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from types import FrameType

import structlog

log = structlog.get_logger(__name__)

APP = "openbank.api:create_app"


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(host: str, port: int, access_log: bool) -> None:
    import uvicorn

    config = uvicorn.Config(APP, factory=True, access_log=access_log, log_level="warning")
    uvicorn.Server(config).run(sockets=[_listening_socket(host, port)])


def run(host: str, port: int, workers: int, access_log: bool) -> None:
    """Start `workers` processes and keep them running until SIGINT or SIGTERM."""
    if workers == 1:
        _worker(host, port, access_log)
        return
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port, access_log), daemon=True)
        process.start()
        return process

    processes = [start() for _ in range(workers)]
    while not stopping:
        time.sleep(0.2)
        for index, process in enumerate(processes):
            if not process.is_alive() and not stopping:
                log.warning("server.worker_restarted", exitcode=process.exitcode)
                processes[index] = start()
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
