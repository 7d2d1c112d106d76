"""Ledger throughput benchmark: openbank's ledger over HTTP against pgbench TPC-B, same server.

    .venv/bin/python bench/ledger_bench.py [--duration 20] [--clients 16] [--workers 2]
                                           [--database-url URL] [--json]

One run, one PostgreSQL server (a private embedded one in a temp dir unless --database-url):

1. Baseline: `pgbench -i -s 16` into a database of its own, then
   `pgbench -c 16 -j 2 -T <duration> -M prepared`; its TPC-B tps is what the ledger is held to.
2. A fresh database and `openbank serve --workers N` on it; 1,000 funded no-overdraft accounts,
   a hot (merchant) account, 20,000 transfers of history, then ANALYZE (as `pgbench -i` does).
   Then over HTTP, each after a short warm-up: (a) single transfers between uniformly random
   pairs at --clients connections, (b) the same where every transfer credits the hot account,
   (c) batches of 1,000 transfers per request at --batch-clients connections. Any response
   other than 201 (or any batch item not "created") is an error.
3. A table of transfers/s, p50/p99 latency per request and the ratios against the targets
   (batched >= 5x pgbench, single >= 0.5x pgbench, hot >= 0.8x uniform, single p99 <= 50 ms),
   where the CPU went, and the result of `openbank ledger verify`.

The default load generator is a Python asyncio client speaking raw keep-alive HTTP/1.1 (on
uvloop), which spreads its connections evenly over the server's workers; `--client wrk` uses
wrk with bench/ledger_wrk.lua instead (lighter, but uvicorn may hand it one worker for all).
Exits 1 when a request failed, the database holds fewer transfers than were acknowledged, or
verify found a problem; a missed performance target is reported, not failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import random
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import psycopg
import structlog
from rich.console import Console
from rich.table import Table

from openbank.core.database import (
    Database,
    create_database,
    drop_database,
    embedded_server,
    libpq_url,
)
from openbank.core.settings import Settings
from openbank.ledger import service as ledger_service

Mode = Literal["single", "hot", "batch"]
T = TypeVar("T")

BATCH_VS_PGBENCH = 5.0
SINGLE_VS_PGBENCH = 0.5
HOT_VS_UNIFORM = 0.8
SINGLE_P99_MS = 50.0

FUNDING_PER_ACCOUNT = 10**12  # fen: far more than any run can spend
LUA_SCRIPT = Path(__file__).with_name("ledger_wrk.lua")
WRK_HINT = "apt-get update && apt-get install -y wrk   (Debian/Ubuntu; brew install wrk on macOS)"

log = Console(stderr=True)


# -- machine and CPU accounting ------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def machine_info() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
    }


def _proc_cpu() -> dict[int, tuple[int, int, float]]:
    """pid -> (ppid, process group, CPU seconds) for every live process.

    The seconds include those of reaped children (cutime, cstime), so a backend that exits in
    a window (pgbench's, at its end) is still counted: in its postmaster once it is reaped.
    """
    out: dict[int, tuple[int, int, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2 :].split()
        ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        out[int(name)] = (int(fields[1]), int(fields[2]), ticks / CLK_TCK)
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK


@dataclass
class CpuSample:
    at: float
    procs: dict[int, tuple[int, int, float]]
    machine_busy: float
    machine_total: float
    children: float
    own: float


class CpuMeter:
    """CPU seconds spent in a window by PostgreSQL, the openbank server, the load generator and
    everything else on the machine (other work that shares it)."""

    def __init__(self) -> None:
        self.postmaster: int | None = None
        self.server_group: int | None = None

    def sample(self) -> CpuSample:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        busy, total = _machine_busy()
        return CpuSample(
            at=time.monotonic(),
            procs=_proc_cpu(),
            machine_busy=busy,
            machine_total=total,
            children=children.ru_utime + children.ru_stime,
            own=own.ru_utime + own.ru_stime,
        )

    def _group(self, pid: int, ppid: int, pgrp: int) -> str | None:
        if self.postmaster is not None and self.postmaster in (pid, ppid):
            return "postgres"
        if self.server_group is not None and pgrp == self.server_group:
            return "openbank"
        return None

    def _totals(self, sample: CpuSample) -> dict[str, float]:
        spent = {"postgres": 0.0, "openbank": 0.0}
        for pid, (ppid, pgrp, cpu) in sample.procs.items():
            group = self._group(pid, ppid, pgrp)
            if group is not None:
                spent[group] += cpu
        return spent

    def usage(self, start: CpuSample, end: CpuSample) -> dict[str, float]:
        """Cores used on average in the window, by who used them."""
        seconds = max(end.at - start.at, 1e-9)
        before, after = self._totals(start), self._totals(end)
        spent = {group: after[group] - before[group] for group in after}
        # wrk and pgbench are reaped children; the Python client runs in this process.
        load = (end.children - start.children) + (end.own - start.own)
        busy = end.machine_busy - start.machine_busy
        total = end.machine_total - start.machine_total
        other = max(busy - spent["postgres"] - spent["openbank"] - load, 0.0)
        cores = total / seconds
        return {
            "postgres": spent["postgres"] / seconds,
            "openbank": spent["openbank"] / seconds,
            "load_generator": load / seconds,
            "other": other / seconds,
            "idle": max(total - busy, 0.0) / seconds,
            "cores": cores,
        }


# -- PostgreSQL -----------------------------------------------------------------------------


def find_postmaster(server_url: str) -> int | None:
    """The postmaster's pid when the server runs on this machine (for CPU accounting)."""
    with psycopg.connect(server_url) as conn:  # read /proc while this backend still lives
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        if row is None:
            return None
        try:
            stat = Path(f"/proc/{row[0]}/stat").read_bytes()
            comm = Path(f"/proc/{row[0]}/comm").read_text().strip()
        except OSError:
            return None  # a remote server, or a pid that is not ours to see
    if comm != "postgres":
        return None
    return int(stat[stat.rfind(b")") + 2 :].split()[1])


def server_settings(server_url: str) -> dict[str, str]:
    names = ("server_version", "shared_buffers", "synchronous_commit", "fsync", "max_connections")
    with psycopg.connect(server_url) as conn:
        return {n: str(conn.execute(f"SHOW {n}").fetchone()[0]) for n in names}  # type: ignore[index]


def pgbench_binary() -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"


@dataclass
class PgbenchResult:
    tps: float
    latency_avg_ms: float
    transactions: int
    failed: int
    scale: int
    clients: int
    init_seconds: float
    cpu: dict[str, float]


def run_pgbench(
    server_url: str, scale: int, clients: int, duration: int, meter: CpuMeter, keep: bool
) -> PgbenchResult:
    binary = pgbench_binary()
    if not binary.exists():
        raise SystemExit(f"pgbench not found at {binary} (it ships in the pgserver wheel)")
    url = create_database(server_url, "pgbench")
    try:
        started = time.monotonic()
        log.print(f"[bold]pgbench[/bold]: initialising scale {scale} ...")
        subprocess.run(
            [str(binary), "-i", "-s", str(scale), "-q", url],
            check=True,
            capture_output=True,
            text=True,
        )
        init_seconds = time.monotonic() - started
        log.print(f"[bold]pgbench[/bold]: TPC-B, {clients} clients, {duration} s ...")
        before = meter.sample()
        proc = subprocess.run(
            [
                str(binary),
                "-c",
                str(clients),
                "-j",
                str(min(2, clients)),
                "-T",
                str(duration),
                "-M",
                "prepared",
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        cpu = meter.usage(before, meter.sample())
    finally:
        if not keep:
            drop_database(server_url, url)
    out = proc.stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if tps is None:
        raise SystemExit(f"could not read pgbench's tps from:\n{out}\n{proc.stderr}")
    return PgbenchResult(
        tps=float(tps.group(1)),
        latency_avg_ms=float(latency.group(1)) if latency else 0.0,
        transactions=int(done.group(1)) if done else 0,
        failed=int(failed.group(1)) if failed else 0,
        scale=scale,
        clients=clients,
        init_seconds=round(init_seconds, 1),
        cpu=cpu,
    )


# -- which worker holds which connection -----------------------------------------------------


def server_workers(server_pid: int) -> list[int]:
    """The processes that accept HTTP connections: uvicorn's spawned workers, or the server
    process itself when it runs one worker in-process."""
    workers = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        if ppid == server_pid and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            workers.append(int(name))
    return sorted(workers) or [server_pid]


def _established(server_port: int) -> dict[int, int]:
    """socket inode -> client port, for the server side of each connection to `server_port`."""
    out: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if state == "01" and int(local.rsplit(":", 1)[1], 16) == server_port and inode:
                out[inode] = int(remote.rsplit(":", 1)[1], 16)
    return out


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def connections_per_worker(server_port: int, workers: list[int]) -> list[int]:
    """How many client connections each worker holds, busiest first."""
    established = _established(server_port)
    return sorted((len(_socket_inodes(pid) & established.keys()) for pid in workers), reverse=True)


def connection_owner(server_port: int, client_port: int, workers: list[int]) -> int | None:
    inodes = {i for i, port in _established(server_port).items() if port == client_port}
    for pid in workers:
        if _socket_inodes(pid) & inodes:
            return pid
    return None


# -- a light HTTP/1.1 client ----------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams (httpx costs too much CPU to
    share two cores with the server it measures)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host = host
        self.port = port
        self._prefix = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> HttpConnection:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    @property
    def local_port(self) -> int:
        assert self._writer is not None
        port: int = self._writer.get_extra_info("sockname")[1]
        return port

    async def close(self) -> None:
        await self.__aexit__()

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    async def request(
        self, method: str, path: str, body: bytes = b"", idempotency_key: str | None = None
    ) -> tuple[int, bytes]:
        assert self._reader is not None
        assert self._writer is not None
        head = f"{method} {path} HTTP/1.1\r\n{self._prefix}"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        if idempotency_key is not None:
            head += f"Idempotency-Key: {idempotency_key}\r\n"
        self._writer.write(head.encode() + b"\r\n" + body)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = -1
        chunked = False
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            parts = []
            while True:
                size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self._reader.readexactly(size + 2))
                if size == 0:
                    return status, b"".join(p[:-2] for p in parts)
        return status, await self._reader.readexactly(max(length, 0))


# -- load -----------------------------------------------------------------------------------


@dataclass
class Workload:
    host: str
    port: int
    token: str
    accounts: list[str]
    hot: str
    batch_size: int
    workers: list[int] = field(default_factory=list)  # pids of the server's HTTP workers


@dataclass
class LoadRun:
    """What the load generator saw."""

    requests: int
    transfers: int  # acknowledged: 201s, times the created items of a batch
    seconds: float
    errors: int
    first_error: str | None
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    connections_per_worker: list[int] = field(default_factory=list)


def _transfer(debit: str, credit: str, rng: random.Random, code: str) -> dict[str, Any]:
    return {
        "debit_account_id": debit,
        "credit_account_id": credit,
        "amount": rng.randint(1, 100),
        "currency": "CNY",
        "code": code,
    }


def _uniform(work: Workload, rng: random.Random, code: str) -> dict[str, Any]:
    debit, credit = rng.sample(work.accounts, 2)
    return _transfer(debit, credit, rng, code)


def make_request(
    work: Workload, mode: Mode, rng: random.Random, code: str
) -> tuple[str, bytes, str]:
    """(path, body, idempotency key) of one request, the same shapes the Lua script sends."""
    key = uuid.uuid4().hex
    if mode == "batch":
        transfers = [_uniform(work, rng, code) for _ in range(work.batch_size)]
        body = orjson.dumps({"linked": False, "transfers": transfers})
        return "/v1/ledger/transfers/batch", body, key
    if mode == "hot":
        spec = _transfer(rng.choice(work.accounts), work.hot, rng, code)
    else:
        spec = _uniform(work, rng, code)
    return "/v1/ledger/transfers", orjson.dumps(spec), key


def check_response(mode: Mode, status: int, body: bytes, batch_size: int) -> tuple[int, str | None]:
    """(transfers acknowledged, error) for one response."""
    if status != 201:
        return 0, f"{status} {body[:300].decode(errors='replace')}"
    if mode != "batch":
        return 1, None
    created = body.count(b'"status":"created"')
    if created != batch_size:
        return created, f"batch: {batch_size - created} of {batch_size} items not created"
    return created, None


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def open_balanced(work: Workload, count: int) -> list[HttpConnection]:
    """`count` connections spread evenly over the server's workers.

    uvicorn's workers share one listening socket and each accepts every pending connection
    it can when it wakes, so connections opened in a burst tend to land on one worker. Each
    connection's server-side socket is looked up in /proc; one that lands on a worker that
    already has its share is closed and opened again.
    """
    workers = work.workers
    base, extra = divmod(count, max(len(workers), 1))
    held: dict[int, int] = dict.fromkeys(workers, 0)
    extras_used = 0
    conns: list[HttpConnection] = []
    attempts = 0
    while len(conns) < count:
        attempts += 1
        conn = HttpConnection(work.host, work.port, work.token)
        await conn.__aenter__()
        if len(workers) <= 1 or attempts > 50 * count:
            conns.append(conn)  # nothing to balance, or give up balancing (reported anyway)
            continue
        owner = None
        for _ in range(100):
            owner = connection_owner(work.port, conn.local_port, workers)
            if owner is not None:
                break
            await asyncio.sleep(0.01)  # not accepted yet
        if owner is None:
            await conn.close()
            continue
        if held[owner] < base or (held[owner] == base and extras_used < extra):
            extras_used += held[owner] == base
            held[owner] += 1
            conns.append(conn)
        else:
            await conn.close()
    return conns


async def _python_load(
    work: Workload, mode: Mode, clients: int, seconds: float, code: str
) -> LoadRun:
    latencies: list[float] = []
    counts = {"requests": 0, "transfers": 0, "errors": 0}
    first_error: list[str] = []
    conns = await open_balanced(work, clients)
    spread = connections_per_worker(work.port, work.workers) if work.workers else []
    started = time.perf_counter()
    deadline = started + seconds

    async def client(index: int, conn: HttpConnection) -> None:
        rng = random.Random(secrets.randbits(64) + index)
        while time.perf_counter() < deadline:
            path, body, key = make_request(work, mode, rng, code)
            sent = time.perf_counter()
            status, answer = await conn.request("POST", path, body, key)
            latencies.append(time.perf_counter() - sent)
            done, error = check_response(mode, status, answer, work.batch_size)
            counts["requests"] += 1
            counts["transfers"] += done
            if error is not None:
                counts["errors"] += 1
                if not first_error:
                    first_error.append(error)

    try:
        await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
    finally:
        for conn in conns:
            await conn.close()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadRun(
        requests=counts["requests"],
        transfers=counts["transfers"],
        seconds=elapsed,
        errors=counts["errors"],
        first_error=first_error[0] if first_error else None,
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p90_ms=_percentile(latencies, 0.90) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] if latencies else 0.0) * 1000,
        mean_ms=(sum(latencies) / len(latencies) if latencies else 0.0) * 1000,
        connections_per_worker=spread,
    )


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed (uvicorn[standard] brings it): less client CPU."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


