"""Gateway overhead benchmark: the same read through the full partner path against the operator
path, on one running server, in one run.

    .venv/bin/python bench/gateway_bench.py [--requests 2000] [--warmup 200]
                                            [--database-url URL] [--json]

1. A fresh database (on a private embedded PostgreSQL in a temp dir unless --database-url) and
   `openbank serve --workers 1` on it.
2. Set-up, over HTTP as a partner would do it: a partner and its app (ES256 key pair), a rate
   limit high enough never to refuse (the limiter still counts every call), a customer with a
   funded class II e-account, an account-access consent created with a client_credentials
   token, PAR naming it, the customer's approval (at the service layer, standing in for the
   consent pages), and the code redeemed for a DPoP-bound customer token.
3. Measured, one request at a time, pairs in random order on two keep-alive connections:
   - partner: GET /v1/open/accounts/{id}/balances with `Authorization: DPoP` and a fresh DPoP
     proof (signature, jti replay check, token, app, consent, rate limit, audit log);
   - operator: GET /v1/e-accounts/{id} with the bootstrap admin token (the same balance read
     from the ledger, no gateway). This is the same-run baseline.
   Proofs are signed before the timer starts: client-side work is not the bank's overhead.
4. p50 and p99 of each, and the overhead (partner - operator) at p50 and p99, with the
   median of the per-pair differences. Target (issue 3): <= 2 ms p50 overhead.

Exits 1 when a request failed; a missed target is reported, not failed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from openbank.core.clock import SystemClock
from openbank.core.database import (
    Database,
    create_database,
    drop_database,
    embedded_server,
    libpq_url,
    unit_of_work,
)
from openbank.core.migrate import upgrade
from openbank.core.settings import Settings
from openbank.models import import_all_models
from openbank.platform.consents import service as consents
from openbank.platform.oauth import service as oauth

TARGET_P50_OVERHEAD_MS = 2.0
REDIRECT_URI = "https://partner.example/callback"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PERMISSIONS = ["accounts", "balances"]

log = Console(stderr=True)


# -- identities the bank validates (check digits computed here) -----------------------------

_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CREDIT_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def resident_id() -> str:
    n = random.randrange(10**6)
    body = f"110105{1970 + n % 30}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, _RESIDENT_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def credit_code() -> str:
    n = random.randrange(31**9)
    digits = ""
    for _ in range(9):
        n, r = divmod(n, 31)
        digits += _CREDIT_ALPHABET[r]
    body = "91110000" + digits
    total = sum(_CREDIT_ALPHABET.index(c) * w for c, w in zip(body, _CREDIT_WEIGHTS, strict=True))
    return body + _CREDIT_ALPHABET[(31 - total % 31) % 31]


def card_number() -> str:
    payload = f"621700{random.randrange(10**9):09d}"
    total = 0
    for i, ch in enumerate(reversed(payload)):
        v = int(ch)
        if i % 2 == 0:
            v = v * 2 - 9 if v > 4 else v * 2
        total += v
    return payload + str((10 - total % 10) % 10)


# -- a minimal FAPI client: private_key_jwt, PKCE, DPoP -------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class PartnerClient:
    """The partner app's keys and what it needs to sign (assertions and DPoP proofs)."""

    issuer: str
    client_id: str = ""
    app_key: ECKey = field(
        default_factory=lambda: ECKey.generate_key(
            "P-256", parameters={"kid": uuid.uuid4().hex[:16], "alg": "ES256"}
        )
    )
    dpop_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256"))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.app_key.as_dict(private=False)]}

    def client_auth(self) -> dict[str, str]:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        assertion = jwt.encode(
            {"alg": "ES256", "kid": self.app_key.kid}, claims, self.app_key, algorithms=["ES256"]
        )
        return {
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }

    def proof(self, method: str, path: str, access_token: str | None = None) -> str:
        claims: dict[str, Any] = {
            "htm": method,
            "htu": self.issuer + path,
            "iat": int(time.time()),
            "jti": secrets.token_urlsafe(16),
        }
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        header = {
            "typ": "dpop+jwt",
            "alg": "ES256",
            "jwk": dict(self.dpop_key.as_dict(private=False)),
        }
        return jwt.encode(header, claims, self.dpop_key, algorithms=["ES256"])

    def resource_headers(self, method: str, path: str, access_token: str) -> dict[str, str]:
        return {
            "Authorization": f"DPoP {access_token}",
            "DPoP": self.proof(method, path, access_token),
        }


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    if response.status_code not in (statuses or (200, 201)):
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


@dataclass
class Fixture:
    e_account_id: str
    access_token: str
    partner: PartnerClient


