"""Authorisation: a consent covers only the authorizing customer's own active accounts, and
at most the permissions asked for; a refusal writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from openbank.customers import service as customers
from openbank.platform.consents import service
from openbank.platform.consents.errors import (
    AccountNotEligible,
    ConsentNotFound,
    EnvironmentMismatch,
    InvalidPermissions,
)
from openbank.platform.consents.schemas import Consent, Permission
from tests.platform.consents.support import Bank, Holder


def _authorise(
    bank: Bank,
    consent: Consent,
    holder: Holder,
    accounts: Sequence[uuid.UUID],
    permissions: Sequence[Permission] = ("accounts",),
) -> Consent:
    return bank.run(
        lambda s: service.authorise(
            s, consent.id, consent.app_id, holder.customer_id, accounts, permissions, bank.now()
        )
    )


def test_another_customers_account_is_refused_and_nothing_is_written(bank: Bank) -> None:
    holder, victim = bank.holder(), bank.holder()
    consent = bank.requested(bank.app())

    with pytest.raises(AccountNotEligible):
        _authorise(bank, consent, holder, [holder.e_account_ids[0], victim.e_account_ids[0]])

    assert bank.status(consent.id) == "awaiting_authorisation"
    assert bank.consent_events(consent.id) == []


def test_an_unknown_account_is_refused_like_someone_elses(bank: Bank) -> None:
    holder, victim = bank.holder(), bank.holder()
    consent = bank.requested(bank.app())

    with pytest.raises(AccountNotEligible) as unknown:
        _authorise(bank, consent, holder, [uuid.uuid4()])
    with pytest.raises(AccountNotEligible) as someone_elses:
        _authorise(bank, consent, holder, [victim.e_account_ids[0]])

    assert unknown.value.title == someone_elses.value.title


def test_a_frozen_account_cannot_be_covered(bank: Bank) -> None:
    holder = bank.holder()
    bank.run(lambda s: customers.freeze_e_account(s, holder.e_account_ids[0]))
    consent = bank.requested(bank.app())

    with pytest.raises(AccountNotEligible):
        _authorise(bank, consent, holder, holder.e_account_ids[:1])


def test_no_accounts_is_refused(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.requested(bank.app())

    with pytest.raises(AccountNotEligible):
        _authorise(bank, consent, holder, [])


def test_the_customer_narrows_accounts_and_permissions(bank: Bank) -> None:
    holder = bank.holder(accounts=3)
    consent = bank.requested(bank.app(), ("accounts", "balances", "transactions"))

    authorised = _authorise(
        bank, consent, holder, holder.e_account_ids[1:2], ["transactions", "accounts"]
    )

    assert authorised.e_account_ids == holder.e_account_ids[1:2]
    assert authorised.permissions == ["accounts", "transactions"]


def test_a_permission_not_asked_for_is_refused(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.requested(bank.app(), ("accounts",))

    with pytest.raises(InvalidPermissions):
        _authorise(bank, consent, holder, holder.e_account_ids, ["accounts", "withdraw"])
    assert bank.status(consent.id) == "awaiting_authorisation"


def test_no_permissions_is_refused(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.requested(bank.app())

    with pytest.raises(InvalidPermissions):
        _authorise(bank, consent, holder, holder.e_account_ids, [])


def test_another_apps_consent_cannot_be_authorised(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.requested(bank.app())
    other_app = uuid.UUID(bank.app().app_id)

    with pytest.raises(ConsentNotFound):
        bank.run(
            lambda s: service.authorise(
                s,
                consent.id,
                other_app,
                holder.customer_id,
                holder.e_account_ids,
                ["accounts"],
                bank.now(),
            )
        )


def test_a_payment_consent_takes_exactly_one_debtor_account(bank: Bank) -> None:
    holder, creditor = bank.holder(), bank.holder(accounts=1)
    consent = bank.payment_requested(bank.app(), creditor.e_account_ids[0])

    with pytest.raises(AccountNotEligible):
        _authorise(bank, consent, holder, holder.e_account_ids, ["payment"])


def test_a_payment_consent_cannot_be_paid_from_its_creditor_account(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.payment_requested(bank.app(), holder.e_account_ids[0])

    with pytest.raises(AccountNotEligible):
        _authorise(bank, consent, holder, holder.e_account_ids[:1], ["payment"])


def test_a_payment_consent_needs_no_funds_at_authorisation(bank: Bank) -> None:
    holder, creditor = bank.holder(funded=0), bank.holder(accounts=1)

    consent = bank.payment_authorised(bank.app(), holder, creditor.e_account_ids[0], 10_000)

    assert consent.status == "authorised"
    assert consent.e_account_ids == holder.e_account_ids[:1]


def test_accounts_to_choose_lists_the_customers_active_accounts(bank: Bank) -> None:
    holder = bank.holder(accounts=2, funded=500)
    bank.run(lambda s: customers.freeze_e_account(s, holder.e_account_ids[1]))

    choices = bank.run(lambda s: service.accounts_to_choose(s, holder.customer_id))

    assert [c.e_account_id for c in choices] == holder.e_account_ids[:1]
    assert choices[0].balance == 500
    assert choices[0].masked_label.startswith("II类电子账户")


def test_for_authorization_returns_the_apps_awaiting_consent(bank: Bank) -> None:
    consent = bank.requested(bank.app())

    found = bank.run(lambda s: service.for_authorization(s, consent.id, consent.app_id, bank.now()))

    assert found.id == consent.id


def test_for_authorization_hides_another_apps_consent(bank: Bank) -> None:
    consent = bank.requested(bank.app())
    other_app = uuid.UUID(bank.app().app_id)

    with pytest.raises(ConsentNotFound):
        bank.run(lambda s: service.for_authorization(s, consent.id, other_app, bank.now()))


def test_grant_for_opened_account_is_authorised_for_a_year(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=1)
    now = bank.now()

    consent = bank.run(
        lambda s: service.grant_for_opened_account(
            s, uuid.UUID(app.app_id), holder.customer_id, holder.e_account_ids[0], now
        )
    )

    assert consent.status == "authorised"
    assert consent.permissions == ["accounts", "balances", "transactions", "top_up", "withdraw"]
    assert (consent.expires_at - now).days == 365
    assert bank.consent_events(consent.id) == ["consent.authorised"]


def test_grant_for_opened_account_refuses_someone_elses_account(bank: Bank) -> None:
    app, holder, victim = bank.app(), bank.holder(), bank.holder(accounts=1)

    with pytest.raises(AccountNotEligible):
        bank.run(
            lambda s: service.grant_for_opened_account(
                s, uuid.UUID(app.app_id), holder.customer_id, victim.e_account_ids[0], bank.now()
            )
        )


def test_a_production_customer_cannot_authorise_a_sandbox_apps_consent(bank: Bank) -> None:
    """Sandbox apps serve sandbox customers only: the sandbox takes codes shown on screen."""
    customer = bank.holder(sandbox=False)
    consent = bank.requested(bank.app())

    with pytest.raises(EnvironmentMismatch):
        _authorise(bank, consent, customer, customer.e_account_ids[:1])

    assert bank.status(consent.id) == "awaiting_authorisation"
    assert bank.consent_events(consent.id) == []