class PythonDriver:
    name = "python-asyncio (connections balanced over workers)"

    def __init__(self, work: Workload) -> None:
        self.work = work

    def run(self, mode: Mode, clients: int, seconds: float, code: str) -> LoadRun:
        return run_async(_python_load(self.work, mode, clients, seconds, code))


class WrkDriver:
    name = "wrk (connections land where uvicorn accepts them)"

    def __init__(self, work: Workload, accounts_file: Path, threads: int) -> None:
        self.work = work
        self.accounts_file = accounts_file
        self.threads = threads

    def run(self, mode: Mode, clients: int, seconds: float, code: str) -> LoadRun:
        env = dict(
            os.environ,
            BENCH_MODE=mode,
            BENCH_ACCOUNTS=str(self.accounts_file),
            BENCH_HOT=self.work.hot,
            BENCH_TOKEN=self.work.token,
            BENCH_RUN=uuid.uuid4().hex[:12],
            BENCH_CODE=code,
            BENCH_BATCH_SIZE=str(self.work.batch_size),
        )
        threads = max(1, min(self.threads, clients))
        proc = subprocess.Popen(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(clients),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(LUA_SCRIPT),
                f"http://{self.work.host}:{self.work.port}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(min(1.0, seconds / 3))
        spread = connections_per_worker(self.work.port, self.work.workers)
        stdout, stderr = proc.communicate()
        stats: dict[str, Any] | None = None
        first_error: str | None = None
        for line in stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                stats = json.loads(line.removeprefix("BENCH_JSON "))
            elif line.startswith("BENCH_ERROR "):
                first_error = line.removeprefix("BENCH_ERROR ")
        if proc.returncode != 0 or stats is None:
            raise RuntimeError(f"wrk failed ({proc.returncode}):\n{stdout}\n{stderr}")
        socket_errors = stats["connect"] + stats["read"] + stats["write"] + stats["timeout"]
        if socket_errors and first_error is None:
            first_error = (
                f"socket errors: connect {stats['connect']}, read {stats['read']},"
                f" write {stats['write']}, timeout {stats['timeout']}"
            )
        ok = stats["requests"] - stats["non201"]
        per_request = self.work.batch_size if mode == "batch" else 1
        errors = stats["non201"] + socket_errors + (1 if stats["bad_items"] else 0)
        return LoadRun(
            requests=stats["requests"],
            transfers=ok * per_request - stats["bad_items"],
            seconds=stats["duration_us"] / 1e6,
            errors=errors,
            first_error=first_error,
            p50_ms=stats["p50_us"] / 1000,
            p90_ms=stats["p90_us"] / 1000,
            p99_ms=stats["p99_us"] / 1000,
            max_ms=stats["max_us"] / 1000,
            mean_ms=stats["mean_us"] / 1000,
            connections_per_worker=spread,
        )


Driver = PythonDriver | WrkDriver


# -- the openbank server --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def openbank_server(
    database_url: str, workers: int, home: Path, token: str, log_file: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`openbank serve` in a session of its own; its whole process group is killed at the end."""
    port = free_port()
    env = dict(
        os.environ,
        OPENBANK_DATABASE_URL=database_url,
        OPENBANK_ADMIN_TOKEN=token,
        OPENBANK_HOME=str(home),
        OPENBANK_LOG_LEVEL="WARNING",
    )
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openbank.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_healthy(port, proc, log_file)
        yield port, proc
    finally:
        _kill_group(proc)


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log_file: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"openbank serve exited ({proc.returncode}):\n{log_file.read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"openbank serve did not answer /healthz:\n{log_file.read_text()}")


def wait_for_workers(server_pid: int, expected: int) -> list[int]:
    """The worker pids, once all `expected` of them have started."""
    deadline = time.monotonic() + 30
    workers = server_workers(server_pid)
    while expected > 1 and len(workers) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = server_workers(server_pid)
    time.sleep(0.5 if expected > 1 else 0)  # let the last one finish its start-up
    return workers


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no worker of its group lingers.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


async def _setup_accounts(host: str, port: int, token: str, count: int) -> tuple[list[str], str]:
    """`count` funded no-overdraft accounts and one hot (merchant) account."""

    async def create(conn: HttpConnection, code: str, flags: list[str]) -> str:
        body = orjson.dumps({"currency": "CNY", "code": code, "flags": flags})
        status, answer = await conn.request("POST", "/v1/ledger/accounts", body)
        if status != 201:
            raise RuntimeError(f"account creation failed: {status} {answer[:300]!r}")
        account_id: str = orjson.loads(answer)["id"]
        return account_id

    accounts: list[str] = []

    async def creator(n: int) -> None:
        async with HttpConnection(host, port, token) as conn:
            for _ in range(n):
                accounts.append(
                    await create(conn, "bench.wallet", ["debits_must_not_exceed_credits"])
                )

    per = [count // 16 + (1 if i < count % 16 else 0) for i in range(16)]
    await asyncio.gather(*(creator(n) for n in per if n))
    async with HttpConnection(host, port, token) as conn:
        funding = await create(conn, "bench.funding", [])
        hot = await create(conn, "bench.merchant", [])
        for start in range(0, len(accounts), 1000):
            chunk = accounts[start : start + 1000]
            body = orjson.dumps(
                {
                    "linked": False,
                    "transfers": [
                        {
                            "debit_account_id": funding,
                            "credit_account_id": account,
                            "amount": FUNDING_PER_ACCOUNT,
                            "currency": "CNY",
                            "code": "bench.funding",
                        }
                        for account in chunk
                    ],
                }
            )
            status, answer = await conn.request("POST", "/v1/ledger/transfers/batch", body)
            _done, error = check_response("batch", status, answer, len(chunk))
            if error is not None:
                raise RuntimeError(f"funding failed: {error}")
    return accounts, hot


async def _preload_history(work: Workload, transfers: int, clients: int) -> int:
    """Give the ledger a history before measuring: `transfers` random transfers in batches."""
    remaining = [transfers]
    done_total = [0]

    async def loader(index: int) -> None:
        rng = random.Random(index)
        async with HttpConnection(work.host, work.port, work.token) as conn:
            while remaining[0] > 0:
                size = min(work.batch_size, remaining[0])
                remaining[0] -= size
                body = orjson.dumps(
                    {
                        "linked": False,
                        "transfers": [_uniform(work, rng, "bench.history") for _ in range(size)],
                    }
                )
                status, answer = await conn.request("POST", "/v1/ledger/transfers/batch", body)
                done, error = check_response("batch", status, answer, size)
                if error is not None:
                    raise RuntimeError(f"history preload failed: {error}")
                done_total[0] += done

    await asyncio.gather(*(loader(i) for i in range(clients)))
    return done_total[0]


def analyze(database_url: str) -> None:
    """ANALYZE, as `pgbench -i` does after loading, so plans see the tables' real sizes."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")


# -- scenarios ------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    name: str
    mode: Mode
    clients: int
    transfers_per_request: int
    requests: int
    transfers: int
    seconds: float
    transfers_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    first_error: str | None
    committed: int  # rows in the database with this scenario's code
    commits: int  # distinct batch timestamps: how many ledger transactions carried them
    transfers_per_commit: float
    connections_per_worker: list[int] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    cpu_us_per_transfer: dict[str, float] = field(default_factory=dict)


def committed_rows(database_url: str, code: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT created_at) FROM ledger_transfers WHERE code = %s",
            [code],
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def run_scenario(
    driver: Driver,
    meter: CpuMeter,
    database_url: str,
    name: str,
    mode: Mode,
    clients: int,
    seconds: float,
    warmup: float,
) -> ScenarioResult:
    code = f"bench.{mode}"
    log.print(f"[bold]{name}[/bold]: {clients} clients, {seconds:g} s (+{warmup:g} s warm-up) ...")
    if warmup > 0:
        driver.run(mode, clients, warmup, f"{code}.warmup")
    before = meter.sample()
    run = driver.run(mode, clients, seconds, code)
    cpu = meter.usage(before, meter.sample())
    time.sleep(0.3)  # let requests that were in flight when the client stopped commit
    committed, commits = committed_rows(database_url, code)
    rate = run.transfers / run.seconds if run.seconds else 0.0
    per_transfer = {
        who: round(cpu[who] / rate * 1e6, 1) if rate else 0.0
        for who in ("postgres", "openbank", "load_generator")
    }
    return ScenarioResult(
        name=name,
        mode=mode,
        clients=clients,
        transfers_per_request=driver.work.batch_size if mode == "batch" else 1,
        requests=run.requests,
        transfers=run.transfers,
        seconds=round(run.seconds, 2),
        transfers_per_s=round(rate, 1),
        p50_ms=round(run.p50_ms, 2),
        p90_ms=round(run.p90_ms, 2),
        p99_ms=round(run.p99_ms, 2),
        max_ms=round(run.max_ms, 2),
        errors=run.errors,
        first_error=run.first_error,
        committed=committed,
        commits=commits,
        transfers_per_commit=round(committed / commits, 1) if commits else 0.0,
        connections_per_worker=run.connections_per_worker,
        cpu={k: round(v, 2) for k, v in cpu.items()},
        cpu_us_per_transfer=per_transfer,
    )


# -- report ---------------------------------------------------------------------------------


def _ratio(value: float, base: float) -> float:
    return round(value / base, 2) if base else 0.0


def build_report(
    machine: dict[str, Any],
    config: dict[str, Any],
    pgbench: PgbenchResult,
    scenarios: dict[str, ScenarioResult],
    verify: dict[str, Any],
    elapsed: float,
) -> dict[str, Any]:
    single, hot, batch = scenarios["single"], scenarios["hot"], scenarios["batch"]
    ratios = {
        "batch_vs_pgbench": _ratio(batch.transfers_per_s, pgbench.tps),
        "single_vs_pgbench": _ratio(single.transfers_per_s, pgbench.tps),
        "hot_vs_uniform": _ratio(hot.transfers_per_s, single.transfers_per_s),
        "hot_vs_pgbench": _ratio(hot.transfers_per_s, pgbench.tps),
        "single_p99_ms": single.p99_ms,
    }
    targets = {
        "batch_vs_pgbench": {
            "target": f">= {BATCH_VS_PGBENCH}x",
            "met": ratios["batch_vs_pgbench"] >= BATCH_VS_PGBENCH,
        },
        "single_vs_pgbench": {
            "target": f">= {SINGLE_VS_PGBENCH}x",
            "met": ratios["single_vs_pgbench"] >= SINGLE_VS_PGBENCH,
        },
        "hot_vs_uniform": {
            "target": f">= {HOT_VS_UNIFORM}x",
            "met": ratios["hot_vs_uniform"] >= HOT_VS_UNIFORM,
        },
        "single_p99_ms": {
            "target": f"<= {SINGLE_P99_MS:g} ms",
            "met": single.p99_ms <= SINGLE_P99_MS,
        },
    }
    problems = [
        f"{s.name}: {s.errors} failed request(s); first: {s.first_error}"
        for s in scenarios.values()
        if s.errors
    ]
    problems += [
        f"{s.name}: {s.transfers} transfers acknowledged but only {s.committed} in the database"
        for s in scenarios.values()
        if s.committed < s.transfers
    ]
    if not verify["ok"]:
        problems.append(f"ledger verify failed: {verify['problems'][:5]}")
    return {
        "machine": machine,
        "config": config,
        "pgbench": asdict(pgbench),
        "scenarios": {k: asdict(v) for k, v in scenarios.items()},
        "ratios": ratios,
        "targets": targets,
        "verify": verify,
        "problems": problems,
        "ok": not problems,
        "elapsed_s": round(elapsed, 1),
    }


def print_report(report: dict[str, Any]) -> None:
    out = Console()
    if not out.is_terminal:
        out = Console(width=150)
    pg = report["pgbench"]
    cfg = report["config"]
    m = report["machine"]
    out.print(
        f"\n[bold]openbank ledger vs pgbench[/bold] on {m['nproc']} cores / {m['memory_gib']} GiB"
        f" ({m['cpu_model']}), PostgreSQL {cfg['postgres']['server_version']},"
        f" {cfg['workers']} openbank worker(s), load generator {cfg['load_generator']}"
    )
    table = Table(title="Throughput and latency (same server, same run)")
    for column in (
        "scenario",
        "clients",
        "conns/worker",
        "transfers/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "vs pgbench",
    ):
        table.add_column(column, justify="right" if column != "scenario" else "left")
    table.add_row(
        f"pgbench TPC-B -s {pg['scale']} -M prepared (baseline)",
        str(pg["clients"]),
        "",
        f"{pg['tps']:,.0f} tps",
        f"avg {pg['latency_avg_ms']:.2f}",
        "",
        str(pg["failed"]),
        "1.00x",
    )
    for s in report["scenarios"].values():
        table.add_row(
            s["name"],
            str(s["clients"]),
            "/".join(map(str, s["connections_per_worker"])),
            f"{s['transfers_per_s']:,.0f}",
            f"{s['p50_ms']:.2f}",
            f"{s['p99_ms']:.2f}",
            str(s["errors"]),
            f"{s['transfers_per_s'] / pg['tps']:.2f}x" if pg["tps"] else "",
        )
    out.print(table)

    targets = Table(title="Targets")
    for column in ("figure", "reached", "target", "met"):
        targets.add_column(column)
    labels = {
        "batch_vs_pgbench": "batched transfers/s / pgbench tps",
        "single_vs_pgbench": "single transfers/s over HTTP / pgbench tps",
        "hot_vs_uniform": "hot-account transfers/s / uniform transfers/s",
        "single_p99_ms": f"single-transfer p99 at {cfg['clients']} clients",
    }
    for key, label in labels.items():
        value = report["ratios"][key]
        target = report["targets"][key]
        targets.add_row(
            label,
            f"{value:.2f} ms" if key.endswith("_ms") else f"{value:.2f}x",
            target["target"],
            "[green]yes[/green]" if target["met"] else "[red]no[/red]",
        )
    out.print(targets)

    cpu = Table(title="Where the CPU went (cores, average over each measured window)")
    for column in (
        "phase",
        "postgres",
        "openbank",
        "load gen",
        "other work",
        "idle",
        "µs/transfer pg+app",
        "transfers/commit",
    ):
        cpu.add_column(column, justify="right" if column != "phase" else "left")
    c = pg["cpu"]
    cpu.add_row(
        "pgbench",
        f"{c['postgres']:.2f}",
        "",
        f"{c['load_generator']:.2f}",
        f"{c['other']:.2f}",
        f"{c['idle']:.2f}",
        f"{(c['postgres']) / pg['tps'] * 1e6:.0f} (pg)" if pg["tps"] else "",
        "1",
    )
    for s in report["scenarios"].values():
        c = s["cpu"]
        us = s["cpu_us_per_transfer"]
        cpu.add_row(
            s["name"],
            f"{c['postgres']:.2f}",
            f"{c['openbank']:.2f}",
            f"{c['load_generator']:.2f}",
            f"{c['other']:.2f}",
            f"{c['idle']:.2f}",
            f"{us['postgres']:.0f} + {us['openbank']:.0f}",
            f"{s['transfers_per_commit']:,.1f}",
        )
    out.print(cpu)

    v = report["verify"]
    if v["ok"]:
        out.print(
            f"[green]ledger verify passed[/green]: {v['accounts']:,} accounts,"
            f" {v['transfers']:,} transfers, {v['entries']:,} entries checked"
            f" in {v['seconds']:.1f} s"
        )
    for problem in report["problems"]:
        out.print(f"[red]problem:[/red] {problem}")
    out.print(f"total run time {report['elapsed_s']:.0f} s")


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per scenario")
    parser.add_argument(
        "--clients", type=int, default=16, help="connections for single transfers and pgbench"
    )
    parser.add_argument("--batch-clients", type=int, default=4, help="connections for batches")
    parser.add_argument("--batch-size", type=int, default=1000, help="transfers per batch request")
    parser.add_argument("--workers", type=int, default=2, help="openbank serve --workers")
    parser.add_argument("--accounts", type=int, default=1000, help="funded accounts")
    parser.add_argument("--scale", type=int, default=16, help="pgbench -s")
    parser.add_argument(
        "--history",
        type=int,
        default=20_000,
        help="transfers loaded (in batches) before measuring, so the ledger is not empty",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="skip ANALYZE after loading (measures a just-created database, whose plans"
        " have no statistics; pgbench -i always analyzes)",
    )
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: embedded)")
    parser.add_argument(
        "--client",
        choices=("python", "wrk"),
        default="python",
        help="load generator: python (asyncio, raw HTTP/1.1, connections balanced over the"
        " workers) or wrk (lighter, but uvicorn may hand all its connections to one worker)",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk -t")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of tables")
    return parser.parse_args(argv)


