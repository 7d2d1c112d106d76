"""Money is conserved and moved exactly once under real concurrency (many connections)."""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openbank.core.clock import SystemClock
from openbank.core.database import Database, connect, unit_of_work
from openbank.ledger import service
from openbank.ledger.errors import ExceedsCredits
from openbank.ledger.schemas import TransferCreate
from openbank.ledger.writer import LedgerWriter
from tests.ledger.support import NO_OVERDRAFT, accounts, balance, move, open_account

ACCOUNTS = 12
FUNDS = 10_000


def _funded_accounts(db: Database) -> list[uuid.UUID]:
    bank = open_account(db)
    wallets = [open_account(db, NO_OVERDRAFT) for _ in range(ACCOUNTS)]
    for wallet in wallets:
        move(db, bank, wallet, FUNDS)
    return wallets


def test_random_transfers_on_16_connections_conserve_money_and_never_overdraw(
    db: Database,
) -> None:
    wallets = _funded_accounts(db)
    total = ACCOUNTS * FUNDS
    stop = threading.Event()
    reads: list[list[int]] = []
    outcomes = {"moved": 0, "refused": 0}
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            debit, credit = rng.sample(wallets, 2)
            try:
                move(db, debit, credit, rng.randint(1, 3_000))
                with lock:
                    outcomes["moved"] += 1
            except ExceedsCredits:
                with lock:
                    outcomes["refused"] += 1

    def reader() -> None:
        while not stop.is_set():
            reads.append([balance(a) for a in accounts(db, wallets)])

    readers = [threading.Thread(target=reader) for _ in range(2)]
    for thread in readers:
        thread.start()
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(writer, range(16)))
    stop.set()
    for thread in readers:
        thread.join()

    assert outcomes["moved"] > 100  # the test really moved money concurrently
    assert reads, "readers observed the accounts"
    for snapshot in reads:
        assert sum(snapshot) == total
        assert min(snapshot) >= 0
    final = [balance(a) for a in accounts(db, wallets)]
    assert sum(final) == total
    assert min(final) >= 0


def test_concurrent_spends_of_one_balance_never_overdraw_it(db: Database) -> None:
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    move(db, bank, wallet, 1_000)

    def spend(_: int) -> bool:
        try:
            move(db, wallet, bank, 300)
        except ExceedsCredits:
            return False
        return True

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(spend, range(16)))
    assert results.count(True) == 3
    assert balance(accounts(db, [wallet])[0]) == 100


def test_fifty_concurrent_identical_requests_make_one_transfer(db: Database) -> None:
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    key = f"retry-{uuid.uuid4()}"

    with ThreadPoolExecutor(max_workers=50) as pool:
        transfers = list(pool.map(lambda _: move(db, bank, wallet, 700, key=key), range(50)))

    assert len({t.id for t in transfers}) == 1
    assert balance(accounts(db, [wallet])[0]) == 700


def test_identical_requests_through_two_processes_writers_make_one_transfer(
    db: Database,
) -> None:
    """Two group-commit writers (as two API processes have) race on the same keys."""
    bank = open_account(db)
    wallet = open_account(db, NO_OVERDRAFT)
    writers = [LedgerWriter(lambda: connect(db.settings), SystemClock()).start() for _ in range(2)]
    keys = [f"k-{uuid.uuid4()}" for _ in range(20)]
    try:

        def send(index: int) -> Any:
            key = keys[index % len(keys)]
            spec = TransferCreate(
                debit_account_id=bank,
                credit_account_id=wallet,
                amount=10,
                currency="CNY",
                code="race",
            )
            command = service.transfer_command(spec, key)
            (outcome,) = service.submit(writers[index % 2], [command]).result(timeout=30)
            return service.single_transfer(outcome).id

        with ThreadPoolExecutor(max_workers=32) as pool:
            ids = list(pool.map(send, range(200)))
    finally:
        for writer in writers:
            writer.stop()

    assert len(set(ids)) == len(keys)
    assert balance(accounts(db, [wallet])[0]) == 10 * len(keys)


def test_hot_account_receiving_from_many_connections_loses_no_update(db: Database) -> None:
    merchant = open_account(db)
    payers = _funded_accounts(db)

    def pay(index: int) -> None:
        move(db, payers[index % len(payers)], merchant, 7)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(pay, range(400)))
    (account,) = accounts(db, [merchant])
    assert account.credits_posted == 400 * 7
    entries = unit_of_work(db, lambda s: service.list_entries(s, merchant, None, 1000))[0]
    assert [e.seq for e in entries] == list(range(1, 401))
    assert entries[-1].credits_posted == 400 * 7
