"""The platform's periodic chores: lapsed consents expire with their events, and partner
idempotency keys older than a day go; one process at a time does them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.idempotency import request_fingerprint, run_once
from openbank.core.models import IdempotencyRecord, OutboxEvent
from openbank.platform import housekeeping
from openbank.platform import service as platform
from openbank.platform.consents import service as consents
from openbank.platform.consents.schemas import AccountAccessConsentCreate
from openbank.platform.principal import PartnerCall
from openbank.platform.schemas import AppCreate, PartnerCreate
from openbank.platform.scopes import ALL_SCOPES
from tests.customers.helpers import PHONE, credit_code
from tests.platform.support import REDIRECT_URI, new_key, public_jwks


def _awaiting_consent(db: Database, clock: ShiftedClock, lasts: timedelta) -> uuid.UUID:
    def work(session: Session) -> uuid.UUID:
        partner = platform.create_partner(
            session,
            PartnerCreate(
                legal_name="某平台",
                unified_social_credit_code=credit_code(),
                contact_name="李四",
                contact_email="a@b.cn",
                contact_phone=PHONE,
            ),
            clock.now(),
        )
        app = platform.create_app(
            session,
            partner.id,
            AppCreate(
                name="app",
                redirect_uris=[REDIRECT_URI],
                jwks=public_jwks(new_key()),
                products=["e_accounts"],
            ),
            clock.now(),
        )
        call = PartnerCall(
            app_id=app.id,
            partner_id=partner.id,
            environment="sandbox",
            scopes=ALL_SCOPES,
            channel="oauth",
        )
        spec = AccountAccessConsentCreate(permissions=["accounts"], expiration=clock.now() + lasts)
        return consents.create_account_access_consent(session, call, spec, clock.now()).id

    return unit_of_work(db, work)


def test_lapsed_consent_is_expired_with_its_event(fresh_db: Database) -> None:
    clock = ShiftedClock()
    consent_id = _awaiting_consent(fresh_db, clock, timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))

    chores = housekeeping.run_once(fresh_db, clock)

    assert chores is not None
    assert chores.consents_expired == 1
    assert unit_of_work(fresh_db, lambda s: consents.get_consent(s, consent_id)).status == "expired"
    events = unit_of_work(
        fresh_db,
        lambda s: (
            s.execute(
                select(OutboxEvent.event_type).where(
                    OutboxEvent.subject == f"consents/{consent_id}"
                )
            )
            .scalars()
            .all()
        ),
    )
    assert list(events) == ["consent.expired"]


def test_partner_idempotency_keys_older_than_a_day_are_purged(fresh_db: Database) -> None:
    clock = ShiftedClock()
    scope = f"app:{uuid.uuid4()}"
    unit_of_work(
        fresh_db,
        lambda s: run_once(s, scope, "key-1", request_fingerprint("x"), lambda: (201, {})),
    )
    clock.advance(timedelta(hours=25))

    chores = housekeeping.run_once(fresh_db, clock)

    assert chores is not None
    assert chores.idempotency_keys_purged == 1
    left = unit_of_work(
        fresh_db,
        lambda s: s.execute(
            select(func.count()).where(IdempotencyRecord.scope == scope)
        ).scalar_one(),
    )
    assert left == 0


def test_a_second_process_skips_the_round_while_one_runs_it(fresh_db: Database) -> None:
    lock = {"k": housekeeping.LOCK_KEY}
    with fresh_db.engine.connect() as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), lock)
        try:
            assert housekeeping.run_once(fresh_db, ShiftedClock()) is None
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), lock)
            holder.commit()
    assert housekeeping.run_once(fresh_db, ShiftedClock()) is not None
