"""The consent lifecycle: which transitions happen, which are refused, and their events."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from openbank.platform.consents import service
from openbank.platform.consents.errors import ConsentNotFound, ConsentStateConflict
from tests.platform.consents.support import Bank


def test_a_new_account_access_consent_awaits_authorisation(bank: Bank) -> None:
    consent = bank.requested(bank.app(), ("accounts", "balances"))

    assert consent.status == "awaiting_authorisation"
    assert consent.kind == "account_access"
    assert consent.permissions == ["accounts", "balances"]
    assert consent.customer_id is None
    assert consent.e_account_ids == []


def test_authorising_sets_customer_accounts_and_emits_consent_authorised(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()

    consent = bank.authorised(app, holder)

    assert consent.status == "authorised"
    assert consent.customer_id == holder.customer_id
    assert consent.e_account_ids == holder.e_account_ids
    (event,) = bank.events(f"consents/{consent.id}")
    assert event.event_type == "consent.authorised"
    assert event.app_id == uuid.UUID(app.app_id)
    assert event.payload["consent_id"] == str(consent.id)


def test_rejecting_emits_consent_rejected(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.requested(app)

    rejected = bank.run(
        lambda s: service.reject(s, consent.id, consent.app_id, holder.customer_id, bank.now())
    )

    assert rejected.status == "rejected"
    assert bank.consent_events(consent.id) == ["consent.rejected"]


def test_a_rejected_consent_cannot_be_authorised(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.requested(app)
    bank.run(lambda s: service.reject(s, consent.id, consent.app_id, None, bank.now()))

    with pytest.raises(ConsentStateConflict):
        bank.run(
            lambda s: service.authorise(
                s,
                consent.id,
                consent.app_id,
                holder.customer_id,
                holder.e_account_ids,
                ["accounts"],
                bank.now(),
            )
        )
    assert bank.status(consent.id) == "rejected"


def test_an_authorised_consent_cannot_be_authorised_again(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder)

    with pytest.raises(ConsentStateConflict):
        bank.run(
            lambda s: service.authorise(
                s,
                consent.id,
                consent.app_id,
                holder.customer_id,
                holder.e_account_ids,
                ["accounts"],
                bank.now(),
            )
        )


def test_the_customer_revokes_an_authorised_consent(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder)

    revoked = bank.run(
        lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now())
    )

    assert revoked.status == "revoked"
    assert revoked.revoked_by == "customer"
    assert bank.consent_events(consent.id) == ["consent.authorised", "consent.revoked"]


def test_revoking_twice_is_a_state_conflict(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder)
    bank.run(lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now()))

    with pytest.raises(ConsentStateConflict):
        bank.run(
            lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now())
        )
    assert bank.consent_events(consent.id) == ["consent.authorised", "consent.revoked"]


def test_a_consent_awaiting_authorisation_cannot_be_revoked(bank: Bank) -> None:
    consent = bank.requested(bank.app())

    with pytest.raises(ConsentStateConflict):
        bank.run(lambda s: service.revoke_by_operator(s, consent.id, bank.now()))


def test_a_customer_cannot_revoke_another_customers_consent(bank: Bank) -> None:
    app, holder, other = bank.app(), bank.holder(), bank.holder()
    consent = bank.authorised(app, holder)

    with pytest.raises(ConsentNotFound):
        bank.run(lambda s: service.revoke_by_customer(s, consent.id, other.customer_id, bank.now()))
    assert bank.status(consent.id) == "authorised"


def test_the_operator_revokes_with_revoked_by_operator(bank: Bank) -> None:
    consent = bank.authorised(bank.app(), bank.holder())

    revoked = bank.run(lambda s: service.revoke_by_operator(s, consent.id, bank.now()))

    assert revoked.revoked_by == "operator"


def test_the_partner_revokes_its_own_consent(bank: Bank) -> None:
    app = bank.app()
    consent = bank.authorised(app, bank.holder())

    revoked = bank.run(
        lambda s: service.revoke_by_partner(
            s, bank.call(app), consent.id, "account_access", bank.now()
        )
    )

    assert revoked.revoked_by == "partner"


def test_a_partner_cannot_revoke_another_apps_consent(bank: Bank) -> None:
    consent = bank.authorised(bank.app(), bank.holder())

    with pytest.raises(ConsentNotFound):
        bank.run(
            lambda s: service.revoke_by_partner(
                s, bank.call(bank.app()), consent.id, "account_access", bank.now()
            )
        )
    assert bank.status(consent.id) == "authorised"


def test_the_database_refuses_an_illegal_transition(bank: Bank) -> None:
    consent = bank.requested(bank.app())
    bank.run(lambda s: service.reject(s, consent.id, consent.app_id, None, bank.now()))

    with pytest.raises(IntegrityError, match="cannot go from rejected to awaiting_authorisation"):
        bank.run(
            lambda s: s.execute(
                text("UPDATE consents SET status = 'awaiting_authorisation' WHERE id = :id"),
                {"id": consent.id},
            )
        )


def test_the_database_refuses_an_unknown_status(bank: Bank) -> None:
    consent = bank.requested(bank.app())

    with pytest.raises(IntegrityError):
        bank.run(
            lambda s: s.execute(
                text("UPDATE consents SET status = 'paused' WHERE id = :id"), {"id": consent.id}
            )
        )


def test_list_for_customer_shows_their_consents_newest_first(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    first = bank.authorised(app, holder)
    second = bank.authorised(app, holder)
    bank.authorised(app, bank.holder())

    listed = bank.run(lambda s: service.list_for_customer(s, holder.customer_id))

    assert [c.id for c in listed] == [second.id, first.id]
