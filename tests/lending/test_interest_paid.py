"""The loan interest a customer paid the bank over a window of business dates: what acquiring
counts as the customer's contribution (fee tiers). Loans made and repaid through the service."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from openbank.core.database import Database
from openbank.lending import service as lending
from openbank.lending.schemas import Contract, OfferAccept, RepaymentCreate
from tests.lending.support import Bank

FAR_PAST = date(2000, 1, 1)
FAR_FUTURE = date(2100, 1, 1)


@pytest.fixture
def bank(fresh_db: Database) -> Bank:
    bank = Bank(fresh_db, fresh_db.settings)
    bank.import_library()
    return bank


def repay(bank: Bank, contract_id: uuid.UUID, amount: int) -> None:
    spec = RepaymentCreate(amount=amount)
    bank.work(lambda s: lending.repay(s, contract_id, spec, bank.clock.now(), bank.settings))


def paid(bank: Bank, customer_id: uuid.UUID, start: date, end: date) -> int:
    return bank.work(lambda s: lending.interest_paid(s, customer_id, start, end))


def borrow(bank: Bank, customer_id: uuid.UUID, e_account_id: uuid.UUID, amount: int) -> Contract:
    """A consumer loan for this customer, paid out, repaid by hand (no auto-debit)."""
    request = bank.application(customer_id, amount=amount, months=12)
    now = bank.clock.now()
    application = bank.work(lambda s: lending.apply(s, request, now, bank.settings))
    assert application.decision == "approved", application.reasons
    return bank.work(
        lambda s: lending.accept_offer(
            s,
            application.id,
            OfferAccept(e_account_id=e_account_id, auto_debit=False),
            now,
            bank.settings,
        )
    )


def borrower(bank: Bank) -> tuple[uuid.UUID, uuid.UUID]:
    customer_id = bank.customer()
    return customer_id, bank.e_account(customer_id, top_up=500_000)


def test_a_customer_without_loans_paid_no_interest(bank: Bank) -> None:
    assert paid(bank, bank.customer(), FAR_PAST, FAR_FUTURE) == 0


def test_each_repayment_counts_its_interest_on_its_business_date(bank: Bank) -> None:
    customer_id, e_account_id = borrower(bank)
    contract = borrow(bank, customer_id, e_account_id, 1_200_000)
    first, second = contract.instalments[0], contract.instalments[1]
    bank.advance_to(first.due_date)
    repay(bank, contract.id, first.principal + first.interest)
    bank.advance_to(second.due_date)
    repay(bank, contract.id, second.principal + second.interest)

    assert paid(bank, customer_id, first.due_date, first.due_date) == first.interest
    assert paid(bank, customer_id, second.due_date, second.due_date) == second.interest
    assert paid(bank, customer_id, FAR_PAST, FAR_FUTURE) == first.interest + second.interest
    # Only the interest: the principal repaid with it is no contribution.
    assert paid(bank, customer_id, first.due_date, second.due_date) < (
        first.principal + first.interest
    )


def test_days_without_repayments_count_nothing(bank: Bank) -> None:
    customer_id, e_account_id = borrower(bank)
    contract = borrow(bank, customer_id, e_account_id, 1_200_000)
    first = contract.instalments[0]
    bank.advance_to(first.due_date)
    repay(bank, contract.id, first.principal + first.interest)
    assert paid(bank, customer_id, contract.start_date, first.due_date - timedelta(days=1)) == 0
    assert paid(bank, customer_id, first.due_date + timedelta(days=1), FAR_FUTURE) == 0


def test_penalty_interest_on_a_late_repayment_counts_as_interest_paid(bank: Bank) -> None:
    customer_id, e_account_id = borrower(bank)
    contract = borrow(bank, customer_id, e_account_id, 1_200_000)
    first = contract.instalments[0]
    late = first.due_date + timedelta(days=10)
    bank.advance_to(late)
    overdue = bank.contract(contract.id)
    penalty = overdue.instalments[0].penalty
    assert penalty > 0
    repay(bank, contract.id, overdue.overdue_amount)
    assert bank.contract(contract.id).instalments[0].paid_penalty == penalty
    assert paid(bank, customer_id, late, late) == first.interest + penalty


def test_a_reversed_repayment_paid_no_interest(bank: Bank) -> None:
    customer_id, e_account_id = borrower(bank)
    contract = borrow(bank, customer_id, e_account_id, 1_200_000)
    first = contract.instalments[0]
    bank.advance_to(first.due_date)
    repay(bank, contract.id, first.principal + first.interest)
    assert paid(bank, customer_id, first.due_date, first.due_date) == first.interest
    event = bank.work(lambda s: lending.list_events(s, contract.id))[-1]
    bank.work(lambda s: lending.reverse(s, contract.id, event.id, bank.clock.now(), bank.settings))
    assert paid(bank, customer_id, FAR_PAST, FAR_FUTURE) == 0


def test_interest_on_all_the_customers_loans_is_summed_and_no_one_elses(bank: Bank) -> None:
    customer_id, e_account_id = borrower(bank)
    one = borrow(bank, customer_id, e_account_id, 1_200_000)
    two = borrow(bank, customer_id, e_account_id, 600_000)
    other_id, other_account = borrower(bank)
    other = borrow(bank, other_id, other_account, 1_200_000)
    due = one.instalments[0].due_date
    bank.advance_to(due)
    for contract in (one, two, other):
        first = contract.instalments[0]
        repay(bank, contract.id, first.principal + first.interest)
    expected = one.instalments[0].interest + two.instalments[0].interest
    assert paid(bank, customer_id, due, due) == expected
    assert paid(bank, other_id, due, due) == other.instalments[0].interest


def test_an_empty_window_counts_nothing(bank: Bank) -> None:
    customer_id, e_account_id = borrower(bank)
    contract = borrow(bank, customer_id, e_account_id, 1_200_000)
    first = contract.instalments[0]
    bank.advance_to(first.due_date)
    repay(bank, contract.id, first.principal + first.interest)
    assert paid(bank, customer_id, first.due_date, first.due_date - timedelta(days=1)) == 0
