"""The ledger state machine: applies a batch of transfer commands in one database transaction.

Design (measured in bench/ledger_bench.py, see docs/benchmarks.md):

* Every account a batch touches is locked once, `SELECT ... ORDER BY id FOR UPDATE`, so
  concurrent batches from any number of processes take locks in one global order and cannot
  deadlock each other.
* The rules (balance flags, two-phase, linked chains, exactly-once) run here in Python over the
  locked rows, and the whole result is written by one statement (see `_WRITE`).
  A batch of N transfers costs three round trips instead of N transactions, which is
  what keeps a hot account (every transfer credits one merchant) from serialising throughput
  on its row lock: the lock is taken once per batch, not once per transfer.
* A pending transfer changes state only while both of its accounts are locked, so reading it
  after taking the account locks is enough to post or void it at most once.
* Exactly once: a transfer's id and its idempotency key are unique in the database; a retry
  finds the first result and compares fingerprints. A race between two processes inserting
  the same id or key ends in `ON CONFLICT DO NOTHING` inserting fewer rows, and the batch is
  retried, where the retry sees the winner's row.
* Each entry carries the account's running balances and a SHA-256 over the previous entry's
  hash and its own fields, so any edit of the journal is detectable by `verify`.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
import psycopg

from openbank.core.database import RetryableConflict
from openbank.ledger import errors

TransferKind = Literal["single", "pending", "post_pending", "void_pending", "expire_pending"]
Balancing = Literal["debit", "credit"]

GENESIS_HASH = bytes(32)
MAX_BALANCE = 2**63 - 1  # balances are PostgreSQL bigint
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ConcurrentInsert(RetryableConflict):
    """Another transaction inserted a transfer with one of this batch's ids or keys."""


@dataclass(frozen=True, slots=True)
class TransferCommand:
    """One requested change. `linked` chains it with the next command: all or none apply."""

    kind: TransferKind
    id: uuid.UUID
    debit_account_id: uuid.UUID | None = None
    credit_account_id: uuid.UUID | None = None
    amount: int | None = None
    currency: str | None = None
    code: str = ""
    pending_id: uuid.UUID | None = None
    timeout_seconds: int | None = None
    balancing: Balancing | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    id_given: bool = False
    linked: bool = False
    # A batch request's commands carry the hash of the whole request, and point at its first
    # command's key: a retry of the key with another body is refused as a whole.
    request_fingerprint: bytes | None = None
    anchor_key: str | None = None
    anchor_fingerprint: bytes | None = None

    def fingerprint(self) -> bytes:
        """What makes two requests "the same" (the server-chosen id is not part of it)."""
        return hashlib.sha256(
            orjson.dumps(
                [
                    self.request_fingerprint.hex() if self.request_fingerprint else None,
                    self.kind,
                    str(self.debit_account_id) if self.debit_account_id else None,
                    str(self.credit_account_id) if self.credit_account_id else None,
                    self.amount,
                    self.currency,
                    self.code,
                    str(self.pending_id) if self.pending_id else None,
                    self.timeout_seconds,
                    self.balancing,
                    self.metadata,
                ],
                option=orjson.OPT_SORT_KEYS,
            )
        ).digest()


@dataclass(slots=True)
class TransferRow:
    id: uuid.UUID
    kind: str
    state: str
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: int
    currency: str
    code: str
    pending_id: uuid.UUID | None
    posted_amount: int | None
    timeout_seconds: int | None
    expires_at: datetime | None
    balancing: str | None
    metadata: dict[str, Any]
    idempotency_key: str | None
    fingerprint: bytes
    created_at: datetime
    resolved_at: datetime | None


TRANSFER_COLUMNS = (
    "id, kind, state, debit_account_id, credit_account_id, amount, currency, code, pending_id,"
    " posted_amount, timeout_seconds, expires_at, balancing, metadata, idempotency_key,"
    " fingerprint, created_at, resolved_at"
)


