"""Properties of transfer batches over HTTP: any batch leaves exactly the balances a simple
model predicts (linked: all or nothing), and retrying it with its key moves nothing twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.ledger.support import NO_OVERDRAFT, api_account, api_body, api_transfer

BANK = 0  # account 0 has no flags; the others are no-overdraft wallets
ACCOUNTS = 4


@dataclass(frozen=True)
class Planned:
    debit: int
    credit: int
    amount: int
    balancing: bool  # move at most what the debit wallet holds


@dataclass(frozen=True)
class Expected:
    status: str  # created | replayed | failed
    code: str | None = None
    amount: int | None = None


class Book:
    """The model: each account's posted balance (credits minus debits)."""

    def __init__(self, funding: list[int]) -> None:
        self.balance = [-sum(funding), *funding]

    def apply(self, plan: Planned) -> Expected:
        if plan.debit == plan.credit:
            return Expected("failed", "accounts_must_be_different")
        amount = plan.amount
        if plan.debit != BANK:
            room = self.balance[plan.debit]
            if plan.balancing:
                amount = min(amount, room)
            if amount > room or amount == 0:
                return Expected("failed", "exceeds_credits")
        self.balance[plan.debit] -= amount
        self.balance[plan.credit] += amount
        return Expected("created", amount=amount)

    def run(self, plans: list[Planned], linked: bool, done: dict[int, int]) -> list[Expected]:
        """Expected results of a batch; `done` maps an index already created to its amount
        (a retry replays it)."""
        saved = list(self.balance)
        results: list[Expected] = []
        for index, plan in enumerate(plans):
            if index in done:
                results.append(Expected("replayed", amount=done[index]))
                continue
            result = self.apply(plan)
            results.append(result)
            if linked and result.status == "failed":
                self.balance = saved
                failed = [Expected("failed", "linked_event_failed")] * len(plans)
                failed[index] = result
                return failed
        return results


plans = st.builds(
    Planned,
    debit=st.integers(0, ACCOUNTS - 1),
    credit=st.integers(0, ACCOUNTS - 1),
    amount=st.integers(1, 1_500),
    balancing=st.booleans(),
)


def _send(
    client: TestClient, ids: list[str], batch: list[Planned], linked: bool, key: str
) -> list[dict[str, Any]]:
    body = {
        "linked": linked,
        "transfers": [
            api_body(
                ids[p.debit],
                ids[p.credit],
                p.amount,
                **({"balancing": "debit"} if p.balancing else {}),
            )
            for p in batch
        ],
    }
    r = client.post("/v1/ledger/transfers/batch", json=body, headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def _seen(results: list[dict[str, Any]]) -> list[Expected]:
    return [
        Expected(r["status"], r["error"]["code"])
        if r["status"] == "failed"
        else Expected(r["status"], amount=r["transfer"]["amount"])
        for r in results
    ]


def _balances(client: TestClient, ids: list[str]) -> list[int]:
    r = client.get("/v1/ledger/accounts", params=[("id", i) for i in ids])
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    for wallet in data[1:]:
        assert wallet["debits_posted"] + wallet["debits_pending"] <= wallet["credits_posted"]
    return [a["credits_posted"] - a["debits_posted"] for a in data]


@settings(max_examples=40, deadline=None)
@given(
    funding=st.lists(st.integers(0, 2_000), min_size=ACCOUNTS - 1, max_size=ACCOUNTS - 1),
    batch=st.lists(plans, min_size=1, max_size=6),
    linked=st.booleans(),
)
def test_a_batch_and_its_retry_leave_the_balances_the_model_predicts(
    client: TestClient, funding: list[int], batch: list[Planned], linked: bool
) -> None:
    key = f"property-{uuid.uuid4()}"  # unique per example: the database outlives them
    ids = [api_account(client), *(api_account(client, NO_OVERDRAFT) for _ in funding)]
    for wallet, amount in zip(ids[1:], funding, strict=True):
        if amount:
            api_transfer(client, ids[BANK], wallet, amount)
    book = Book(funding)

    first = _send(client, ids, batch, linked, key)
    assert _seen(first) == book.run(batch, linked, {})
    assert _balances(client, ids) == book.balance

    created = {r["index"]: r["transfer"]["amount"] for r in first if r["status"] == "created"}
    retry = _send(client, ids, batch, linked, key)
    assert _seen(retry) == book.run(batch, linked, created)
    for index in created:  # a replay is the very transfer the first request made
        assert retry[index]["transfer"]["id"] == first[index]["transfer"]["id"]
    assert _balances(client, ids) == book.balance
    assert sum(book.balance) == 0
