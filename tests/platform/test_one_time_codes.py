"""One-time codes: used once, five wrong tries at most, five minutes, sandbox only here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from openbank.core.database import Database, unit_of_work
from openbank.platform import otp
from openbank.platform.errors import OtpInvalid

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _issue(db: Database, subject: str = "+8613800138000") -> otp.Challenge:
    return unit_of_work(db, lambda s: otp.issue(s, "sign_in", subject, NOW, sandbox=True))


def _verify(
    db: Database,
    challenge: otp.Challenge,
    code: str,
    purpose: str = "sign_in",
    subject: str = "+8613800138000",
    now: datetime = NOW,
) -> None:
    unit_of_work(db, lambda s: otp.verify(s, challenge.id, purpose, subject, code, now))


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_sandbox_code_is_six_digits_and_verifies_once(db: Database) -> None:
    challenge = _issue(db)
    assert challenge.sandbox_code is not None
    assert len(challenge.sandbox_code) == 6
    _verify(db, challenge, challenge.sandbox_code)
    with pytest.raises(OtpInvalid):
        _verify(db, challenge, challenge.sandbox_code)


def test_wrong_codes_count_even_though_the_transaction_rolls_back(db: Database) -> None:
    challenge = _issue(db)
    assert challenge.sandbox_code is not None
    for _ in range(otp.MAX_ATTEMPTS):
        with pytest.raises(OtpInvalid):
            _verify(db, challenge, _wrong(challenge.sandbox_code))
    with pytest.raises(OtpInvalid):
        _verify(db, challenge, challenge.sandbox_code)


def test_code_expires_after_five_minutes(db: Database) -> None:
    challenge = _issue(db)
    assert challenge.sandbox_code is not None
    with pytest.raises(OtpInvalid):
        _verify(db, challenge, challenge.sandbox_code, now=NOW + timedelta(minutes=5))


def test_code_is_bound_to_its_subject_and_purpose(db: Database) -> None:
    challenge = _issue(db)
    assert challenge.sandbox_code is not None
    with pytest.raises(OtpInvalid):
        _verify(db, challenge, challenge.sandbox_code, subject="+8613900139000")
    with pytest.raises(OtpInvalid):
        _verify(db, challenge, challenge.sandbox_code, purpose="open_e_account")
    _verify(db, challenge, challenge.sandbox_code)


def test_production_codes_need_an_sms_gateway(db: Database) -> None:
    with pytest.raises(otp.OtpDeliveryUnavailable):
        unit_of_work(db, lambda s: otp.issue(s, "sign_in", "x", NOW, sandbox=False))