def transfer_from_row(row: Sequence[Any]) -> TransferRow:
    names = TransferRow.__slots__
    values = dict(zip(names, row, strict=True))
    values["fingerprint"] = bytes(values["fingerprint"])
    return TransferRow(**values)


@dataclass(slots=True)
class Outcome:
    """The result of one command: the transfer (new or replayed) or the error refusing it."""

    transfer: TransferRow | None = None
    error: errors.LedgerError | None = None
    replayed: bool = False


@dataclass(slots=True)
class _Account:
    id: uuid.UUID
    currency: str
    debits_must_not_exceed_credits: bool
    credits_must_not_exceed_debits: bool
    closed: bool
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    entry_count: int
    last_hash: bytes
    dirty: bool = False
    id_bytes: bytes = b""

    def __post_init__(self) -> None:
        self.id_bytes = self.id.bytes

    def snapshot(self) -> tuple[int, int, int, int, int, bytes, bool]:
        return (
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
            self.entry_count,
            self.last_hash,
            self.dirty,
        )

    def restore(self, state: tuple[int, int, int, int, int, bytes, bool]) -> None:
        (
            self.debits_posted,
            self.credits_posted,
            self.debits_pending,
            self.credits_pending,
            self.entry_count,
            self.last_hash,
            self.dirty,
        ) = state


SIDES = {"debit": 0, "credit": 1}
EFFECTS = {"posted": 0, "pending": 1, "post": 2, "void": 3, "expire": 4}
# What an entry's hash covers, after the previous entry's hash: account id, seq, transfer id,
# side, effect, amount, the four balances after it, and its time in microseconds.
_ENTRY_LAYOUT = struct.Struct(">16sq16sBBqqqqqq")