def check_client(args: argparse.Namespace) -> None:
    """Fail before any work when the chosen load generator is missing."""
    if args.client == "wrk" and shutil.which("wrk") is None:
        raise SystemExit(
            f"wrk is not installed. Install it with\n  {WRK_HINT}\n"
            "or run with --client python (the default)."
        )


def choose_driver(args: argparse.Namespace, work: Workload, accounts_file: Path) -> Driver:
    if args.client == "wrk":
        return WrkDriver(work, accounts_file, args.wrk_threads)
    return PythonDriver(work)


def quiet_logging() -> None:
    """openbank's structlog lines go to stderr, warnings and up, so --json output stays JSON."""
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_client(args)
    quiet_logging()
    started = time.monotonic()
    machine = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="openbank-bench-"))
    tmp.chmod(0o755)  # the embedded server runs as its own user when we are root
    meter = CpuMeter()
    embedded: Any = None
    try:
        if args.database_url:
            server_url = libpq_url(Settings(database_url=args.database_url, home=tmp))
        else:
            log.print(f"starting the embedded PostgreSQL under {tmp} ...")
            embedded = embedded_server(Settings(home=tmp))
            server_url = str(embedded.get_uri())
        meter.postmaster = find_postmaster(server_url)
        pg_settings = server_settings(server_url)

        pgbench = run_pgbench(server_url, args.scale, args.clients, args.duration, meter, args.keep)
        log.print(f"  pgbench TPC-B: {pgbench.tps:,.0f} tps")

        database_url = create_database(server_url, "openbank_bench")
        token = secrets.token_urlsafe(24)
        scenarios: dict[str, ScenarioResult] = {}
        try:
            log.print(f"starting openbank serve --workers {args.workers} ...")
            with openbank_server(database_url, args.workers, tmp, token, tmp / "serve.log") as (
                port,
                proc,
            ):
                meter.server_group = proc.pid
                workers = wait_for_workers(proc.pid, args.workers)
                accounts, hot = run_async(_setup_accounts("127.0.0.1", port, token, args.accounts))
                accounts_file = tmp / "accounts.txt"
                accounts_file.write_text("\n".join(accounts) + "\n")
                log.print(f"  {len(accounts):,} funded accounts and a hot account ready")
                work = Workload("127.0.0.1", port, token, accounts, hot, args.batch_size, workers)
                if args.history:
                    loaded = run_async(_preload_history(work, args.history, args.batch_clients))
                    log.print(f"  {loaded:,} transfers of history loaded")
                if not args.no_analyze:
                    analyze(database_url)
                driver = choose_driver(args, work, accounts_file)
                plan: list[tuple[str, Mode, int]] = [
                    ("single transfer, uniform pairs", "single", args.clients),
                    ("single transfer, hot account", "hot", args.clients),
                    (f"batched, {args.batch_size:,} per request", "batch", args.batch_clients),
                ]
                for name, mode, clients in plan:
                    result = run_scenario(
                        driver, meter, database_url, name, mode, clients, args.duration, args.warmup
                    )
                    scenarios[mode] = result
                    log.print(
                        f"  {result.transfers_per_s:,.0f} transfers/s, p50 {result.p50_ms:.1f} ms,"
                        f" p99 {result.p99_ms:.1f} ms, {result.errors} error(s)"
                    )
            log.print("verifying the ledger (hash chains, running balances, debits = credits) ...")
            verify_started = time.monotonic()
            database = Database(Settings(database_url=database_url, home=tmp))
            try:
                verified = ledger_service.verify(database)
            finally:
                database.dispose()
            verify = {
                "ok": verified.ok,
                "accounts": verified.accounts,
                "transfers": verified.transfers,
                "entries": verified.entries,
                "problems": verified.problems[:20],
                "seconds": round(time.monotonic() - verify_started, 1),
            }
        finally:
            if not args.keep:
                drop_database(server_url, database_url)

        config = {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "clients": args.clients,
            "batch_clients": args.batch_clients,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "accounts": args.accounts,
            "history": args.history,
            "analyze": not args.no_analyze,
            "load_generator": driver.name,
            "database": "external" if args.database_url else "embedded (pgserver)",
            "postgres": pg_settings,
        }
        report = build_report(
            machine, config, pgbench, scenarios, verify, time.monotonic() - started
        )
    finally:
        if embedded is not None:
            embedded.cleanup()  # stops the server (its data goes with the temp dir)
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
