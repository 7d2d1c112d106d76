"""Loans lent on payment flow (merchant operating, payment-flow): capped by the merchant's
payment-flow limit, declined without flow. Merchants onboarded through payments.service,
their months of flow written as the acquiring service counts it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from openbank.core.database import Database
from openbank.lending import service as lending
from openbank.lending.schemas import Application, OfferAccept
from openbank.payments.schemas import Merchant
from tests.lending.support import Bank
from tests.payments.flow_support import day_rows, full_months_before, monthly_rows, put_flow
from tests.payments.support import merchant

OPERATING = "ob-merchant-operating"  # lends 10,000 to 1,000,000 yuan
MONTHLY = 10_000_000  # 100,000 yuan of payments a month: a 300,000 yuan flow limit


@pytest.fixture
def bank(fresh_db: Database) -> Bank:
    bank = Bank(fresh_db, fresh_db.settings)
    bank.import_library()
    return bank


def shop(bank: Bank) -> Merchant:
    return merchant(bank.db, bank.settings, bank.clock.now())


def trading(
    bank: Bank,
    volume: int = MONTHLY,
    *,
    refunded: int = 0,
    months: int = 6,
    first_days_ago: int = 400,
) -> Merchant:
    """A merchant with `months` full months of flow before today, and its first payment
    `first_days_ago` days ago."""
    onboarded = shop(bank)
    first = bank.today - timedelta(days=first_days_ago)
    put_flow(bank.db, day_rows(onboarded.id, first, count=1, volume=100))
    history = full_months_before(bank.today, months)
    put_flow(bank.db, monthly_rows(onboarded.id, history, volume, refunded=refunded))
    return onboarded


def apply(bank: Bank, customer_id: uuid.UUID, amount: int, product: str = OPERATING) -> Application:
    request = bank.application(customer_id, product, amount, 6)
    return bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))


def codes(application: Application) -> list[str]:
    return [reason.code for reason in application.reasons]


def test_a_merchant_with_strong_flow_gets_an_operating_loan_capped_by_its_flow_limit(
    bank: Bank,
) -> None:
    merchant_ = trading(bank)
    application = apply(bank, merchant_.customer_id, 50_000_000)  # 500,000 yuan asked
    assert application.decision == "approved", application.reasons
    assert application.offer is not None
    assert application.offer.amount == 30_000_000  # 3 x 100,000 yuan
    (reduced,) = [r for r in application.reasons if r.code == "amount_reduced"]
    assert "300000 yuan, the payment-flow limit" in reduced.message
    contract = bank.work(
        lambda s: lending.accept_offer(
            s,
            application.id,
            OfferAccept(e_account_id=merchant_.settlement_e_account_id),
            bank.clock.now(),
            bank.settings,
        )
    )
    assert contract.principal == 30_000_000
    assert bank.balance(merchant_.settlement_e_account_id) == 30_000_000


def test_a_request_within_the_flow_limit_is_lent_in_full(bank: Bank) -> None:
    application = apply(bank, trading(bank).customer_id, 20_000_000)
    assert application.decision == "approved", application.reasons
    assert application.offer is not None
    assert application.offer.amount == 20_000_000
    assert "amount_reduced" not in codes(application)


def test_a_merchant_without_payment_flow_is_declined(bank: Bank) -> None:
    application = apply(bank, shop(bank).customer_id, 2_000_000)
    assert application.decision == "declined"
    assert codes(application) == ["no_payment_flow"]
    assert application.offer is None


def test_high_refunds_give_a_smaller_limit(bank: Bank) -> None:
    # 20 % refunds: the net volume is 80,000 yuan a month, and the limit is halved.
    refunding = trading(bank, refunded=MONTHLY // 5)
    application = apply(bank, refunding.customer_id, 50_000_000)
    assert application.decision == "approved", application.reasons
    assert application.offer is not None
    assert application.offer.amount == 3 * 8_000_000 // 2


def test_a_person_asking_for_a_merchant_operating_loan_is_declined_for_no_payment_flow(
    bank: Bank,
) -> None:
    application = apply(bank, bank.customer("person"), 2_000_000)
    assert application.decision == "declined"
    assert "no_payment_flow" in codes(application)
    (reason,) = [r for r in application.reasons if r.code == "no_payment_flow"]
    assert "not a merchant of this bank" in reason.message


def test_a_flow_limit_cut_to_nothing_declines_and_names_the_cut(bank: Bank) -> None:
    newcomer = trading(bank, months=2, first_days_ago=70)
    application = apply(bank, newcomer.customer_id, 2_000_000)
    assert application.decision == "declined"
    assert codes(application) == ["payment_flow_limit_too_low"]
    assert "short_tenure" in application.reasons[0].message


def test_a_flow_limit_below_the_products_minimum_declines(bank: Bank) -> None:
    small = trading(bank, volume=300_000)  # a 9,000 yuan limit; the product lends from 10,000
    application = apply(bank, small.customer_id, 1_000_000)
    assert application.decision == "declined"
    assert codes(application) == ["payment_flow_limit_too_low"]
    assert "9000 yuan" in application.reasons[0].message


def test_the_payment_flow_loan_is_capped_by_the_flow_limit_too(bank: Bank) -> None:
    onboarded = shop(bank)
    bank.advance(100)  # the product asks for 3 months with the bank
    put_flow(bank.db, day_rows(onboarded.id, bank.today - timedelta(days=400), count=1, volume=1))
    put_flow(bank.db, monthly_rows(onboarded.id, full_months_before(bank.today, 6), 2_000_000))
    application = apply(bank, onboarded.customer_id, 10_000_000, product="ob-payment-flow")
    assert application.decision == "approved", application.reasons
    assert application.offer is not None
    assert application.offer.amount == 6_000_000


def test_products_not_lent_on_flow_ignore_it(bank: Bank) -> None:
    application = apply(bank, bank.customer("person"), 2_000_000, product="ob-consumer-flex")
    assert application.decision == "approved", application.reasons
    assert not {"no_payment_flow", "payment_flow_limit_too_low"} & set(codes(application))
