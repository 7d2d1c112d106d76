"""Idempotency-Key for POSTs that do not go through the ledger's own exactly-once path.

The key row is inserted in the same transaction as the work it guards: a concurrent request
with the same key waits on that row, then replays the committed response. A request that
fails rolls back and leaves no row, so a retry runs again (it moved nothing the first time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.core.errors import IdempotencyKeyReused
from openbank.core.models import IdempotencyRecord


def request_fingerprint(*parts: Any) -> bytes:
    """A stable hash of a request (method, path, body) for comparing retries."""
    return hashlib.sha256(orjson.dumps(parts, option=orjson.OPT_SORT_KEYS)).digest()


def run_once(
    session: Session,
    scope: str,
    key: str | None,
    fingerprint: bytes,
    work: Callable[[], tuple[int, Any]],
    *,
    now: datetime | None = None,
    expired_before: datetime | None = None,
) -> tuple[int, Any, bool]:
    """Run `work` (returning status and JSON body) at most once per (scope, key).

    With `now`, the record is dated by the caller's clock (not the database's). With
    `expired_before`, a record created before that instant no longer counts: the key is
    claimed again as if new (partner keys are kept a fixed time, then reusable).

    Returns (status, body, replayed).
    """
    if key is None:
        status, body = work()
        return status, body, False
    claim = insert(IdempotencyRecord).values(
        scope=scope,
        key=key,
        request_hash=fingerprint,
        **({"created_at": now} if now is not None else {}),
    )
    if expired_before is None:
        claim = claim.on_conflict_do_nothing()
    else:
        # Reclaim an expired record in the same statement: a concurrent request with the same
        # key waits on the row and then sees it fresh, so only one of them runs the work.
        claim = claim.on_conflict_do_update(
            index_elements=[IdempotencyRecord.scope, IdempotencyRecord.key],
            set_={
                "request_hash": claim.excluded.request_hash,
                "created_at": claim.excluded.created_at,
                "status_code": None,
                "response_body": None,
            },
            where=IdempotencyRecord.created_at < expired_before,
        )
    claimed = session.execute(claim.returning(IdempotencyRecord.key)).first()
    if claimed is None:
        record = session.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        ).scalar_one()
        if record.request_hash != fingerprint:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was first used with a different request"
            )
        return int(record.status_code or 200), record.response_body, True
    status, body = work()
    session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        .values(status_code=status, response_body=body)
    )
    return status, body, False
