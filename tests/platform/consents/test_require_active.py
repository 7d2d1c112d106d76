"""require_active: every customer-token call goes through it, so it refuses every consent
that may not be used, and never tells another app or customer that a consent exists."""

from __future__ import annotations

import uuid

import pytest

from openbank.platform.consents import service
from openbank.platform.consents.errors import (
    ConsentExpired,
    ConsentNotAuthorised,
    ConsentNotFound,
    ConsentRevoked,
)
from openbank.platform.consents.schemas import Consent
from tests.platform.consents.support import Bank


def _require(bank: Bank, consent: Consent, app_id: uuid.UUID, customer_id: uuid.UUID) -> Consent:
    return bank.run(
        lambda s: service.require_active(s, consent.id, app_id, customer_id, bank.now())
    )


def test_an_authorised_consent_passes(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder)

    assert _require(bank, consent, consent.app_id, holder.customer_id).id == consent.id


def test_a_revoked_consent_is_consent_revoked(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder)
    bank.run(lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now()))

    with pytest.raises(ConsentRevoked):
        _require(bank, consent, consent.app_id, holder.customer_id)


def test_a_consent_past_its_expiry_is_consent_expired_and_marked(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder, expiration=bank.later(60))

    with pytest.raises(ConsentExpired):
        bank.run(
            lambda s: service.require_active(
                s, consent.id, consent.app_id, holder.customer_id, bank.later(61)
            )
        )

    assert bank.status(consent.id) == "expired"
    assert bank.consent_events(consent.id) == ["consent.authorised", "consent.expired"]


def test_an_expired_consent_is_marked_once(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder, expiration=bank.later(60))

    for _ in range(2):
        with pytest.raises(ConsentExpired):
            bank.run(
                lambda s: service.require_active(
                    s, consent.id, consent.app_id, holder.customer_id, bank.later(61)
                )
            )

    assert bank.consent_events(consent.id).count("consent.expired") == 1


def test_a_consent_awaiting_authorisation_is_not_authorised(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.requested(bank.app())
    bank.run(
        lambda s: service.reject(s, consent.id, consent.app_id, holder.customer_id, bank.now())
    )

    with pytest.raises(ConsentNotAuthorised):
        _require(bank, consent, consent.app_id, holder.customer_id)


def test_another_apps_consent_is_not_found(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder)

    with pytest.raises(ConsentNotFound):
        _require(bank, consent, uuid.UUID(bank.app().app_id), holder.customer_id)


def test_another_customers_consent_is_not_found(bank: Bank) -> None:
    consent = bank.authorised(bank.app(), bank.holder())

    with pytest.raises(ConsentNotFound):
        _require(bank, consent, consent.app_id, bank.holder().customer_id)


def test_a_revoked_consent_of_another_customer_is_not_found_not_revoked(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder)
    bank.run(lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now()))

    with pytest.raises(ConsentNotFound):
        _require(bank, consent, consent.app_id, bank.holder().customer_id)


def test_an_unknown_consent_is_not_found(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder)

    with pytest.raises(ConsentNotFound):
        bank.run(
            lambda s: service.require_active(
                s, uuid.uuid4(), consent.app_id, holder.customer_id, bank.now()
            )
        )
