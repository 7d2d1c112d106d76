"""Several group-commit writers at once, as several API processes on one database run them:
money is conserved in every snapshot a reader takes, no wallet is ever overdrawn, and a
pending transfer is resolved at most once."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import pytest

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, connect
from openbank.core.settings import Settings
from openbank.ledger import service
from openbank.ledger.engine import Outcome, TransferCommand
from openbank.ledger.schemas import Account, PendingResolution
from openbank.ledger.writer import LedgerWriter
from tests.ledger.support import NO_OVERDRAFT, accounts, funded_wallet, open_account, spec

PROCESSES = 4  # one writer (and connection) per simulated API process
SUBMITTERS = 16
READERS = 3
WALLETS = 10
FUNDS = 5_000
ROUNDS = 25


@pytest.fixture
def writers(settings: Settings) -> Iterator[list[LedgerWriter]]:
    clock = ShiftedClock()
    started = [LedgerWriter(lambda: connect(settings), clock).start() for _ in range(PROCESSES)]
    yield started
    for writer in started:
        writer.stop()


@dataclass
class Tally:
    """What the submitters saw committed, to predict each wallet's final balance."""

    net: dict[uuid.UUID, int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    created: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def moved(self, debit: uuid.UUID, credit: uuid.UUID, amount: int) -> None:
        with self.lock:
            self.net[debit] -= amount
            self.net[credit] += amount
            self.created += 1

    def refuse(self, code: str) -> None:
        with self.lock:
            self.refused[code] = self.refused.get(code, 0) + 1


def _result(writer: LedgerWriter, commands: list[TransferCommand]) -> list[Outcome]:
    return service.submit(writer, commands).result(timeout=60)


def _conserved(snapshot: list[Account], total: int) -> list[str]:
    """What is wrong with one snapshot of all wallets (nothing, ideally)."""
    problems = []
    if sum(a.credits_posted - a.debits_posted for a in snapshot) != total:
        problems.append("posted balances do not add up to the money put in")
    if sum(a.debits_pending for a in snapshot) != sum(a.credits_pending for a in snapshot):
        problems.append("pending debits differ from pending credits")
    for a in snapshot:
        if a.debits_posted + a.debits_pending > a.credits_posted:
            problems.append(f"wallet {a.id} is overdrawn")
    return problems


def test_random_transfers_through_four_writers_conserve_money_in_every_snapshot(
    db: Database, writers: list[LedgerWriter]
) -> None:
    bank = open_account(db)
    wallets = [funded_wallet(db, bank, FUNDS) for _ in range(WALLETS)]
    total = WALLETS * FUNDS
    tally = Tally(net=dict.fromkeys(wallets, FUNDS))
    done = threading.Event()
    reads: list[list[str]] = []

    def submitter(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(ROUNDS):
            writer = rng.choice(writers)
            debit, credit = rng.sample(wallets, 2)
            amount = rng.randint(1, 2_500)
            kind = rng.random()
            if kind < 0.6:  # a single transfer
                (outcome,) = _result(
                    writer, [service.transfer_command(spec(debit, credit, amount))]
                )
                if outcome.error:
                    tally.refuse(outcome.error.code)
                else:
                    assert outcome.transfer is not None
                    tally.moved(debit, credit, outcome.transfer.amount)
            elif kind < 0.8:  # a linked pair: there and part of it back, or nothing
                specs = [spec(debit, credit, amount), spec(credit, debit, amount // 2 + 1)]
                outcomes = _result(writer, service.batch_commands(specs, None, linked=True))
                errors = [o.error.code for o in outcomes if o.error]
                if errors:
                    assert len(errors) == 2
                    assert errors.count("linked_event_failed") == 1
                    tally.refuse(next(e for e in errors if e != "linked_event_failed"))
                else:
                    tally.moved(debit, credit, amount)
                    tally.moved(credit, debit, amount // 2 + 1)
            else:  # two-phase: reserve, then post part of it or void it, on any writer
                pending = service.transfer_command(spec(debit, credit, amount, pending=True))
                (reserved,) = _result(writer, [pending])
                if reserved.error:
                    tally.refuse(reserved.error.code)
                    continue
                post = rng.random() < 0.5
                part = rng.randint(1, amount)
                resolution = service.resolution_command(
                    pending.id, PendingResolution(amount=part if post else None), post=post
                )
                (resolved,) = _result(rng.choice(writers), [resolution])
                assert resolved.error is None, resolved.error
                if post:
                    tally.moved(debit, credit, part)

    def reader() -> None:
        while not done.is_set():
            reads.append(_conserved(accounts(db, wallets), total))

    readers = [threading.Thread(target=reader) for _ in range(READERS)]
    for thread in readers:
        thread.start()
    try:
        with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
            list(pool.map(submitter, range(SUBMITTERS)))
    finally:
        done.set()
        for thread in readers:
            thread.join()

    assert reads, "no reader got to read"
    assert [problems for problems in reads if problems] == []
    final = accounts(db, wallets)
    assert _conserved(final, total) == []
    assert {a.id: a.credits_posted - a.debits_posted for a in final} == tally.net
    assert all(a.debits_pending == a.credits_pending == 0 for a in final)
    assert tally.created > 0
    assert set(tally.refused) <= {"exceeds_credits"}
    report = service.verify(db)
    assert report.ok, report.problems


def test_fifty_posts_of_one_pending_transfer_through_four_writers_post_it_once(
    db: Database, writers: list[LedgerWriter]
) -> None:
    bank = open_account(db)
    wallet = funded_wallet(db, bank, 1_000)
    pending = service.transfer_command(spec(wallet, bank, 800, pending=True))
    (reserved,) = _result(writers[0], [pending])
    assert reserved.error is None

    def post(n: int) -> Outcome:
        command = service.resolution_command(pending.id, PendingResolution(), post=True)
        (outcome,) = _result(writers[n % PROCESSES], [command])
        return outcome

    with ThreadPoolExecutor(max_workers=25) as pool:
        outcomes = list(pool.map(post, range(50)))

    codes = sorted(o.error.code if o.error else "posted" for o in outcomes)
    assert codes == ["pending_transfer_already_posted"] * 49 + ["posted"]
    (after,) = accounts(db, [wallet])
    assert (after.debits_posted, after.debits_pending, after.credits_posted) == (800, 0, 1_000)


def test_a_post_and_a_void_racing_through_two_writers_resolve_the_pending_transfer_once(
    db: Database, writers: list[LedgerWriter]
) -> None:
    bank = open_account(db)
    wallet = funded_wallet(db, bank, 1_000)
    outcomes: list[str] = []
    for _ in range(10):
        pending = service.transfer_command(spec(wallet, bank, 100, pending=True))
        (reserved,) = _result(writers[0], [pending])
        assert reserved.error is None
        post = service.resolution_command(pending.id, PendingResolution(), post=True)
        void = service.resolution_command(pending.id, PendingResolution(), post=False)
        racing = [service.submit(writers[1], [post]), service.submit(writers[2], [void])]
        results = [future.result(timeout=60)[0] for future in racing]
        winners = [o for o in results if o.error is None]
        assert len(winners) == 1
        loser = next(o for o in results if o.error is not None)
        assert loser.error is not None
        assert loser.error.code in {
            "pending_transfer_already_posted",
            "pending_transfer_already_voided",
        }
        outcomes.append("posted" if winners[0] is results[0] else "voided")
    (after,) = accounts(db, [wallet])
    assert after.debits_pending == 0
    assert after.debits_posted == 100 * outcomes.count("posted")


def test_identical_keyed_requests_through_every_writer_make_one_transfer(
    db: Database, writers: list[LedgerWriter]
) -> None:
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    key = f"operator:{uuid.uuid4()}"
    first = service.transfer_command(spec(bank, wallet, 250), key)
    # Every copy carries its own server-chosen id, as separate HTTP requests would.
    copies = [replace(first, id=uuid.uuid4()) for _ in range(40)]
    futures = [service.submit(writers[n % PROCESSES], [c]) for n, c in enumerate(copies)]
    outcomes = [future.result(timeout=60)[0] for future in futures]

    assert all(o.error is None for o in outcomes)
    assert len({o.transfer.id for o in outcomes if o.transfer}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    (after,) = accounts(db, [wallet])
    assert after.credits_posted == 250
