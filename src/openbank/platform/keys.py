"""The bank's signing keys: one current ES256 key, made on first use, shared by every process
through the database; retired keys stay published so older signatures still verify."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from joserfc.jwk import ECKey
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from openbank.platform.models import BankSigningKey

_KEY_LOCK = 7243112  # advisory lock: two processes starting at once make one key


def current_signing_key(session: Session, now: datetime) -> ECKey:
    """The key to sign with now (ES256, with kid and alg), creating the first one if needed."""
    row = session.execute(
        select(BankSigningKey)
        .where(BankSigningKey.retired_at.is_(None))
        .order_by(BankSigningKey.created_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_LOCK})
        row = session.execute(
            select(BankSigningKey).where(BankSigningKey.retired_at.is_(None)).limit(1)
        ).scalar_one_or_none()
    if row is None:
        kid = uuid.uuid4().hex
        key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})
        row = BankSigningKey(
            kid=kid, alg="ES256", private_jwk=dict(key.as_dict(private=True)), created_at=now
        )
        session.add(row)
        session.flush()
    return ECKey.import_key(row.private_jwk)  # type: ignore[arg-type]


def rotate(session: Session, now: datetime) -> ECKey:
    """Retire the current key (it stays published) and make a new one."""
    session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _KEY_LOCK})
    for row in session.execute(
        select(BankSigningKey).where(BankSigningKey.retired_at.is_(None))
    ).scalars():
        row.retired_at = now
    session.flush()
    return current_signing_key(session, now)


def public_jwks(session: Session) -> dict[str, Any]:
    """Every key's public half, current first: what /.well-known/jwks.json serves."""
    rows = session.execute(
        select(BankSigningKey).order_by(BankSigningKey.created_at.desc())
    ).scalars()
    return {"keys": [dict(ECKey.import_key(r.private_jwk).as_dict(private=False)) for r in rows]}  # type: ignore[arg-type]