def set_up(http: httpx.Client, admin: dict[str, str], database: Database) -> Fixture:
    """Partner, app, limit, customer, funded e-account, authorised consent, customer token."""
    partner = PartnerClient(issuer=str(http.base_url).rstrip("/"))
    partner_id = _ok(
        http.post(
            "/v1/partners",
            headers=admin,
            json={
                "legal_name": "基准测试平台有限公司",
                "unified_social_credit_code": credit_code(),
                "contact_name": "王五",
                "contact_email": "bench@partner.example",
                "contact_phone": "+8613800138000",
            },
        )
    )["id"]
    app = _ok(
        http.post(
            f"/v1/partners/{partner_id}/apps",
            headers=admin,
            json={
                "name": "基准应用",
                "environment": "sandbox",
                "redirect_uris": [REDIRECT_URI],
                "jwks": partner.jwks(),
                "products": ["e_accounts"],
            },
        )
    )
    partner.client_id = str(app["id"])
    # Never refuse during the run, but keep the limiter on the path: it counts every call.
    _ok(
        http.put(
            f"/v1/apps/{partner.client_id}/rate-limits",
            headers=admin,
            json={"limits": [{"product": "e_accounts", "per_second": 100_000, "burst": 1_000_000}]},
        )
    )
    customer_id = _ok(
        http.post(
            "/v1/customers",
            headers=admin,
            json={
                "type": "person",
                "name": "张三",
                "sandbox": True,  # the bench's app is a sandbox app
                "id_number": resident_id(),
                "phone": "+8613800138000",
                "kyc_level": 3,
            },
        )
    )["id"]
    e_account_id = _ok(
        http.post(
            "/v1/e-accounts",
            headers=admin,
            json={
                "customer_id": customer_id,
                "class": "II",
                "bound_card": {"number": card_number(), "bank_name": "中国银行"},
            },
        )
    )["id"]
    _ok(
        http.post(
            f"/v1/e-accounts/{e_account_id}/top-ups",
            headers={**admin, "Idempotency-Key": uuid.uuid4().hex},
            json={"amount": 1_000_000},
        )
    )

    # The partner's side: a partner-level token, the consent, PAR naming it.
    cc_token = _ok(
        http.post(
            "/oauth2/token",
            data={"grant_type": "client_credentials", "scope": "accounts", **partner.client_auth()},
            headers={"DPoP": partner.proof("POST", "/oauth2/token")},
        )
    )["access_token"]
    consent_path = "/v1/open/account-access-consents"
    consent_id = _ok(
        http.post(
            consent_path,
            json={"permissions": PERMISSIONS},
            headers={
                **partner.resource_headers("POST", consent_path, cc_token),
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
    )["id"]
    verifier = secrets.token_urlsafe(48)
    request_uri = _ok(
        http.post(
            "/oauth2/par",
            data={
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": "accounts",
                "state": "bench",
                "consent_id": consent_id,
                "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
                "code_challenge_method": "S256",
                **partner.client_auth(),
            },
        )
    )["request_uri"]

    # The customer's side (the consent pages' two steps, at the service layer).
    clock = SystemClock()

    def approve(session: Any) -> str:
        now = clock.now()
        consents.authorise(
            session,
            uuid.UUID(consent_id),
            uuid.UUID(partner.client_id),
            uuid.UUID(customer_id),
            [uuid.UUID(e_account_id)],
            PERMISSIONS,  # type: ignore[arg-type]
            now,
        )
        pending = oauth.authorization_request(session, partner.client_id, request_uri, now)
        return oauth.approve(session, pending.id, uuid.UUID(customer_id), now)

    redirect = unit_of_work(database, approve)
    code = parse_qs(urlsplit(redirect).query)["code"][0]
    access_token = _ok(
        http.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
                **partner.client_auth(),
            },
            headers={"DPoP": partner.proof("POST", "/oauth2/token")},
        )
    )["access_token"]
    return Fixture(e_account_id=e_account_id, access_token=access_token, partner=partner)


