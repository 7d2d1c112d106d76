"""Property: any sequence of ledger operations leaves exactly the balances a simple model
predicts, and the ledger's invariants hold after every step."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from openbank.core.database import Database, unit_of_work
from openbank.ledger import service
from openbank.ledger.engine import TransferCommand
from openbank.ledger.schemas import PendingResolution, TransferCreate
from tests.ledger.support import NO_OVERDRAFT, accounts, open_account, utcnow

WALLETS = 3
START = 1_000


@dataclass
class Model:
    """Expected posted/pending balances per account and the open pending transfers."""

    posted: dict[uuid.UUID, int] = field(default_factory=dict)  # credits - debits
    reserved: dict[uuid.UUID, int] = field(default_factory=dict)  # pending debits
    incoming: dict[uuid.UUID, int] = field(default_factory=dict)  # pending credits
    pending: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID, int, datetime | None]] = field(
        default_factory=dict
    )

    def available(self, account: uuid.UUID) -> int:
        return self.posted[account] - self.reserved[account]


class LedgerMachine(RuleBasedStateMachine):
    db: Database  # set by the test below

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.clock = utcnow()

    @initialize()
    def open_accounts(self) -> None:
        self.bank = open_account(self.db)
        self.wallets = [open_account(self.db, NO_OVERDRAFT) for _ in range(WALLETS)]
        for account in [self.bank, *self.wallets]:
            self.model.posted[account] = 0
            self.model.reserved[account] = 0
            self.model.incoming[account] = 0
        for wallet in self.wallets:
            self._apply([self._command(self.bank, wallet, START)])
            self.model.posted[self.bank] -= START
            self.model.posted[wallet] += START

    # -- helpers ------------------------------------------------------------------------
    def _command(
        self, debit: uuid.UUID, credit: uuid.UUID, amount: int, **extra: object
    ) -> TransferCommand:
        spec = TransferCreate.model_validate(
            {
                "debit_account_id": debit,
                "credit_account_id": credit,
                "amount": amount,
                "currency": "CNY",
                "code": "property",
                **extra,
            }
        )
        return service.transfer_command(spec)

    def _apply(self, commands: list[TransferCommand]) -> list[str]:
        outcomes = unit_of_work(self.db, lambda s: service.execute(s, commands, self.clock))
        return [o.error.code if o.error else "ok" for o in outcomes]

    def _fits(self, debit: uuid.UUID, amount: int) -> bool:
        return debit == self.bank or self.model.available(debit) >= amount

    # -- rules --------------------------------------------------------------------------
    @rule(a=st.integers(0, WALLETS - 1), b=st.integers(0, WALLETS - 1), amount=st.integers(1, 900))
    def transfer(self, a: int, b: int, amount: int) -> None:
        debit, credit = self.wallets[a], self.wallets[b]
        (result,) = self._apply([self._command(debit, credit, amount)])
        if debit == credit:
            assert result == "accounts_must_be_different"
        elif self._fits(debit, amount):
            assert result == "ok"
            self.model.posted[debit] -= amount
            self.model.posted[credit] += amount
        else:
            assert result == "exceeds_credits"

    @rule(
        a=st.integers(0, WALLETS - 1),
        amount=st.integers(1, 900),
        timeout=st.one_of(st.none(), st.integers(1, 120)),
    )
    def reserve(self, a: int, amount: int, timeout: int | None) -> None:
        debit = self.wallets[a]
        command = self._command(debit, self.bank, amount, pending=True, timeout_seconds=timeout)
        (result,) = self._apply([command])
        if self._fits(debit, amount):
            assert result == "ok"
            self.model.reserved[debit] += amount
            self.model.incoming[self.bank] += amount
            expires = self.clock + timedelta(seconds=timeout) if timeout else None
            self.model.pending[command.id] = (debit, self.bank, amount, expires)
        else:
            assert result == "exceeds_credits"

    @precondition(lambda self: bool(self.model.pending))
    @rule(data=st.data(), post=st.booleans(), part=st.floats(0.0, 1.0))
    def resolve(self, data: st.DataObject, post: bool, part: float) -> None:
        pending_id = data.draw(st.sampled_from(sorted(self.model.pending)))
        debit, credit, amount, expires = self.model.pending[pending_id]
        posted = max(1, int(amount * part)) if post else None
        command = service.resolution_command(
            pending_id, PendingResolution(amount=posted), post=post
        )
        (result,) = self._apply([command])
        if expires is not None and expires <= self.clock:
            assert result == "pending_transfer_expired"
            return
        assert result == "ok"
        del self.model.pending[pending_id]
        self.model.reserved[debit] -= amount
        self.model.incoming[credit] -= amount
        if posted:
            self.model.posted[debit] -= posted
            self.model.posted[credit] += posted

    @rule(seconds=st.integers(1, 200))
    def time_passes(self, seconds: int) -> None:
        self.clock += timedelta(seconds=seconds)
        unit_of_work(self.db, lambda s: service.expire_pending_transfers(s, self.clock))
        for pending_id, (debit, credit, amount, expires) in list(self.model.pending.items()):
            if expires is not None and expires <= self.clock:
                del self.model.pending[pending_id]
                self.model.reserved[debit] -= amount
                self.model.incoming[credit] -= amount

    @rule(amounts=st.lists(st.integers(1, 700), min_size=2, max_size=4), linked=st.booleans())
    def batch(self, amounts: list[int], linked: bool) -> None:
        """A chain of transfers from wallet 0 to wallet 1 (linked: all or nothing)."""
        debit, credit = self.wallets[0], self.wallets[1]
        commands = [self._command(debit, credit, amount) for amount in amounts]
        if linked:
            last = len(commands) - 1
            commands = [replace(c, linked=i < last) for i, c in enumerate(commands)]
        results = self._apply(commands)
        available = self.model.available(debit)
        if linked:
            if sum(amounts) <= available:
                assert results == ["ok"] * len(amounts)
                self.model.posted[debit] -= sum(amounts)
                self.model.posted[credit] += sum(amounts)
            else:
                assert results.count("exceeds_credits") == 1
                assert results.count("linked_event_failed") == len(amounts) - 1
        else:
            for amount, result in zip(amounts, results, strict=True):
                if amount <= available:
                    assert result == "ok"
                    available -= amount
                    self.model.posted[debit] -= amount
                    self.model.posted[credit] += amount
                else:
                    assert result == "exceeds_credits"

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def balances_match_the_model(self) -> None:
        if not self.model.posted:
            return
        for account in accounts(self.db, list(self.model.posted)):
            assert account.credits_posted - account.debits_posted == self.model.posted[account.id]
            assert account.debits_pending == self.model.reserved[account.id]
            assert account.credits_pending == self.model.incoming[account.id]

    @invariant()
    def money_is_conserved_and_wallets_never_overdrawn(self) -> None:
        if not self.model.posted:
            return
        snapshot = accounts(self.db, list(self.model.posted))
        assert sum(a.credits_posted - a.debits_posted for a in snapshot) == 0
        assert sum(a.debits_pending for a in snapshot) == sum(a.credits_pending for a in snapshot)
        for account in snapshot[1:]:
            assert account.debits_posted + account.debits_pending <= account.credits_posted


def test_ledger_matches_its_model_under_random_operations(fresh_db: Database) -> None:
    # A database of its own: the session app's expiry sweeper runs on a shifted clock and
    # would release this machine's pending transfers behind the model's back.
    LedgerMachine.db = fresh_db
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine().runTest()
