"""The ledger's public face. Other contexts move money only through these functions."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.core.database import Database
from openbank.core.errors import DomainError, InvalidCursor
from openbank.core.ids import new_id
from openbank.ledger import errors
from openbank.ledger.engine import (
    GENESIS_HASH,
    TRANSFER_COLUMNS,
    Outcome,
    TransferCommand,
    TransferRow,
    apply_batch,
    entry_hash,
    transfer_from_row,
)
from openbank.ledger.models import LedgerAccount
from openbank.ledger.schemas import (
    Account,
    AccountCreate,
    AccountFlag,
    Entry,
    PendingResolution,
    Transfer,
    TransferCreate,
    VerifyReport,
)
from openbank.ledger.writer import LedgerWriter

# Other contexts batch commands of their own (lending's true-ups): the command type is public.
Command = TransferCommand


def _driver(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's current transaction."""
    conn = session.connection().connection.driver_connection
    assert isinstance(conn, psycopg.Connection)
    return conn


# -- accounts -----------------------------------------------------------------------------


def _account_out(row: LedgerAccount) -> Account:
    flags: list[AccountFlag] = []
    if row.debits_must_not_exceed_credits:
        flags.append("debits_must_not_exceed_credits")
    if row.credits_must_not_exceed_debits:
        flags.append("credits_must_not_exceed_debits")
    return Account(
        id=row.id,
        currency=row.currency,
        code=row.code,
        flags=flags,
        closed=row.closed,
        debits_posted=row.debits_posted,
        credits_posted=row.credits_posted,
        debits_pending=row.debits_pending,
        credits_pending=row.credits_pending,
        metadata=row.metadata_,
        created_at=row.created_at,
    )


def create_account(session: Session, spec: AccountCreate, now: datetime) -> Account:
    (account,) = create_accounts(session, [spec], now)
    return account


def create_accounts(
    session: Session, specs: Sequence[AccountCreate], now: datetime
) -> list[Account]:
    """Accounts by one insert and one read. Creating an account that exists with the same
    fields returns it (a retry); with other fields it is refused."""
    if not specs:
        return []
    ids = [spec.id or new_id() for spec in specs]
    values: list[dict[str, Any]] = []
    for spec, account_id in zip(specs, ids, strict=True):
        flags = set(spec.flags)
        if len(flags) > 1:
            raise errors.ConflictingFlags()
        values.append(
            {
                "id": account_id,
                "currency": spec.currency,
                "code": spec.code,
                "debits_must_not_exceed_credits": "debits_must_not_exceed_credits" in flags,
                "credits_must_not_exceed_debits": "credits_must_not_exceed_debits" in flags,
                "metadata_": spec.metadata,
                "created_at": now,
            }
        )
    session.execute(insert(LedgerAccount).values(values).on_conflict_do_nothing())
    accounts = get_accounts(session, ids)
    for spec, account in zip(specs, accounts, strict=True):
        if (account.currency, account.code, set(account.flags), account.metadata) != (
            spec.currency,
            spec.code,
            set(spec.flags),
            spec.metadata,
        ):
            raise errors.AccountExistsWithDifferentFields()
    return accounts


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    """The account as the database holds it now (never a copy the session cached earlier)."""
    row = session.get(LedgerAccount, account_id, populate_existing=True)
    if row is None:
        raise errors.AccountNotFound(f"no ledger account {account_id}")
    return _account_out(row)


def get_accounts(session: Session, account_ids: Sequence[uuid.UUID]) -> list[Account]:
    """Many accounts read by one statement, so all balances come from one snapshot."""
    rows = session.execute(
        select(LedgerAccount)
        .where(LedgerAccount.id.in_(list(account_ids)))
        .execution_options(populate_existing=True)
    ).scalars()
    by_id = {row.id: _account_out(row) for row in rows}
    missing = [str(i) for i in account_ids if i not in by_id]
    if missing:
        raise errors.AccountNotFound(f"no ledger account {', '.join(missing)}")
    return [by_id[i] for i in account_ids]