# -- the server -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def openbank_server(
    database_url: str, port: int, home: Path, token: str, log_file: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`openbank serve --workers 1` in a session of its own, killed at the end."""
    env = dict(
        os.environ,
        OPENBANK_DATABASE_URL=database_url,
        OPENBANK_ADMIN_TOKEN=token,
        OPENBANK_HOME=str(home),
        OPENBANK_LOG_LEVEL="WARNING",
        OPENBANK_PUBLIC_URL=f"http://127.0.0.1:{port}",
        OPENBANK_OAUTH_ACCESS_TOKEN_SECONDS="3600",
    )
    with log_file.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "openbank.cli", "serve", "--host", "127.0.0.1"),
                *("--port", str(port), "--workers", "1"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"openbank serve exited:\n{log_file.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"openbank serve did not start:\n{log_file.read_text()}")
            time.sleep(0.2)
        yield proc
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue


# -- measuring ------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Samples:
    partner_ms: list[float] = field(default_factory=list)
    operator_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def measure(
    fixture: Fixture, base_url: str, admin: dict[str, str], pairs: int, warmup: int
) -> Samples:
    """`pairs` partner and operator reads, each pair in random order, one at a time."""
    partner_path = f"/v1/open/accounts/{fixture.e_account_id}/balances"
    operator_path = f"/v1/e-accounts/{fixture.e_account_id}"
    samples = Samples()
    rng = random.Random(7)
    with (
        httpx.Client(base_url=base_url, timeout=30) as partner_http,
        httpx.Client(base_url=base_url, timeout=30, headers=admin) as operator_http,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=log,
            transient=True,
        ) as progress,
    ):

        def partner_call() -> float:
            headers = fixture.partner.resource_headers("GET", partner_path, fixture.access_token)
            started = time.perf_counter()
            response = partner_http.get(partner_path, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                samples.errors.append(f"partner {response.status_code} {response.text[:200]}")
            return elapsed

        def operator_call() -> float:
            started = time.perf_counter()
            response = operator_http.get(operator_path)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                samples.errors.append(f"operator {response.status_code} {response.text[:200]}")
            return elapsed

        warm = progress.add_task("warm-up", total=warmup)
        for _ in range(warmup):
            partner_call()
            operator_call()
            progress.advance(warm)
        samples.errors.clear()
        task = progress.add_task("measuring", total=pairs)
        for _ in range(pairs):
            if rng.random() < 0.5:
                samples.partner_ms.append(partner_call())
                samples.operator_ms.append(operator_call())
            else:
                samples.operator_ms.append(operator_call())
                samples.partner_ms.append(partner_call())
            progress.advance(task)
    return samples


def build_report(samples: Samples, config: dict[str, Any], seconds: float) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(percentile(values, 0.50), 3),
            "p99_ms": round(percentile(values, 0.99), 3),
            "mean_ms": round(statistics.fmean(values), 3),
        }

    partner, operator = stats(samples.partner_ms), stats(samples.operator_ms)
    paired = [p - o for p, o in zip(samples.partner_ms, samples.operator_ms, strict=True)]
    overhead_p50 = round(partner["p50_ms"] - operator["p50_ms"], 3)
    return {
        "benchmark": "gateway overhead",
        "config": config,
        "partner": partner,
        "operator": operator,
        "overhead": {
            "p50_ms": overhead_p50,
            "p99_ms": round(partner["p99_ms"] - operator["p99_ms"], 3),
            "median_paired_ms": round(statistics.median(paired), 3),
        },
        "target": {
            "p50_overhead_ms": TARGET_P50_OVERHEAD_MS,
            "met": overhead_p50 <= TARGET_P50_OVERHEAD_MS,
        },
        "errors": len(samples.errors),
        "error_samples": samples.errors[:5],
        "seconds": round(seconds, 1),
        "ok": not samples.errors,
    }


def print_report(report: dict[str, Any]) -> None:
    console = Console()
    table = Table(title=f"Gateway overhead ({report['config']['requests']:,} pairs, one run)")
    for column in ("path", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(column, justify="right" if column != "path" else "left")
    for name, label in (
        ("operator", "operator: GET /v1/e-accounts/{id} (baseline)"),
        ("partner", "partner: GET /v1/open/accounts/{id}/balances"),
    ):
        row = report[name]
        table.add_row(
            label, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", f"{row['mean_ms']:.2f}"
        )
    overhead = report["overhead"]
    table.add_row(
        "[bold]overhead (partner - operator)",
        f"[bold]{overhead['p50_ms']:.2f}",
        f"[bold]{overhead['p99_ms']:.2f}",
        f"median of pairs {overhead['median_paired_ms']:.2f}",
    )
    console.print(table)
    met = report["target"]["met"]
    console.print(
        f"target: p50 overhead <= {report['target']['p50_overhead_ms']} ms: "
        + ("[green]met[/green]" if met else "[red]missed[/red]")
    )
    if report["errors"]:
        console.print(f"[red]{report['errors']} failed request(s)[/red]: {report['error_samples']}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="measured calls of each path")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls of each path")
    parser.add_argument("--database-url", help="PostgreSQL server to use (default: embedded)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--json", action="store_true", help="print a JSON object, not a table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import_all_models()
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="openbank-gateway-bench-"))
    tmp.chmod(0o755)  # the embedded server runs as its own user when we are root
    embedded: Any = None
    try:
        if args.database_url:
            server_url = libpq_url(Settings(database_url=args.database_url, home=tmp))
        else:
            log.print(f"starting the embedded PostgreSQL under {tmp} ...")
            embedded = embedded_server(Settings(home=tmp))
            server_url = str(embedded.get_uri())
        database_url = create_database(server_url, "openbank_gateway_bench")
        database = Database(Settings(database_url=database_url, home=tmp))
        try:
            upgrade(database.engine)
            token = secrets.token_urlsafe(24)
            admin = {"Authorization": f"Bearer {token}"}
            port = free_port()
            base_url = f"http://127.0.0.1:{port}"
            log.print("starting openbank serve --workers 1 ...")
            with openbank_server(database_url, port, tmp, token, tmp / "serve.log"):
                with httpx.Client(base_url=base_url, timeout=30) as http:
                    fixture = set_up(http, admin, database)
                log.print("  partner app, consent and DPoP-bound customer token ready")
                samples = measure(fixture, base_url, admin, args.requests, args.warmup)
        finally:
            database.dispose()
            if not args.keep:
                drop_database(server_url, database_url)
        config = {
            "requests": args.requests,
            "warmup": args.warmup,
            "workers": 1,
            "database": "external" if args.database_url else "embedded (pgserver)",
            "cpus": os.cpu_count(),
        }
        report = build_report(samples, config, time.monotonic() - started)
    finally:
        if embedded is not None:
            embedded.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
