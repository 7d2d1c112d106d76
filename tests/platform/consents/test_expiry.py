"""Expiry: at most a year ahead; a lapsed consent is recorded expired lazily or by the job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from openbank.platform.consents import service
from openbank.platform.consents.errors import ConsentExpired, InvalidExpiration
from openbank.platform.oauth import resource
from tests.platform.consents.support import Bank


def test_an_expiration_in_the_past_is_refused(bank: Bank) -> None:
    with pytest.raises(InvalidExpiration):
        bank.requested(bank.app(), expiration=bank.later(-1))


def test_an_expiration_more_than_a_year_ahead_is_refused(bank: Bank) -> None:
    with pytest.raises(InvalidExpiration):
        bank.requested(bank.app(), expiration=bank.now() + timedelta(days=366))


def test_an_account_access_consent_lasts_90_days_by_default(bank: Bank) -> None:
    before = bank.now()

    consent = bank.requested(bank.app())

    assert timedelta(days=90) <= consent.expires_at - before < timedelta(days=90, minutes=1)


def test_a_payment_consent_lasts_one_day_by_default(bank: Bank) -> None:
    creditor = bank.holder(accounts=1)
    before = bank.now()

    consent = bank.payment_requested(bank.app(), creditor.e_account_ids[0])

    assert timedelta(days=1) <= consent.expires_at - before < timedelta(days=1, minutes=1)


def test_expire_due_marks_lapsed_consents_with_their_events(bank: Bank) -> None:
    app = bank.app()
    awaiting = bank.requested(app, expiration=bank.later(30))
    authorised = bank.authorised(app, bank.holder(), expiration=bank.later(30))
    lasting = bank.authorised(app, bank.holder(), expiration=bank.later(3600))

    bank.run(lambda s: service.expire_due(s, bank.later(31)))

    assert bank.status(awaiting.id) == "expired"
    assert bank.status(authorised.id) == "expired"
    assert bank.status(lasting.id) == "authorised"
    assert bank.consent_events(awaiting.id) == ["consent.expired"]


def test_expire_due_leaves_final_consents_alone(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder, expiration=bank.later(30))
    bank.run(lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now()))

    bank.run(lambda s: service.expire_due(s, bank.later(31)))

    assert bank.status(consent.id) == "revoked"


def test_expire_due_counts_what_it_expired(bank: Bank) -> None:
    bank.requested(bank.app(), expiration=bank.later(30))
    far = bank.later(10**7)  # past every consent made so far in this database

    first = bank.run(lambda s: service.expire_due(s, far))
    again = bank.run(lambda s: service.expire_due(s, far))

    assert first >= 1
    assert again == 0


def test_authorising_a_lapsed_consent_is_consent_expired_and_marks_it(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.requested(bank.app(), expiration=bank.later(30))

    with pytest.raises(ConsentExpired):
        bank.run(
            lambda s: service.authorise(
                s,
                consent.id,
                consent.app_id,
                holder.customer_id,
                holder.e_account_ids,
                ["accounts"],
                bank.later(31),
            )
        )
    assert bank.status(consent.id) == "expired"


def test_the_partner_sees_a_lapsed_consent_as_expired(bank: Bank) -> None:
    app = bank.app()
    consent = bank.requested(app, expiration=bank.later(30))

    seen = bank.run(
        lambda s: service.get_for_app(
            s, bank.call(app), consent.id, "account_access", bank.later(31)
        )
    )

    assert seen.status == "expired"


def test_an_expiry_found_on_the_resource_checks_autocommit_engine_is_still_atomic(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resource check reads on an autocommit engine; the expiry it records on the side
    must still commit with its event or not at all."""
    consent = bank.authorised(bank.app(), bank.holder(accounts=1), expiration=bank.later(30))

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the event could not be written")

    monkeypatch.setattr(service, "_emit", fail)
    engine = bank.db.side_engine("oauth", resource.POOL_SIZE, resource.JTI_OPTIONS)
    with (
        engine.connect() as connection,
        Session(bind=connection) as session,
        pytest.raises(RuntimeError),
    ):
        service._record_expiry_aside(session, consent.id, bank.later(31))
    monkeypatch.undo()

    assert bank.status(consent.id) == "authorised"
    assert bank.consent_events(consent.id) == ["consent.authorised"]
