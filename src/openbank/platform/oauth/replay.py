"""Single use of `jti`s (client assertions, DPoP proofs), shared by every API process.

A used jti is a row until the JWT that carried it could no longer be accepted anyway (its
`exp`, or its `iat` plus the allowed age). The insert is `ON CONFLICT DO NOTHING`, so two
processes racing on one jti serialize on the primary key and exactly one wins. Expired rows
are deleted lazily, by a small share of the inserts, instead of by a job of their own.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import ReturningInsert

from openbank.platform.oauth.models import UsedJti

PURGE_ONE_IN = 256  # about one insert in this many also deletes expired rows


def record(namespace: str, jti: str, keep_until: datetime) -> ReturningInsert[tuple[bytes]]:
    """The INSERT that records a jti; it returns a row only the first time (usable as a CTE,
    so a caller can fold it into the statement it runs anyway)."""
    digest = hashlib.sha256(f"{namespace}\0{jti}".encode()).digest()
    return (
        insert(UsedJti)
        .values(digest=digest, expires_at=keep_until)
        .on_conflict_do_nothing(index_elements=[UsedJti.digest])
        .returning(UsedJti.digest)
    )


def first_use(session: Session, namespace: str, jti: str, keep_until: datetime) -> bool:
    """Record `jti` in `namespace`; False when it was already recorded (a replay)."""
    return session.execute(record(namespace, jti, keep_until)).first() is not None


def purge_expired(session: Session, now: datetime, *, always: bool = False) -> None:
    """Delete rows whose JWTs have expired (now and then, or `always`)."""
    if always or secrets.randbelow(PURGE_ONE_IN) == 0:
        session.execute(delete(UsedJti).where(UsedJti.expires_at < now))