def micros_since_epoch(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def entry_digest(
    prev_hash: bytes,
    account_id: bytes,
    seq: int,
    transfer_id: bytes,
    side: int,
    effect: int,
    amount: int,
    balances: tuple[int, int, int, int],
    micros: int,
) -> bytes:
    payload = _ENTRY_LAYOUT.pack(
        account_id, seq, transfer_id, side, effect, amount, *balances, micros
    )
    return hashlib.sha256(prev_hash + payload).digest()


def entry_hash(
    prev_hash: bytes,
    account_id: uuid.UUID,
    seq: int,
    transfer_id: uuid.UUID,
    side: str,
    effect: str,
    amount: int,
    balances: tuple[int, int, int, int],
    created_at: datetime,
) -> bytes:
    """The hash of a journal entry as stored (used by `verify` to recompute the chain)."""
    return entry_digest(
        prev_hash,
        account_id.bytes,
        seq,
        transfer_id.bytes,
        SIDES[side],
        EFFECTS[effect],
        amount,
        balances,
        micros_since_epoch(created_at),
    )


class _Batch:
    """In-memory state of one batch: the locked accounts and everything to write."""

    def __init__(
        self,
        now: datetime,
        accounts: dict[uuid.UUID, _Account],
        known: dict[uuid.UUID, TransferRow],
        by_key: dict[str, TransferRow],
    ) -> None:
        self.now = now
        self.micros = micros_since_epoch(now)
        self.accounts = accounts
        self.known = known  # transfers by id: looked up, or created in this batch
        self.by_key = by_key
        self.new_transfers: list[TransferRow] = []
        self.new_ids: set[uuid.UUID] = set()
        self.resolved: dict[uuid.UUID, TransferRow] = {}  # stored pending transfers changed here
        self.entries: list[tuple[Any, ...]] = []
        self._undo: list[tuple[str, Any]] | None = None

    # -- chain undo ---------------------------------------------------------------------
    def begin_chain(self) -> None:
        self._undo = []

    def end_chain(self) -> None:
        self._undo = None

    def rollback_chain(self, marks: tuple[int, int]) -> None:
        assert self._undo is not None
        for what, saved in reversed(self._undo):
            if what == "account":
                account, state = saved
                account.restore(state)
            elif what == "resolved":
                transfer, state, posted_amount, resolved_at, was_resolved = saved
                transfer.state, transfer.posted_amount, transfer.resolved_at = (
                    state,
                    posted_amount,
                    resolved_at,
                )
                if not was_resolved:
                    self.resolved.pop(transfer.id, None)
        for transfer in self.new_transfers[marks[0] :]:
            self.known.pop(transfer.id, None)
            self.new_ids.discard(transfer.id)
            if transfer.idempotency_key is not None:
                self.by_key.pop(transfer.idempotency_key, None)
        del self.new_transfers[marks[0] :]
        del self.entries[marks[1] :]
        self._undo = []

    def marks(self) -> tuple[int, int]:
        return len(self.new_transfers), len(self.entries)

    # -- mutations ----------------------------------------------------------------------
    def _save(self, account: _Account) -> None:
        if self._undo is not None:
            self._undo.append(("account", (account, account.snapshot())))

    def post_entry(
        self,
        account: _Account,
        transfer_id: uuid.UUID,
        side: str,
        effect: str,
        amount: int,
        d_posted: int = 0,
        c_posted: int = 0,
        d_pending: int = 0,
        c_pending: int = 0,
    ) -> None:
        self._save(account)
        account.debits_posted += d_posted
        account.credits_posted += c_posted
        account.debits_pending += d_pending
        account.credits_pending += c_pending
        account.entry_count += 1
        balances = (
            account.debits_posted,
            account.credits_posted,
            account.debits_pending,
            account.credits_pending,
        )
        digest = entry_digest(
            account.last_hash,
            account.id_bytes,
            account.entry_count,
            transfer_id.bytes,
            SIDES[side],
            EFFECTS[effect],
            amount,
            balances,
            self.micros,
        )
        account.last_hash = digest
        account.dirty = True
        self.entries.append(
            (account.id, account.entry_count, transfer_id, side, effect, amount, *balances, digest)
        )

    def add_transfer(self, transfer: TransferRow) -> None:
        self.new_transfers.append(transfer)
        self.new_ids.add(transfer.id)
        self.known[transfer.id] = transfer
        if transfer.idempotency_key is not None:
            self.by_key[transfer.idempotency_key] = transfer

    def resolve(self, pending: TransferRow, state: str, posted_amount: int | None) -> None:
        if self._undo is not None:
            self._undo.append(
                (
                    "resolved",
                    (
                        pending,
                        pending.state,
                        pending.posted_amount,
                        pending.resolved_at,
                        pending.id in self.resolved,
                    ),
                )
            )
        pending.state = state
        pending.posted_amount = posted_amount
        pending.resolved_at = self.now
        if pending.id not in self.new_ids:  # a new row is inserted with its final state
            self.resolved[pending.id] = pending


def _account(batch: _Batch, account_id: uuid.UUID | None, missing: type[Exception]) -> _Account:
    account = batch.accounts.get(account_id) if account_id is not None else None
    if account is None:
        raise missing()
    return account


def _replay(batch: _Batch, command: TransferCommand, fingerprint: bytes) -> Outcome | None:
    """The first result of a retried command, or None for a new one."""
    if command.anchor_key is not None:
        anchor = batch.by_key.get(command.anchor_key)
        if anchor is not None and anchor.fingerprint != command.anchor_fingerprint:
            raise errors.IdempotencyKeyReused()
    if command.idempotency_key is not None:
        first = batch.by_key.get(command.idempotency_key)
        if first is not None:
            if first.fingerprint != fingerprint or (command.id_given and first.id != command.id):
                raise errors.IdempotencyKeyReused()
            return Outcome(transfer=first, replayed=True)
    existing = batch.known.get(command.id)
    if existing is not None:
        if existing.fingerprint != fingerprint:
            raise errors.TransferExistsWithDifferentFields()
        return Outcome(transfer=existing, replayed=True)
    return None


def _release(batch: _Batch, pending: TransferRow, effect: str, transfer_id: uuid.UUID) -> None:
    debit = batch.accounts[pending.debit_account_id]
    credit = batch.accounts[pending.credit_account_id]
    batch.post_entry(debit, transfer_id, "debit", effect, pending.amount, d_pending=-pending.amount)
    batch.post_entry(
        credit, transfer_id, "credit", effect, pending.amount, c_pending=-pending.amount
    )


def _pending_for(batch: _Batch, command: TransferCommand) -> TransferRow:
    pending = batch.known.get(command.pending_id) if command.pending_id else None
    if pending is None:
        raise errors.PendingTransferNotFound()
    if pending.kind != "pending":
        raise errors.PendingTransferNotPending()
    if pending.state == "posted":
        raise errors.PendingTransferAlreadyPosted()
    if pending.state == "voided":
        raise errors.PendingTransferAlreadyVoided()
    if pending.state == "expired":
        raise errors.PendingTransferExpired()
    return pending


def _new_row(
    batch: _Batch,
    command: TransferCommand,
    fingerprint: bytes,
    *,
    kind: str,
    state: str,
    debit: uuid.UUID,
    credit: uuid.UUID,
    amount: int,
    currency: str,
    code: str,
) -> TransferRow:
    expires_at = None
    if kind == "pending" and command.timeout_seconds:
        expires_at = batch.now + timedelta(seconds=command.timeout_seconds)
    return TransferRow(
        id=command.id,
        kind=kind,
        state=state,
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency=currency,
        code=code,
        pending_id=command.pending_id,
        posted_amount=None,
        timeout_seconds=command.timeout_seconds if kind == "pending" else None,
        expires_at=expires_at,
        balancing=command.balancing,
        metadata=command.metadata,
        idempotency_key=command.idempotency_key,
        fingerprint=fingerprint,
        created_at=batch.now,
        resolved_at=None,
    )


def _apply(batch: _Batch, command: TransferCommand) -> Outcome:
    """Apply one command to the batch state, or raise the LedgerError that refuses it."""
    if command.kind == "expire_pending":
        pending = batch.known.get(command.pending_id) if command.pending_id else None
        if pending is not None and pending.state == "pending":
            _release(batch, pending, "expire", pending.id)
            batch.resolve(pending, "expired", None)
        return Outcome(transfer=pending)

    fingerprint = command.fingerprint()
    replay = _replay(batch, command, fingerprint)
    if replay is not None:
        return replay

    if command.kind in ("post_pending", "void_pending"):
        pending = _pending_for(batch, command)
        if pending.expires_at is not None and pending.expires_at <= batch.now:
            raise errors.PendingTransferExpired()
        if command.kind == "void_pending":
            row = _new_row(
                batch,
                command,
                fingerprint,
                kind="void_pending",
                state="voided",
                debit=pending.debit_account_id,
                credit=pending.credit_account_id,
                amount=pending.amount,
                currency=pending.currency,
                code=command.code or pending.code,
            )
            _release(batch, pending, "void", row.id)
            batch.resolve(pending, "voided", None)
        else:
            amount = pending.amount if command.amount is None else command.amount
            if amount <= 0:
                raise errors.AmountMustBePositive()
            if amount > pending.amount:
                raise errors.ExceedsPendingTransferAmount()
            row = _new_row(
                batch,
                command,
                fingerprint,
                kind="post_pending",
                state="posted",
                debit=pending.debit_account_id,
                credit=pending.credit_account_id,
                amount=amount,
                currency=pending.currency,
                code=command.code or pending.code,
            )
            debit = batch.accounts[pending.debit_account_id]
            credit = batch.accounts[pending.credit_account_id]
            batch.post_entry(
                debit, row.id, "debit", "post", amount, d_posted=amount, d_pending=-pending.amount
            )
            batch.post_entry(
                credit, row.id, "credit", "post", amount, c_posted=amount, c_pending=-pending.amount
            )
            batch.resolve(pending, "posted", amount)
        batch.add_transfer(row)
        return Outcome(transfer=row)

    # single or pending
    if command.amount is None or command.amount <= 0:
        raise errors.AmountMustBePositive()
    if command.timeout_seconds and command.kind != "pending":
        raise errors.TimeoutReservedForPendingTransfer()
    if command.debit_account_id == command.credit_account_id:
        raise errors.AccountsMustBeDifferent()
    debit = _account(batch, command.debit_account_id, errors.DebitAccountNotFound)
    credit = _account(batch, command.credit_account_id, errors.CreditAccountNotFound)
    if debit.currency != command.currency or credit.currency != command.currency:
        raise errors.CurrencyMismatch(
            f"transfer in {command.currency}, debit account in {debit.currency},"
            f" credit account in {credit.currency}"
        )
    if debit.closed:
        raise errors.DebitAccountClosed()
    if credit.closed:
        raise errors.CreditAccountClosed()

    amount = command.amount
    debit_room = (
        debit.credits_posted - debit.debits_posted - debit.debits_pending
        if debit.debits_must_not_exceed_credits
        else None
    )
    credit_room = (
        credit.debits_posted - credit.credits_posted - credit.credits_pending
        if credit.credits_must_not_exceed_debits
        else None
    )
    # A balancing transfer moves at most what the account can give (or take).
    if command.balancing == "debit" and debit_room is not None:
        amount = min(amount, max(debit_room, 0))
    if command.balancing == "credit" and credit_room is not None:
        amount = min(amount, max(credit_room, 0))
    if debit_room is not None and (amount > debit_room or amount == 0):
        raise errors.ExceedsCredits(f"the debit account can give at most {max(debit_room, 0)}")
    if credit_room is not None and (amount > credit_room or amount == 0):
        raise errors.ExceedsDebits(f"the credit account can take at most {max(credit_room, 0)}")

    if (
        debit.debits_posted + debit.debits_pending + amount > MAX_BALANCE
        or credit.credits_posted + credit.credits_pending + amount > MAX_BALANCE
    ):
        raise errors.OverflowsBalance()

    pending_kind = command.kind == "pending"
    row = _new_row(
        batch,
        command,
        fingerprint,
        kind=command.kind,
        state="pending" if pending_kind else "posted",
        debit=debit.id,
        credit=credit.id,
        amount=amount,
        currency=command.currency or debit.currency,
        code=command.code,
    )
    if pending_kind:
        batch.post_entry(debit, row.id, "debit", "pending", amount, d_pending=amount)
        batch.post_entry(credit, row.id, "credit", "pending", amount, c_pending=amount)
    else:
        batch.post_entry(debit, row.id, "debit", "posted", amount, d_posted=amount)
        batch.post_entry(credit, row.id, "credit", "posted", amount, c_posted=amount)
    batch.add_transfer(row)
    return Outcome(transfer=row)


def _chains(commands: Sequence[TransferCommand]) -> list[list[int]]:
    chains: list[list[int]] = []
    current: list[int] = []
    for index, command in enumerate(commands):
        current.append(index)
        if not command.linked:
            chains.append(current)
            current = []
    if current:
        chains.append(current)  # an open chain at the end is closed by the batch's end
    return chains


def _process(batch: _Batch, commands: Sequence[TransferCommand]) -> list[Outcome]:
    outcomes: list[Outcome] = [Outcome() for _ in commands]
    for chain in _chains(commands):
        if len(chain) == 1:
            index = chain[0]
            try:
                outcomes[index] = _apply(batch, commands[index])
            except errors.LedgerError as exc:
                outcomes[index] = Outcome(error=exc)
            continue
        batch.begin_chain()
        marks = batch.marks()
        failed_at: int | None = None
        for index in chain:
            try:
                outcomes[index] = _apply(batch, commands[index])
            except errors.LedgerError as exc:
                outcomes[index] = Outcome(error=exc)
                failed_at = index
                break
        if failed_at is not None:
            batch.rollback_chain(marks)
            for index in chain:
                if index != failed_at:
                    outcomes[index] = Outcome(error=errors.LinkedEventFailed())
        batch.end_chain()
    return outcomes


# -- database I/O ---------------------------------------------------------------------------

_LOCK_ACCOUNTS = (
    "SELECT id, currency, debits_must_not_exceed_credits, credits_must_not_exceed_debits,"
    " closed, debits_posted, credits_posted, debits_pending, credits_pending, entry_count,"
    " last_entry_hash FROM ledger_accounts WHERE id = ANY(%b) ORDER BY id FOR UPDATE"
)

# The whole write of a batch is one statement. Rows travel as one JSON document per table,
# encoded by orjson and decoded by PostgreSQL, both in C: far cheaper than binding thousands
# of Python values one by one. A transfer id or key that another transaction inserted first
# makes the INSERT skip that row; the count tells, and the batch is retried.
_WRITE = """
WITH new_transfers AS (
    INSERT INTO ledger_transfers (id, kind, state, debit_account_id, credit_account_id, amount,
        currency, code, pending_id, posted_amount, timeout_seconds, expires_at, balancing,
        metadata, idempotency_key, fingerprint, created_at, resolved_at)
    SELECT (t->>0)::uuid, t->>1, t->>2, (t->>3)::uuid, (t->>4)::uuid, (t->>5)::bigint, t->>6,
        t->>7, (t->>8)::uuid, (t->>9)::bigint, (t->>10)::int, (t->>11)::timestamptz, t->>12,
        t->13, t->>14, decode(t->>15, 'hex'), %(now)s,
        CASE WHEN (t->>16)::boolean THEN %(now)s END
    FROM jsonb_array_elements(%(transfers)s::jsonb) AS t
    ON CONFLICT DO NOTHING
    RETURNING 1
), resolved AS (
    UPDATE ledger_transfers AS p
    SET state = r->>1, posted_amount = (r->>2)::bigint, resolved_at = %(now)s
    FROM jsonb_array_elements(%(resolved)s::jsonb) AS r
    WHERE p.id = (r->>0)::uuid AND p.state = 'pending'
    RETURNING 1
), entries AS (
    INSERT INTO ledger_entries (account_id, seq, transfer_id, side, effect, amount,
        debits_posted, credits_posted, debits_pending, credits_pending, hash, created_at)
    SELECT (e->>0)::uuid, (e->>1)::bigint, (e->>2)::uuid, e->>3, e->>4, (e->>5)::bigint,
        (e->>6)::bigint, (e->>7)::bigint, (e->>8)::bigint, (e->>9)::bigint,
        decode(e->>10, 'hex'), %(now)s
    FROM jsonb_array_elements(%(entries)s::jsonb) AS e
), balances AS (
    UPDATE ledger_accounts AS a
    SET debits_posted = (v->>1)::bigint, credits_posted = (v->>2)::bigint,
        debits_pending = (v->>3)::bigint, credits_pending = (v->>4)::bigint,
        entry_count = (v->>5)::bigint, last_entry_hash = decode(v->>6, 'hex')
    FROM jsonb_array_elements(%(accounts)s::jsonb) AS v
    WHERE a.id = (v->>0)::uuid
)
SELECT (SELECT count(*) FROM new_transfers), (SELECT count(*) FROM resolved)
"""


def _json(rows: list[Any]) -> str:
    return orjson.dumps(rows).decode()


def _write(conn: psycopg.Connection[Any], batch: _Batch) -> None:
    transfers = batch.new_transfers
    dirty = [a for a in batch.accounts.values() if a.dirty]
    if not (transfers or batch.resolved or dirty):
        return
    params = {
        "now": batch.now,
        "transfers": _json(
            [
                (
                    t.id,
                    t.kind,
                    t.state,
                    t.debit_account_id,
                    t.credit_account_id,
                    t.amount,
                    t.currency,
                    t.code,
                    t.pending_id,
                    t.posted_amount,
                    t.timeout_seconds,
                    t.expires_at,
                    t.balancing,
                    t.metadata,
                    t.idempotency_key,
                    t.fingerprint.hex(),
                    t.resolved_at is not None,
                )
                for t in transfers
            ]
        ),
        "resolved": _json([(t.id, t.state, t.posted_amount) for t in batch.resolved.values()]),
        "entries": _json([(*e[:10], e[10].hex()) for e in batch.entries]),
        "accounts": _json(
            [
                (
                    a.id,
                    a.debits_posted,
                    a.credits_posted,
                    a.debits_pending,
                    a.credits_pending,
                    a.entry_count,
                    a.last_hash.hex(),
                )
                for a in dirty
            ]
        ),
    }
    row = conn.execute(_WRITE, params).fetchone()
    assert row is not None
    if row[0] != len(transfers) or row[1] != len(batch.resolved):
        raise ConcurrentInsert()


def apply_batch(
    conn: psycopg.Connection[Any], commands: Sequence[TransferCommand], now: datetime
) -> list[Outcome]:
    """Apply `commands` inside the connection's current transaction (the caller commits).

    Raises ConcurrentInsert when another transaction won a race for one of the ids or keys:
    the caller rolls back and calls again.
    """
    if not commands:
        return []
    pending_ids = list({c.pending_id for c in commands if c.pending_id is not None})
    account_ids: set[uuid.UUID] = set()
    for command in commands:
        if command.debit_account_id is not None:
            account_ids.add(command.debit_account_id)
        if command.credit_account_id is not None:
            account_ids.add(command.credit_account_id)
    if pending_ids:
        # Accounts of a transfer never change, so they can be read before locking.
        for debit_id, credit_id in conn.execute(
            "SELECT debit_account_id, credit_account_id FROM ledger_transfers WHERE id = ANY(%s)",
            [pending_ids],
        ):
            account_ids.update((debit_id, credit_id))
    ids = [c.id for c in commands] + pending_ids
    keys = [c.idempotency_key for c in commands if c.idempotency_key is not None]
    keys += {c.anchor_key for c in commands if c.anchor_key is not None}
    with conn.pipeline():
        locked = conn.execute(_LOCK_ACCOUNTS, [sorted(account_ids)])
        found = conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers"
            " WHERE id = ANY(%b) OR idempotency_key = ANY(%b)",
            [ids, keys],
        )
        account_rows = locked.fetchall()
        transfer_rows = found.fetchall()
    accounts = {
        row[0]: _Account(
            id=row[0],
            currency=row[1],
            debits_must_not_exceed_credits=row[2],
            credits_must_not_exceed_debits=row[3],
            closed=row[4],
            debits_posted=row[5],
            credits_posted=row[6],
            debits_pending=row[7],
            credits_pending=row[8],
            entry_count=row[9],
            last_hash=bytes(row[10]) if row[10] else GENESIS_HASH,
        )
        for row in account_rows
    }
    known: dict[uuid.UUID, TransferRow] = {}
    by_key: dict[str, TransferRow] = {}
    for row in transfer_rows:
        transfer = transfer_from_row(row)
        known[transfer.id] = transfer
        if transfer.idempotency_key is not None:
            by_key[transfer.idempotency_key] = transfer
    batch = _Batch(now, accounts, known, by_key)
    outcomes = _process(batch, commands)
    _write(conn, batch)
    return outcomes