def close_account(session: Session, account_id: uuid.UUID) -> Account:
    row = session.get(LedgerAccount, account_id, with_for_update=True)
    if row is None:
        raise errors.AccountNotFound(f"no ledger account {account_id}")
    if row.debits_posted != row.credits_posted or row.debits_pending or row.credits_pending:
        raise errors.AccountNotEmpty()
    row.closed = True
    session.flush()
    return _account_out(row)


# -- transfers ----------------------------------------------------------------------------


def transfer_fields(row: TransferRow) -> dict[str, Any]:
    """A transfer as the API shows it (the `Transfer` schema's fields)."""
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "debit_account_id": row.debit_account_id,
        "credit_account_id": row.credit_account_id,
        "amount": row.amount,
        "currency": row.currency,
        "code": row.code,
        "pending_id": row.pending_id,
        "posted_amount": row.posted_amount,
        "timeout_seconds": row.timeout_seconds,
        "expires_at": row.expires_at,
        "balancing": row.balancing,
        "metadata": row.metadata,
        "created_at": row.created_at,
        "resolved_at": row.resolved_at,
    }


def transfer_out(row: TransferRow) -> Transfer:
    return Transfer.model_validate(transfer_fields(row))


def transfer_command(
    spec: TransferCreate, idempotency_key: str | None = None, *, linked: bool = False
) -> TransferCommand:
    return TransferCommand(
        kind="pending" if spec.pending else "single",
        id=spec.id or new_id(),
        id_given=spec.id is not None,
        debit_account_id=spec.debit_account_id,
        credit_account_id=spec.credit_account_id,
        amount=spec.amount,
        currency=spec.currency,
        code=spec.code,
        timeout_seconds=spec.timeout_seconds,
        balancing=spec.balancing,
        metadata=spec.metadata,
        idempotency_key=idempotency_key,
        linked=linked,
    )


def batch_commands(
    specs: Sequence[TransferCreate], idempotency_key: str | None, *, linked: bool
) -> list[TransferCommand]:
    """Commands of one batch request. With a key, item i is keyed `<key>:<i>`, and every item
    is bound to the whole request, so a retry with another body is refused as a whole."""
    last = len(specs) - 1
    commands = [transfer_command(spec, linked=linked and i < last) for i, spec in enumerate(specs)]
    if idempotency_key is None:
        return commands
    request = hashlib.sha256(
        orjson.dumps(
            [linked, [spec.model_dump(mode="json") for spec in specs]],
            option=orjson.OPT_SORT_KEYS,
        )
    ).digest()
    keyed = [
        replace(command, idempotency_key=f"{idempotency_key}:{i}", request_fingerprint=request)
        for i, command in enumerate(commands)
    ]
    anchor = keyed[0]
    anchor_fingerprint = anchor.fingerprint()
    return [
        replace(command, anchor_key=anchor.idempotency_key, anchor_fingerprint=anchor_fingerprint)
        for command in keyed
    ]


def resolution_command(
    pending_id: uuid.UUID,
    spec: PendingResolution,
    *,
    post: bool,
    idempotency_key: str | None = None,
) -> TransferCommand:
    if not post and spec.amount is not None:
        raise errors.VoidTakesNoAmount()
    return TransferCommand(
        kind="post_pending" if post else "void_pending",
        id=spec.id or new_id(),
        id_given=spec.id is not None,
        pending_id=pending_id,
        amount=spec.amount if post else None,
        code=spec.code or "",
        metadata=spec.metadata,
        idempotency_key=idempotency_key,
    )


def submit(writer: LedgerWriter, commands: Sequence[TransferCommand]) -> Future[list[Outcome]]:
    """Hand commands to this process's group-commit writer (the hot path of the HTTP API)."""
    return writer.submit(commands)


def execute(session: Session, commands: Sequence[TransferCommand], now: datetime) -> list[Outcome]:
    """Apply commands inside the caller's transaction, atomic with the caller's own writes."""
    return apply_batch(_driver(session), commands, now)


