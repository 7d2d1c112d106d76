"""Payments under a payment consent: exactly its terms, once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from openbank.customers import service as customers
from openbank.ledger.errors import ExceedsCredits
from openbank.platform.consents import service
from openbank.platform.consents.errors import (
    ConsentConsumed,
    ConsentNotFound,
    ConsentStateConflict,
    CreditorAccountInvalid,
    PaymentDoesNotMatchConsent,
)
from openbank.platform.consents.schemas import Consent, Payment, PaymentCreate
from openbank.platform.principal import PartnerCall
from tests.platform.consents.support import Bank


def _terms(consent: Consent, **changes: object) -> PaymentCreate:
    assert consent.payment is not None
    fields = {
        "consent_id": consent.id,
        "amount": consent.payment.amount,
        "currency": consent.payment.currency,
        "creditor_e_account_id": consent.payment.creditor_e_account_id,
        "reference": consent.payment.reference,
        **changes,
    }
    return PaymentCreate.model_validate(fields)


def _pay(bank: Bank, call: PartnerCall, spec: PaymentCreate) -> Payment:
    return bank.run(lambda s: service.make_payment(s, call, spec, bank.now(), bank.settings))


def test_the_payment_moves_the_consents_amount_and_consumes_it(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0], 1_999)

    payment = _pay(bank, bank.call(app, payer, consent), _terms(consent))

    assert payment.status == "completed"
    assert payment.amount == 1_999
    assert bank.run(lambda s: customers.get_e_account(s, payer.e_account_ids[0]).balance) == 3_001
    assert bank.run(lambda s: customers.get_e_account(s, payee.e_account_ids[0]).balance) == 1_999
    assert bank.status(consent.id) == "consumed"


def test_the_payment_emits_payment_completed(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])

    payment = _pay(bank, bank.call(app, payer, consent), _terms(consent))

    (event,) = bank.events(f"payments/{payment.id}")
    assert event.event_type == "payment.completed"
    assert event.payload["consent_id"] == str(consent.id)
    assert event.payload["amount"] == 1999


def test_a_second_payment_is_consent_consumed(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])
    call = bank.call(app, payer, consent)
    _pay(bank, call, _terms(consent))

    with pytest.raises(ConsentConsumed):
        _pay(bank, call, _terms(consent))
    assert bank.run(lambda s: customers.get_e_account(s, payer.e_account_ids[0]).balance) == 3_001


def test_another_amount_is_refused(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])

    with pytest.raises(PaymentDoesNotMatchConsent):
        _pay(bank, bank.call(app, payer, consent), _terms(consent, amount=2_000))
    assert bank.status(consent.id) == "authorised"


def test_a_payment_naming_another_consent_is_consent_not_found(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])
    other = bank.payment_authorised(app, bank.holder(accounts=1), payee.e_account_ids[0])

    with pytest.raises(ConsentNotFound):
        _pay(bank, bank.call(app, payer, consent), _terms(other))
    assert bank.status(other.id) == "authorised"


def test_another_creditor_is_refused(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])
    thief = bank.holder(accounts=1)

    with pytest.raises(PaymentDoesNotMatchConsent):
        _pay(
            bank,
            bank.call(app, payer, consent),
            _terms(consent, creditor_e_account_id=thief.e_account_ids[0]),
        )


def test_a_payment_without_funds_leaves_the_consent_authorised(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=100), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0], 1_999)

    with pytest.raises(ExceedsCredits):
        _pay(bank, bank.call(app, payer, consent), _terms(consent))

    assert bank.status(consent.id) == "authorised"
    assert bank.events(f"consents/{consent.id}")[-1].event_type == "consent.authorised"


def test_a_consumed_consent_cannot_be_revoked(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])
    _pay(bank, bank.call(app, payer, consent), _terms(consent))

    with pytest.raises(ConsentStateConflict):
        bank.run(lambda s: service.revoke_by_customer(s, consent.id, payer.customer_id, bank.now()))


def test_two_payments_racing_on_one_consent_pay_once(bank: Bank) -> None:
    app, payer, payee = bank.app(), bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent = bank.payment_authorised(app, payer, payee.e_account_ids[0])
    call, spec = bank.call(app, payer, consent), _terms(consent)
    barrier = threading.Barrier(4)

    def attempt() -> str:
        barrier.wait()
        try:
            _pay(bank, call, spec)
        except ConsentConsumed:
            return "consumed"
        return "paid"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: attempt(), range(4)))

    assert outcomes == ["consumed", "consumed", "consumed", "paid"]
    assert bank.run(lambda s: customers.get_e_account(s, payer.e_account_ids[0]).balance) == 3_001


def test_a_sandbox_app_cannot_ask_to_pay_a_production_account(bank: Bank) -> None:
    """Refused like an unknown account: a sandbox app learns nothing of production."""
    production = bank.holder(sandbox=False)
    with pytest.raises(CreditorAccountInvalid):
        bank.payment_requested(bank.app(), production.e_account_ids[0])
