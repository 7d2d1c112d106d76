"""Partner-facing operations at the service level: each checks scope, app, consent, customer
and account itself, whoever calls it (the OAuth routers or the signed gateway)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from openbank.core.models import OutboxEvent
from openbank.customers import service as customers
from openbank.ledger.errors import ExceedsCredits
from openbank.platform.consents import service
from openbank.platform.consents.errors import (
    AccountNotFound,
    ConsentRequired,
    ConsentRevoked,
    CreditorAccountInvalid,
    InsufficientScope,
    PermissionNotGranted,
    UnsupportedCurrency,
    WrongConsentKind,
)
from tests.platform.consents.support import Bank


def test_list_accounts_returns_the_covered_accounts_only(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=3)
    consent = bank.authorised(app, holder, accounts=holder.e_account_ids[:2])

    listed = bank.run(
        lambda s: service.list_accounts(s, bank.call(app, holder, consent), bank.now())
    )

    assert [a.id for a in listed] == holder.e_account_ids[:2]


def test_an_account_outside_the_consent_is_account_not_found(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=2)
    consent = bank.authorised(app, holder, accounts=holder.e_account_ids[:1])

    with pytest.raises(AccountNotFound):
        bank.run(
            lambda s: service.get_balance(
                s, bank.call(app, holder, consent), holder.e_account_ids[1], bank.now()
            )
        )


def test_a_permission_not_granted_is_permission_not_granted(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder, permissions=("accounts",))

    with pytest.raises(PermissionNotGranted):
        bank.run(
            lambda s: service.get_balance(
                s, bank.call(app, holder, consent), holder.e_account_ids[0], bank.now()
            )
        )


def test_balance_reads_the_ledger(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(funded=12_345)
    consent = bank.authorised(app, holder)

    balance = bank.run(
        lambda s: service.get_balance(
            s, bank.call(app, holder, consent), holder.e_account_ids[0], bank.now()
        )
    )

    assert (balance.balance, balance.available, balance.currency) == (12_345, 12_345, "CNY")


def test_transactions_page_with_a_cursor(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=1, funded=100)
    e_account_id = holder.e_account_ids[0]
    bank.run(lambda s: customers.top_up(s, e_account_id, 200, bank.now(), bank.settings))
    bank.run(lambda s: customers.top_up(s, e_account_id, 300, bank.now(), bank.settings))
    consent = bank.authorised(app, holder)
    call = bank.call(app, holder, consent)

    first, cursor = bank.run(
        lambda s: service.list_transactions(s, call, e_account_id, None, 2, bank.now())
    )
    rest, end = bank.run(
        lambda s: service.list_transactions(s, call, e_account_id, cursor, 2, bank.now())
    )

    assert [t.amount for t in first + rest] == [100, 200, 300]
    assert [t.balance_after for t in first + rest] == [100, 300, 600]
    assert {t.direction for t in first} == {"credit"}
    assert end is None


def test_a_partner_level_call_cannot_read_accounts(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    bank.authorised(app, holder)

    with pytest.raises(ConsentRequired):
        bank.run(lambda s: service.list_accounts(s, bank.call(app), bank.now()))


def test_a_call_without_the_scope_is_refused_by_the_service(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder)
    call = bank.call(app, holder, consent, scopes=frozenset({"payments"}))

    with pytest.raises(InsufficientScope):
        bank.run(lambda s: service.list_accounts(s, call, bank.now()))


def test_revocation_stops_reads_at_the_next_call(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder)
    call = bank.call(app, holder, consent)
    bank.run(lambda s: service.list_accounts(s, call, bank.now()))
    bank.run(lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now()))

    with pytest.raises(ConsentRevoked):
        bank.run(lambda s: service.list_accounts(s, call, bank.now()))


def test_top_up_moves_money_and_emits_its_event(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=1)
    consent = bank.authorised(app, holder)
    e_account_id = holder.e_account_ids[0]

    moved = bank.run(
        lambda s: service.top_up(
            s, bank.call(app, holder, consent), e_account_id, 5_000, bank.now(), bank.settings
        )
    )

    assert moved.kind == "top_up"
    assert bank.run(lambda s: customers.get_e_account(s, e_account_id).balance) == 5_000
    (event,) = [
        e
        for e in bank.events(f"e-accounts/{e_account_id}")
        if e.event_type == "e_account.top_up.completed"
    ]
    assert event.payload["amount"] == 5_000
    assert event.app_id == uuid.UUID(app.app_id)


def test_withdraw_needs_the_withdraw_permission(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=1, funded=1_000)
    consent = bank.authorised(app, holder, permissions=("accounts", "top_up"))

    with pytest.raises(PermissionNotGranted):
        bank.run(
            lambda s: service.withdraw(
                s,
                bank.call(app, holder, consent),
                holder.e_account_ids[0],
                500,
                bank.now(),
                bank.settings,
            )
        )
    assert bank.run(lambda s: customers.get_e_account(s, holder.e_account_ids[0]).balance) == 1_000


def test_withdraw_moves_money_to_the_bound_card(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=1, funded=1_000)
    consent = bank.authorised(app, holder)

    moved = bank.run(
        lambda s: service.withdraw(
            s,
            bank.call(app, holder, consent),
            holder.e_account_ids[0],
            400,
            bank.now(),
            bank.settings,
        )
    )

    assert moved.kind == "withdrawal"
    assert bank.run(lambda s: customers.get_e_account(s, holder.e_account_ids[0]).balance) == 600


def test_a_payment_consent_token_cannot_read_accounts(bank: Bank) -> None:
    app, holder, creditor = bank.app(), bank.holder(), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, holder, creditor.e_account_ids[0])

    with pytest.raises(WrongConsentKind):
        bank.run(lambda s: service.list_accounts(s, bank.call(app, holder, consent), bank.now()))


def test_a_payment_consent_in_another_currency_is_refused(bank: Bank) -> None:
    creditor = bank.holder(accounts=1)

    with pytest.raises(UnsupportedCurrency):
        bank.payment_requested(bank.app(), creditor.e_account_ids[0], currency="USD")


def test_a_payment_consent_to_an_unknown_creditor_is_refused(bank: Bank) -> None:
    with pytest.raises(CreditorAccountInvalid):
        bank.payment_requested(bank.app(), uuid.uuid4())


def test_a_payment_consent_to_a_frozen_creditor_is_refused(bank: Bank) -> None:
    creditor = bank.holder(accounts=1)
    bank.run(lambda s: customers.freeze_e_account(s, creditor.e_account_ids[0]))

    with pytest.raises(CreditorAccountInvalid):
        bank.payment_requested(bank.app(), creditor.e_account_ids[0])


def test_a_payment_consent_shows_the_creditor_masked(bank: Bank) -> None:
    creditor = bank.holder(accounts=1)

    consent = bank.payment_requested(bank.app(), creditor.e_account_ids[0])

    assert consent.payment is not None
    assert consent.payment.creditor_name == "*三"
    assert consent.permissions == ["payment"]


def test_creating_a_consent_emits_nothing(bank: Bank) -> None:
    consent = bank.requested(bank.app())

    assert bank.consent_events(consent.id) == []


def test_call_for_consent_binds_a_signed_call_to_the_consents_customer(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder()
    consent = bank.authorised(app, holder)

    bound = bank.run(lambda s: service.call_for_consent(s, bank.call(app), consent.id, bank.now()))

    assert (bound.customer_id, bound.consent_id) == (holder.customer_id, consent.id)


def test_outbox_rows_of_a_failed_operation_are_not_committed(bank: Bank) -> None:
    app, holder = bank.app(), bank.holder(accounts=1, funded=100)
    consent = bank.authorised(app, holder)
    e_account_id = holder.e_account_ids[0]

    with pytest.raises(ExceedsCredits):
        bank.run(
            lambda s: service.withdraw(
                s, bank.call(app, holder, consent), e_account_id, 500, bank.now(), bank.settings
            )
        )

    withdrawn = bank.run(
        lambda s: s.execute(
            select(OutboxEvent).where(
                OutboxEvent.subject == f"e-accounts/{e_account_id}",
                OutboxEvent.event_type == "e_account.withdrawal.completed",
            )
        ).all()
    )
    assert withdrawn == []