def transfer(session: Session, command: TransferCommand, now: datetime) -> Transfer:
    """One transfer in the caller's transaction; raises the LedgerError that refuses it."""
    (outcome,) = execute(session, [command], now)
    return transfer_out(single_transfer(outcome))


def single_transfer(outcome: Outcome) -> TransferRow:
    """The transfer of a one-command outcome, or the LedgerError that refused it."""
    if outcome.error is not None:
        raise outcome.error
    assert outcome.transfer is not None
    return outcome.transfer


def problem_of(error: DomainError) -> dict[str, Any]:
    """The problem document of a refused batch item (`Problem` schema)."""
    body = error.problem()
    return {key: body[key] for key in ("type", "title", "status", "detail", "code")}


def batch_results(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One result per command, shaped as `BatchItemResult`; a key reused with another body
    refuses the request as a whole."""
    if any(isinstance(o.error, errors.IdempotencyKeyReused) for o in outcomes):
        raise errors.IdempotencyKeyReused("this Idempotency-Key was first used with another batch")
    results: list[dict[str, Any]] = []
    for index, outcome in enumerate(outcomes):
        if outcome.error is not None:
            results.append({"index": index, "status": "failed", "error": problem_of(outcome.error)})
        else:
            assert outcome.transfer is not None
            results.append(
                {
                    "index": index,
                    "status": "replayed" if outcome.replayed else "created",
                    "transfer": transfer_fields(outcome.transfer),
                }
            )
    return results


def get_transfer(session: Session, transfer_id: uuid.UUID) -> Transfer:
    row = (
        _driver(session)
        .execute(f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = %s", [transfer_id])
        .fetchone()
    )
    if row is None:
        raise errors.TransferNotFound(f"no transfer {transfer_id}")
    return transfer_out(transfer_from_row(row))


def get_transfers(session: Session, transfer_ids: Sequence[uuid.UUID]) -> list[Transfer]:
    """The transfers of these ids that exist, by one statement (in no particular order): a
    caller checking references finds the missing ones by what is not returned."""
    if not transfer_ids:
        return []
    with _driver(session).cursor() as cur:
        set_json_loads(orjson.loads, cur)  # many rows: the metadata parsed by orjson
        rows = cur.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM ledger_transfers WHERE id = ANY(%s)",
            [list(transfer_ids)],
        ).fetchall()
    return [transfer_out(transfer_from_row(row)) for row in rows]


def due_pending_transfers(session: Session, now: datetime, limit: int = 1000) -> list[uuid.UUID]:
    rows = _driver(session).execute(
        "SELECT id FROM ledger_transfers WHERE state = 'pending' AND expires_at <= %s"
        " ORDER BY expires_at LIMIT %s",
        [now, limit],
    )
    return [row[0] for row in rows]


def expiry_commands(pending_ids: Sequence[uuid.UUID]) -> list[TransferCommand]:
    return [TransferCommand(kind="expire_pending", id=i, pending_id=i) for i in pending_ids]


def expire_pending_transfers(session: Session, now: datetime, limit: int = 1000) -> int:
    """Release the funds of pending transfers whose timeout passed; returns how many."""
    due = due_pending_transfers(session, now, limit)
    if due:
        execute(session, expiry_commands(due), now)
    return len(due)


# -- statement ----------------------------------------------------------------------------


def list_entries(
    session: Session, account_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Entry], str | None]:
    """An account's statement, oldest first, `limit` lines after `cursor`."""
    get_account(session, account_id)
    after = 0
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise InvalidCursor() from None
    rows = (
        _driver(session)
        .execute(
            "SELECT seq, transfer_id, side, effect, amount, debits_posted, credits_posted,"
            " debits_pending, credits_pending, created_at, hash FROM ledger_entries"
            " WHERE account_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            [account_id, after, limit + 1],
        )
        .fetchall()
    )
    entries = [
        Entry(
            seq=r[0],
            transfer_id=r[1],
            side=r[2],
            effect=r[3],
            amount=r[4],
            debits_posted=r[5],
            credits_posted=r[6],
            debits_pending=r[7],
            credits_pending=r[8],
            created_at=r[9],
            hash=bytes(r[10]).hex(),
        )
        for r in rows[:limit]
    ]
    next_cursor = str(entries[-1].seq) if len(rows) > limit else None
    return entries, next_cursor


_DAY = timedelta(days=1)


def average_daily_balance(
    session: Session, account_id: uuid.UUID, start: datetime, end: datetime
) -> int:
    """The average of the account's posted balance (credits_posted - debits_posted, as a
    customer's deposit shows it) at the end of each whole day from `start` to `end`, rounded
    down; read from the journal. `start` and `end` are the days' boundaries (midnights in the
    bank's time zone); a window shorter than a day is sampled once, at `end`."""
    days = max((end - start) // _DAY, 0)
    points = [start + _DAY * k for k in range(1, days + 1)] if days else [end]
    # One statement: the account (to tell a missing one from a quiet one), the last entry
    # before the window, then each entry within it (balances only change at entries).
    rows = (
        _driver(session)
        .execute(
            "(SELECT 0, 0::bigint, NULL::timestamptz, 0::bigint FROM ledger_accounts"
            "  WHERE id = %(a)s)"
            " UNION ALL (SELECT 1, seq, created_at, credits_posted - debits_posted"
            "  FROM ledger_entries WHERE account_id = %(a)s AND created_at < %(start)s"
            "  ORDER BY seq DESC LIMIT 1)"
            " UNION ALL (SELECT 2, seq, created_at, credits_posted - debits_posted"
            "  FROM ledger_entries WHERE account_id = %(a)s AND created_at >= %(start)s"
            "  AND created_at < %(end)s)",
            {"a": account_id, "start": start, "end": points[-1]},
        )
        .fetchall()
    )
    if not any(row[0] == 0 for row in rows):
        raise errors.AccountNotFound(f"no ledger account {account_id}")
    opening = [row[3] for row in rows if row[0] == 1]
    changes = sorted((row[1], row[2], row[3]) for row in rows if row[0] == 2)
    balance = int(opening[0]) if opening else 0
    total, index = 0, 0
    for point in points:
        while index < len(changes) and changes[index][1] < point:
            balance = int(changes[index][2])
            index += 1
        total += balance
    return total // len(points)


# -- verification -------------------------------------------------------------------------


@dataclass
class _Running:
    seq: int = 0
    hash: bytes = GENESIS_HASH
    balances: tuple[int, int, int, int] = (0, 0, 0, 0)


_POSTED_EFFECTS = {"posted", "post"}


_TRANSFER_CHECK = """
SELECT t.id, e.effect, count(e.*)
FROM ledger_transfers AS t
LEFT JOIN ledger_entries AS e ON e.transfer_id = t.id
GROUP BY t.id, e.effect, t.amount, t.debit_account_id, t.credit_account_id
HAVING count(e.*) <> 2
    OR sum(e.amount) FILTER (WHERE e.side = 'debit' AND e.account_id = t.debit_account_id)
       IS DISTINCT FROM t.amount
    OR sum(e.amount) FILTER (WHERE e.side = 'credit' AND e.account_id = t.credit_account_id)
       IS DISTINCT FROM t.amount
LIMIT 1000
"""


def _transfer_problems(conn: psycopg.Connection[Any]) -> list[str]:
    """Every transfer must have, per effect, one debit and one credit entry of its amount on
    its own accounts (a pending transfer also has those of its expiry)."""
    problems = [
        f"transfer {transfer_id}: {effect or 'no'} entries ({count}) disagree with it"
        for transfer_id, effect, count in conn.execute(_TRANSFER_CHECK)
    ]
    orphans = conn.execute(
        "SELECT DISTINCT e.transfer_id FROM ledger_entries AS e"
        " LEFT JOIN ledger_transfers AS t ON t.id = e.transfer_id WHERE t.id IS NULL LIMIT 1000"
    )
    problems += [f"entries of unknown transfer {row[0]}" for row in orphans]
    return problems


def verify(db: Database, on_progress: Callable[[int, int], None] | None = None) -> VerifyReport:
    """Recompute every account's hash chain and running balances from its journal, and check
    that debits equal credits per currency; all in one repeatable-read snapshot."""
    problems: list[str] = []
    with psycopg.connect(db.url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        accounts = {
            row[0]: row
            for row in conn.execute(
                "SELECT id, currency, debits_posted, credits_posted, debits_pending,"
                " credits_pending, entry_count, last_entry_hash FROM ledger_accounts"
            )
        }
        total_row = conn.execute("SELECT count(*) FROM ledger_entries").fetchone()
        transfers_row = conn.execute("SELECT count(*) FROM ledger_transfers").fetchone()
        total = int(total_row[0]) if total_row else 0
        running: dict[uuid.UUID, _Running] = {}
        seen = 0
        with conn.cursor(name="journal") as cur:
            cur.itersize = 20_000
            cur.execute(
                "SELECT account_id, seq, transfer_id, side, effect, amount, debits_posted,"
                " credits_posted, debits_pending, credits_pending, created_at, hash"
                " FROM ledger_entries ORDER BY account_id, seq"
            )
            for row in cur:
                (account_id, seq, transfer_id, side, effect, amount, *rest) = row
                balances = (rest[0], rest[1], rest[2], rest[3])
                created_at, stored = rest[4], bytes(rest[5])
                state = running.setdefault(account_id, _Running())
                if seq != state.seq + 1:
                    problems.append(f"account {account_id}: entry {seq} follows {state.seq}")
                posted_delta = amount if effect in _POSTED_EFFECTS else 0
                expected_posted = (
                    state.balances[0] + (posted_delta if side == "debit" else 0),
                    state.balances[1] + (posted_delta if side == "credit" else 0),
                )
                if balances[:2] != expected_posted:
                    problems.append(
                        f"account {account_id}: entry {seq} posted balances {balances[:2]}"
                        f" do not follow from the previous {state.balances[:2]} and {amount}"
                    )
                digest = entry_hash(
                    state.hash,
                    account_id,
                    seq,
                    transfer_id,
                    side,
                    effect,
                    amount,
                    balances,
                    created_at,
                )
                if digest != stored:
                    problems.append(f"account {account_id}: entry {seq} hash does not match")
                state.seq, state.hash, state.balances = seq, stored, balances
                seen += 1
                if on_progress is not None and seen % 20_000 == 0:
                    on_progress(seen, total)
        problems.extend(_transfer_problems(conn))
        conn.rollback()
    if on_progress is not None:
        on_progress(seen, total)

    currencies: dict[str, dict[str, int]] = {}
    for account_id, row in accounts.items():
        _, currency, dp, cp, dpe, cpe, count, last_hash = row
        sums = currencies.setdefault(
            currency,
            {"debits_posted": 0, "credits_posted": 0, "debits_pending": 0, "credits_pending": 0},
        )
        sums["debits_posted"] += dp
        sums["credits_posted"] += cp
        sums["debits_pending"] += dpe
        sums["credits_pending"] += cpe
        state = running.get(account_id, _Running())
        if state.balances != (dp, cp, dpe, cpe):
            problems.append(
                f"account {account_id}: balances {(dp, cp, dpe, cpe)} differ from its journal"
                f" {state.balances}"
            )
        if state.seq != count or (count and bytes(last_hash) != state.hash):
            problems.append(f"account {account_id}: journal head does not match the account")
    for account_id in running.keys() - accounts.keys():
        problems.append(f"entries for unknown account {account_id}")
    for currency, sums in currencies.items():
        if sums["debits_posted"] != sums["credits_posted"]:
            problems.append(
                f"{currency}: posted debits {sums['debits_posted']} != credits"
                f" {sums['credits_posted']}"
            )
        if sums["debits_pending"] != sums["credits_pending"]:
            problems.append(
                f"{currency}: pending debits {sums['debits_pending']} != credits"
                f" {sums['credits_pending']}"
            )
    return VerifyReport(
        ok=not problems,
        accounts=len(accounts),
        entries=seen,
        transfers=int(transfers_row[0]) if transfers_row else 0,
        currencies=currencies,
        problems=problems,
    )
