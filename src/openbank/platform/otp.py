"""One-time codes sent to a customer's phone: sign-in on the consent page, remote account
opening through the gateway. Stored as a hash; five wrong tries or five minutes end a code.

There is no SMS provider in this repository: in the sandbox the code is handed back to the
caller (shown on the sign-in page, returned by the sandbox API); in production it must go out
through the bank's SMS gateway, and `issue` refuses until one is configured."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from openbank.core.ids import new_id
from openbank.platform.errors import OtpInvalid, PlatformError
from openbank.platform.models import OneTimeCode

VALID_FOR = timedelta(minutes=5)
MAX_ATTEMPTS = 5


class OtpDeliveryUnavailable(PlatformError):
    code = "otp_delivery_unavailable"
    status = 503
    title = "One-time codes cannot be sent outside the sandbox: no SMS gateway is configured"


@dataclass(frozen=True, slots=True)
class Challenge:
    id: uuid.UUID
    expires_at: datetime
    # The code itself, only in the sandbox (where there is no phone to send it to).
    sandbox_code: str | None


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()


def issue(session: Session, purpose: str, subject: str, now: datetime, sandbox: bool) -> Challenge:
    """A new six-digit code for `subject` (a phone number or a customer id) and `purpose`."""
    if not sandbox:
        raise OtpDeliveryUnavailable()
    code = f"{secrets.randbelow(1_000_000):06d}"
    row = OneTimeCode(
        id=new_id(),
        purpose=purpose,
        subject=subject,
        code_sha256=_digest(code),
        attempts=0,
        expires_at=now + VALID_FOR,
        consumed_at=None,
    )
    session.add(row)
    session.flush()
    return Challenge(id=row.id, expires_at=row.expires_at, sandbox_code=code)


def verify(
    session: Session,
    challenge_id: uuid.UUID,
    purpose: str,
    subject: str,
    code: str,
    now: datetime,
) -> None:
    """Consume the code in the caller's transaction, or raise OtpInvalid.

    A wrong try is counted in a transaction of its own, so it stays counted when the caller's
    transaction rolls back on the error (otherwise five tries would never run out). Consuming
    is a conditional UPDATE: of two concurrent uses of one code, only one succeeds."""
    row = session.execute(
        select(OneTimeCode.code_sha256, OneTimeCode.attempts).where(
            OneTimeCode.id == challenge_id,
            OneTimeCode.purpose == purpose,
            OneTimeCode.subject == subject,
            OneTimeCode.consumed_at.is_(None),
            OneTimeCode.expires_at > now,
            OneTimeCode.attempts < MAX_ATTEMPTS,
        )
    ).first()
    if row is None:
        raise OtpInvalid()
    if not hmac.compare_digest(row.code_sha256, _digest(code)):
        with session.get_bind().engine.connect() as own:
            own.execute(
                update(OneTimeCode)
                .where(OneTimeCode.id == challenge_id)
                .values(attempts=OneTimeCode.attempts + 1)
            )
            own.commit()
        raise OtpInvalid(attempts_left=max(0, MAX_ATTEMPTS - row.attempts - 1))
    consumed = session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.id == challenge_id,
            OneTimeCode.consumed_at.is_(None),
            OneTimeCode.attempts < MAX_ATTEMPTS,
        )
        .values(consumed_at=now)
        .returning(OneTimeCode.id)
    ).first()
    if consumed is None:
        raise OtpInvalid()
