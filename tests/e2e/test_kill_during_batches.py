"""A real `openbank serve` (two workers) killed with SIGKILL while clients send single
transfers and linked batches, then restarted: every unanswered request retried with its
Idempotency-Key completes, each transfer exists exactly once, and the ledger verifies."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

CLIENTS = 12
REQUESTS = 360
KILL_AFTER = 120  # answered requests before the SIGKILL
NO_OVERDRAFT = ["debits_must_not_exceed_credits"]


@dataclass(frozen=True)
class Leg:
    debit: str
    credit: str
    amount: int

    def body(self) -> dict[str, Any]:
        return {
            "debit_account_id": self.debit,
            "credit_account_id": self.credit,
            "amount": self.amount,
            "currency": "CNY",
            "code": "e2e_transfer",
        }


@dataclass(frozen=True)
class Request:
    """One request a client means to make: a single transfer or a linked batch."""

    key: str
    legs: tuple[Leg, ...]
    batch: bool

    @property
    def path(self) -> str:
        return "/v1/ledger/transfers/batch" if self.batch else "/v1/ledger/transfers"

    def body(self) -> dict[str, Any]:
        if self.batch:
            return {"linked": True, "transfers": [leg.body() for leg in self.legs]}
        return self.legs[0].body()

    def stored_keys(self) -> list[str]:
        """The keys its transfers are stored under (operator scope; batch items by index)."""
        if self.batch:
            return [f"operator:batch:{self.key}:{i}" for i in range(len(self.legs))]
        return [f"operator:transfer:{self.key}"]

    def transfer_ids(self, response: httpx.Response) -> list[str]:
        """The transfers an answer names; fails the test on anything but a full success."""
        assert response.status_code == 201, response.text
        body = response.json()
        if not self.batch:
            return [str(body["id"])]
        assert {item["status"] for item in body["data"]} <= {"created", "replayed"}, body
        return [str(item["transfer"]["id"]) for item in body["data"]]


def _account(http: httpx.Client, flags: list[str]) -> str:
    r = http.post("/v1/ledger/accounts", json={"currency": "CNY", "code": "e2e", "flags": flags})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _plan(banks: list[str], wallets: list[str]) -> list[Request]:
    rng = random.Random(7_340_211)
    planned = []
    for n in range(REQUESTS):
        batch = rng.random() < 0.4
        legs = tuple(
            Leg(rng.choice(banks), rng.choice(wallets), rng.randint(1, 9_999))
            for _ in range(rng.randint(2, 4) if batch else 1)
        )
        planned.append(Request(f"kill-{n}-{uuid.uuid4()}", legs, batch))
    return planned


class Load:
    """Clients sending requests concurrently; remembers which got an answer."""

    def __init__(self, server: Server, requests: list[Request], kill_after: int | None) -> None:
        self.server = server
        self.queue = list(reversed(requests))
        self.kill_after = kill_after
        self.answered: dict[str, httpx.Response] = {}
        self.unanswered: list[Request] = []
        self.lock = threading.Lock()
        self.enough = threading.Event()

    def _next(self) -> Request | None:
        with self.lock:
            return self.queue.pop() if self.queue else None

    def _client(self) -> None:
        with self.server.client(timeout=20) as http:
            while (request := self._next()) is not None:
                try:
                    r = http.post(
                        request.path,
                        json=request.body(),
                        headers={"Idempotency-Key": request.key},
                    )
                except httpx.TransportError:  # the server died before it answered
                    with self.lock:
                        self.unanswered.append(request)
                    continue
                with self.lock:
                    self.answered[request.key] = r
                    if self.kill_after is not None and len(self.answered) >= self.kill_after:
                        self.enough.set()

    def run(self) -> None:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            clients = [pool.submit(self._client) for _ in range(CLIENTS)]
            if self.kill_after is not None:
                self.enough.wait(timeout=120)
                self.server.kill()
            for client in clients:
                client.result()


def _stored(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Transfers by idempotency key: (id, debit, credit, amount) of each."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(database_url) as conn:
        for key, *row in conn.execute(
            "SELECT idempotency_key, id, debit_account_id, credit_account_id, amount"
            " FROM ledger_transfers WHERE idempotency_key IS NOT NULL"
        ):
            found.setdefault(key, []).append(tuple(str(v) if v is not None else v for v in row))
    return found


def test_kill_9_during_singles_and_linked_batches_then_retries_move_everything_once(
    stopped_server: Server,
) -> None:
    server = stopped_server
    server.start()
    with server.client() as http:
        banks = [_account(http, []) for _ in range(3)]
        wallets = [_account(http, NO_OVERDRAFT) for _ in range(6)]
    planned = _plan(banks, wallets)

    first = Load(server, planned, kill_after=KILL_AFTER)
    first.run()
    assert first.unanswered, "the kill came after the last answer: nothing was left to retry"
    answered_ids = {
        r.key: r.transfer_ids(first.answered[r.key]) for r in planned if r.key in first.answered
    }

    server.start()  # the same database and port: the service restarted
    retry = Load(server, first.unanswered, kill_after=None)
    retry.run()
    assert retry.unanswered == []
    for request in first.unanswered:
        answered_ids[request.key] = request.transfer_ids(retry.answered[request.key])

    stored = _stored(server.database_url)
    expected_keys = [key for request in planned for key in request.stored_keys()]
    assert sorted(stored) == sorted(expected_keys)  # no transfer lost, none without a request
    for request in planned:
        for key, leg, answered_id in zip(
            request.stored_keys(), request.legs, answered_ids[request.key], strict=True
        ):
            assert len(stored[key]) == 1, f"{key} was applied {len(stored[key])} times"
            assert stored[key][0] == (answered_id, leg.debit, leg.credit, str(leg.amount))

    debited: Counter[str] = Counter()
    credited: Counter[str] = Counter()
    for request in planned:
        for leg in request.legs:
            debited[leg.debit] += leg.amount
            credited[leg.credit] += leg.amount
    with server.client() as http:
        r = http.get("/v1/ledger/accounts", params=[("id", i) for i in banks + wallets])
        assert r.status_code == 200, r.text
        balances = {a["id"]: a for a in r.json()["data"]}
    assert {b: balances[b]["debits_posted"] for b in banks} == {b: debited[b] for b in banks}
    assert {w: balances[w]["credits_posted"] for w in wallets} == {w: credited[w] for w in wallets}

    report = server.verify()
    assert report.problems == []
    assert report.transfers == len(expected_keys)


def test_fifty_concurrent_posts_of_one_pending_transfer_post_it_exactly_once(
    running_server: Server,
) -> None:
    with running_server.client() as http:
        bank = _account(http, [])
        wallet = _account(http, NO_OVERDRAFT)
        r = http.post("/v1/ledger/transfers", json=Leg(bank, wallet, 900).body())
        assert r.status_code == 201, r.text
        r = http.post(
            "/v1/ledger/transfers", json={**Leg(wallet, bank, 600).body(), "pending": True}
        )
        assert r.status_code == 201, r.text
        pending_id = r.json()["id"]
    start = threading.Barrier(50)

    def post(_: int) -> httpx.Response:
        with running_server.client(timeout=60) as http:
            http.get("/healthz")  # connected before the race starts
            start.wait()
            return http.post(f"/v1/ledger/transfers/{pending_id}/post")

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))

    assert sorted(r.status_code for r in responses) == [201] + [409] * 49
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "pending_transfer_already_posted"
    }
    with running_server.client() as http:
        r = http.get(f"/v1/ledger/accounts/{wallet}")
        account = r.json()
        pending = http.get(f"/v1/ledger/transfers/{pending_id}").json()
    assert (account["debits_posted"], account["debits_pending"]) == (600, 0)
    assert (pending["state"], pending["posted_amount"]) == ("posted", 600)
    assert running_server.verify().ok


def test_fifty_identical_keyed_requests_answer_one_creation_and_forty_nine_replays(
    running_server: Server,
) -> None:
    with running_server.client() as http:
        bank = _account(http, [])
        wallet = _account(http, NO_OVERDRAFT)
    key = f"same-{uuid.uuid4()}"
    start = threading.Barrier(50)

    def send(_: int) -> httpx.Response:
        with running_server.client(timeout=60) as http:
            http.get("/healthz")
            start.wait()
            return http.post(
                "/v1/ledger/transfers",
                json=Leg(bank, wallet, 4_321).body(),
                headers={"Idempotency-Key": key},
            )

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(send, range(50)))

    assert [r.status_code for r in responses] == [201] * 50
    assert len({r.json()["id"] for r in responses}) == 1
    replayed = [r.headers.get("Idempotent-Replayed") == "true" for r in responses]
    assert replayed.count(False) == 1
    assert len(_stored(running_server.database_url)[f"operator:transfer:{key}"]) == 1
    with running_server.client() as http:
        assert http.get(f"/v1/ledger/accounts/{wallet}").json()["credits_posted"] == 4_321
