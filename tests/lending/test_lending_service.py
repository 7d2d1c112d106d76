"""Lending end to end through the service, against real PostgreSQL: decisions, disbursement,
repayment, the end-of-day batch, backdating, reversal, prepayment, joint loans, write-off."""

from __future__ import annotations

import random
import threading
import uuid
from datetime import timedelta
from functools import partial

import pytest

from openbank.core.database import Database
from openbank.core.errors import DomainError
from openbank.ledger import service as ledger
from openbank.lending import service as lending
from openbank.lending.schemas import (
    BlockListCreate,
    OfferAccept,
    PrepaymentCreate,
    RepaymentCreate,
)
from tests.lending.support import WEAK_PROFILE, Bank

WRITE_OFF_DAYS = lending.WRITE_OFF_AFTER_DAYS


@pytest.fixture
def bank(fresh_db: Database) -> Bank:
    bank = Bank(fresh_db, fresh_db.settings)
    bank.import_library()
    return bank


def repay(bank: Bank, contract_id: uuid.UUID, amount: int, **extra: object) -> None:
    spec = RepaymentCreate(amount=amount, **extra)
    bank.work(lambda s: lending.repay(s, contract_id, spec, bank.clock.now(), bank.settings))


def test_an_accepted_offer_pays_the_principal_less_the_upfront_fee_into_the_e_account(
    bank: Bank,
) -> None:
    contract, e_account_id = bank.borrow(amount=1_000_000, months=6, product="zy-quick-cash")
    assert bank.balance(e_account_id) == 1_000_000 - 5_000  # a 0.5 % fee kept back
    assert contract.status == "active"
    assert bank.account_balances(contract)["principal"] == 1_000_000
    assert len(contract.instalments) == 6


def test_a_weak_applicant_is_not_approved_and_is_told_why(bank: Bank) -> None:
    customer_id = bank.customer()
    request = bank.application(customer_id, profile=WEAK_PROFILE)
    application = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    assert application.decision in ("declined", "referred")
    assert all(reason.message for reason in application.reasons)
    # Among the reasons: what held the score down, in words a customer can be told.
    factors = [r for r in application.reasons if r.code.startswith("credit.")]
    assert factors
    assert "Checking account" in " ".join(r.message for r in factors)


def test_a_blocked_customer_is_declined_with_a_reason(bank: Bank) -> None:
    customer_id = bank.customer()
    bank.work(
        lambda s: lending.block_customer(
            s, BlockListCreate(customer_id=customer_id, reason="fraud"), bank.clock.now()
        )
    )
    request = bank.application(customer_id)
    application = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    assert application.decision == "declined"
    assert "blocked" in [r.code for r in application.reasons]


def test_an_amount_outside_the_products_range_is_refused(bank: Bank) -> None:
    request = bank.application(bank.customer(), amount=50_000_000)
    with pytest.raises(DomainError) as refused:
        bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    assert refused.value.code == "amount_out_of_range"


def test_an_offer_cannot_pay_into_another_customers_e_account(bank: Bank) -> None:
    request = bank.application(bank.customer())
    application = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    stranger = bank.e_account(bank.customer())
    with pytest.raises(DomainError) as refused:
        bank.work(
            lambda s: lending.accept_offer(
                s,
                application.id,
                OfferAccept(e_account_id=stranger),
                bank.clock.now(),
                bank.settings,
            )
        )
    assert refused.value.code == "e_account_not_owned"


def test_repaying_each_instalment_on_time_pays_the_loan_off_and_empties_its_receivables(
    bank: Bank,
) -> None:
    contract, e_account_id = bank.borrow(amount=600_000, months=6)
    bank.top_up(e_account_id, 200_000)  # enough for the interest
    for instalment in contract.instalments:
        bank.advance_to(instalment.due_date)
        repay(bank, contract.id, instalment.principal + instalment.interest + instalment.fee)
    bank.eod()
    paid = bank.contract(contract.id)
    assert paid.status == "paid_off"
    balances = bank.account_balances(paid)
    assert {balances[r] for r in ("principal", "interest", "penalty", "fee", "clearing")} == {0}
    assert bank.work(lending.trial_balance).balanced


def test_end_of_day_auto_debits_what_is_due(bank: Bank) -> None:
    contract, _e_account_id = bank.borrow(amount=1_200_000, months=12)
    first = contract.instalments[0]
    bank.advance_to(first.due_date)
    report = bank.eod()
    assert report.auto_debits == 1
    assert report.auto_debited_amount == first.principal + first.interest
    assert bank.contract(contract.id).instalments[0].status == "paid"


def test_an_unpaid_instalment_makes_the_loan_overdue_with_penalty_and_a_bucket(
    bank: Bank,
) -> None:
    contract, e_account_id = bank.borrow(amount=1_200_000, months=12)
    bank.empty(e_account_id)
    bank.advance_to(contract.instalments[0].due_date + timedelta(days=40))
    bank.eod()
    overdue = bank.contract(contract.id)
    assert (overdue.status, overdue.bucket, overdue.days_past_due) == ("overdue", "M2", 40)
    assert overdue.instalments[0].penalty > 0
    assert bank.account_balances(overdue)["penalty"] == sum(i.penalty for i in overdue.instalments)


def test_running_end_of_day_twice_changes_nothing(bank: Bank) -> None:
    contract, _ = bank.borrow(amount=1_200_000, months=12)
    bank.advance(45)
    bank.eod()
    before = (bank.contract(contract.id), bank.account_balances(contract))
    second = bank.eod()
    assert second.transfers == 0
    assert second.auto_debits == 0
    assert second.run == 2
    assert (bank.contract(contract.id), bank.account_balances(contract)) == before


def test_a_backdated_repayment_leaves_the_state_a_replay_in_date_order_gives(bank: Bank) -> None:
    # Two identical loans; each gets the same two repayments. One records them in date order,
    # the other records the earlier one late (backdated), after an end of day in between.
    in_order, account_a = bank.borrow(amount=1_200_000, months=12, auto_debit=False)
    backdated, account_b = bank.borrow(amount=1_200_000, months=12, auto_debit=False)
    for account in (account_a, account_b):
        bank.empty(account)
        bank.top_up(account, 300_000)
    first_due = in_order.instalments[0].due_date
    late = first_due + timedelta(days=6)
    bank.advance_to(first_due)
    repay(bank, in_order.id, 50_000)
    bank.advance_to(late)
    bank.eod()
    repay(bank, in_order.id, 60_000)
    repay(bank, backdated.id, 60_000)
    repay(bank, backdated.id, 50_000, effective_date=first_due)
    bank.eod()
    a, b = bank.contract(in_order.id), bank.contract(backdated.id)
    assert a.instalments == b.instalments
    assert (a.overdue_amount, a.payoff_amount) == (b.overdue_amount, b.payoff_amount)
    assert list(bank.account_balances(a).values()) == list(bank.account_balances(b).values())


def test_a_reversed_repayment_goes_back_and_the_loan_is_as_if_it_never_happened(
    bank: Bank,
) -> None:
    contract, e_account_id = bank.borrow(amount=1_200_000, months=12)
    untouched, _ = bank.borrow(amount=1_200_000, months=12)
    bank.advance(3)
    balance = bank.balance(e_account_id)
    repay(bank, contract.id, 80_000)
    event = bank.work(lambda s: lending.list_events(s, contract.id))[-1]
    bank.work(lambda s: lending.reverse(s, contract.id, event.id, bank.clock.now(), bank.settings))
    assert bank.balance(e_account_id) == balance
    bank.eod()  # both loans accrue the same three days of interest
    reversed_, fresh = bank.contract(contract.id), bank.contract(untouched.id)
    assert reversed_.instalments == fresh.instalments
    assert list(bank.account_balances(reversed_).values()) == list(
        bank.account_balances(fresh).values()
    )


def test_full_prepayment_pays_the_payoff_amount_and_closes_the_loan(bank: Bank) -> None:
    contract, e_account_id = bank.borrow(amount=1_200_000, months=12)
    bank.top_up(e_account_id, 100_000)
    bank.advance(10)
    payoff = bank.contract(contract.id).payoff_amount
    before = bank.balance(e_account_id)
    bank.work(
        lambda s: lending.prepay(
            s, contract.id, PrepaymentCreate(mode="full"), bank.clock.now(), bank.settings
        )
    )
    closed = bank.contract(contract.id)
    assert closed.status == "paid_off"
    assert bank.balance(e_account_id) == before - payoff
    assert 1_200_000 < payoff < 1_200_000 + contract.instalments[0].interest


def test_a_joint_loan_is_funded_and_repaid_by_share(bank: Bank) -> None:
    funds = bank.work(lambda s: lending.get_funding_partner(s, "hengxin-cf")).available_funds
    contract, _e_account_id = bank.borrow(amount=1_000_000, months=12, product="hx-joint-consumer")
    partner = bank.work(lambda s: lending.get_funding_partner(s, "hengxin-cf"))
    assert partner.available_funds == funds - 300_000
    assert partner.outstanding == 300_000
    first = contract.instalments[0]
    bank.advance_to(first.due_date)
    bank.eod()  # auto-debit
    partner = bank.work(lambda s: lending.get_funding_partner(s, "hengxin-cf"))
    returned = 300_000 * first.principal // 1_000_000
    interest_share = int(first.interest * 0.3)
    assert partner.available_funds == funds - 300_000 + returned + interest_share


def test_a_funding_partner_cannot_go_over_its_cap(bank: Bank) -> None:
    bank.partner("tight-cap", cap=400_000, funds=10_000_000)
    bank.joint_variant("tight-joint", "tight-cap", "0.4")
    bank.borrow(amount=1_000_000, months=12, product="tight-joint")  # 400,000 of the cap
    with pytest.raises(DomainError) as refused:
        bank.borrow(amount=100_000, months=12, product="tight-joint")
    assert refused.value.code == "partner_cap_exceeded"


def test_concurrent_repayments_never_collect_more_than_is_payable(bank: Bank) -> None:
    contract, _e_account_id = bank.borrow(amount=1_200_000, months=12)
    bank.advance_to(contract.instalments[0].due_date)
    payable = bank.contract(contract.id).payable_now
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            repay(bank, contract.id, payable // 3)
            outcomes.append("paid")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("paid") == 3
    assert set(outcomes) == {"paid", "repayment_exceeds_due"}
    loan = bank.contract(contract.id)
    collected = sum(e.amount for e in bank.work(lambda s: lending.list_events(s, contract.id)))
    assert collected == 3 * (payable // 3)
    assert loan.payable_now == payable - collected
    assert bank.work(lending.trial_balance).balanced


def test_a_written_off_joint_loan_shares_the_loss_with_the_partner(bank: Bank) -> None:
    contract, _ = bank.borrow(
        amount=1_000_000, months=12, product="hx-joint-consumer", auto_debit=False
    )
    bank.advance_to(contract.instalments[0].due_date + timedelta(days=WRITE_OFF_DAYS))
    with pytest.raises(DomainError):  # 90 days past due is not yet enough
        bank.work(lambda s: lending.write_off(s, contract.id, bank.clock.now(), bank.settings))
    bank.advance(1)
    written_off = bank.work(
        lambda s: lending.write_off(s, contract.id, bank.clock.now(), bank.settings)
    )
    balances = bank.account_balances(written_off)
    assert written_off.status == "written_off"
    assert balances["principal"] == balances["interest"] == balances["penalty"] == 0
    assert balances["partner_payable"] == 0  # the partner bore its 30 % of the principal
    assert bank.work(lending.trial_balance).balanced


def test_a_random_history_keeps_the_ledger_equal_to_the_replayed_contracts(bank: Bank) -> None:
    rng = random.Random(2026)
    statuses: list[int] = []
    loans = [
        bank.borrow(amount=1_000_000, months=6, auto_debit=rng.random() < 0.5) for _ in range(3)
    ]
    for _ in range(40):
        contract, e_account_id = rng.choice(loans)
        action = rng.random()
        try:
            if action < 0.3:
                bank.advance(rng.randint(1, 20))
                bank.eod()
            elif action < 0.7:
                amount = rng.randint(1, 150_000)
                bank.top_up(e_account_id, amount)
                back = rng.randint(0, 10)
                effective = max(bank.today - timedelta(days=back), contract.start_date)
                repay(bank, contract.id, amount, effective_date=effective)
            elif action < 0.85:
                events = bank.work(partial(lending.list_events, contract_id=contract.id))
                repayments = [e for e in events if e.kind == "repayment"]
                if repayments:
                    event = rng.choice(repayments)
                    bank.work(
                        partial(
                            lending.reverse,
                            contract_id=contract.id,
                            event_id=event.id,
                            now=bank.clock.now(),
                            settings=bank.settings,
                        )
                    )
            else:
                bank.top_up(e_account_id, 200_000)
                spec = PrepaymentCreate(
                    mode="smaller_instalment", amount=rng.randint(50_000, 200_000)
                )
                bank.work(
                    partial(
                        lending.prepay,
                        contract_id=contract.id,
                        spec=spec,
                        now=bank.clock.now(),
                        settings=bank.settings,
                    )
                )
        except DomainError as refused:  # a refusal is fine; it must change nothing
            statuses.append(refused.status)
    assert all(400 <= status < 500 for status in statuses)
    kinds = [
        e.kind
        for loan, _ in loans
        for e in bank.work(partial(lending.list_events, contract_id=loan.id))
    ]
    assert kinds.count("repayment") >= 5
    assert kinds.count("reversal") >= 1
    assert kinds.count("prepayment") >= 1
    bank.eod()
    assert bank.work(lending.trial_balance).balanced
    assert ledger.verify(bank.db).ok


def test_existing_loans_count_towards_the_debt_to_income_cap(bank: Bank) -> None:
    contract, _ = bank.borrow(amount=12_000_000, months=12, income=2_000_000)
    monthly = max(i.principal + i.interest for i in contract.instalments)
    # Income at which the first loan alone takes 40 % of it: a second such loan goes over 55 %.
    income = monthly * 100 // 40
    request = bank.application(contract.customer_id, amount=12_000_000, income=income)
    second = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    assert second.decision == "declined"
    assert "debt_to_income_too_high" in [r.code for r in second.reasons]


def test_auto_debit_takes_what_the_e_account_holds_and_the_rest_falls_overdue(
    bank: Bank,
) -> None:
    contract, e_account_id = bank.borrow(amount=1_200_000, months=12)
    bank.empty(e_account_id)
    bank.top_up(e_account_id, 30_000)
    first = contract.instalments[0]
    bank.advance_to(first.due_date)
    report = bank.eod()
    assert report.auto_debited_amount == 30_000
    assert bank.balance(e_account_id) == 0
    bank.advance(1)
    bank.eod()
    loan = bank.contract(contract.id)
    assert (loan.status, loan.days_past_due) == ("overdue", 1)
    assert loan.overdue_amount > first.principal + first.interest - 30_000


def test_a_purpose_bound_loan_is_paid_to_the_merchant_not_the_borrower(bank: Bank) -> None:
    borrower = bank.customer()
    e_account_id = bank.e_account(borrower)
    dealer = bank.e_account(bank.customer("enterprise"))
    request = bank.application(borrower, product="ob-car-purchase", amount=10_000_000, months=36)
    application = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    assert application.decision == "approved", application.reasons
    with pytest.raises(DomainError) as refused:  # a car loan is not paid to the borrower
        bank.work(
            lambda s: lending.accept_offer(
                s,
                application.id,
                OfferAccept(e_account_id=e_account_id),
                bank.clock.now(),
                bank.settings,
            )
        )
    assert refused.value.code == "payee_not_allowed"
    spec = OfferAccept(e_account_id=e_account_id, payee_e_account_id=dealer)
    contract = bank.work(
        lambda s: lending.accept_offer(s, application.id, spec, bank.clock.now(), bank.settings)
    )
    assert bank.balance(dealer) == 10_000_000 - 100_000  # less the 1 % fee
    assert bank.balance(e_account_id) == 0
    assert contract.payee_e_account_id == dealer


def test_an_offer_is_accepted_once(bank: Bank) -> None:
    customer_id = bank.customer()
    e_account_id = bank.e_account(customer_id)
    request = bank.application(customer_id)
    application = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    spec = OfferAccept(e_account_id=e_account_id)
    bank.work(
        lambda s: lending.accept_offer(s, application.id, spec, bank.clock.now(), bank.settings)
    )
    with pytest.raises(DomainError) as refused:
        bank.work(
            lambda s: lending.accept_offer(s, application.id, spec, bank.clock.now(), bank.settings)
        )
    assert refused.value.code == "offer_not_open"
    assert bank.balance(e_account_id) == request.amount


def test_a_referred_application_opens_its_offer_when_a_credit_officer_approves(
    bank: Bank,
) -> None:
    request = bank.application(bank.customer(), profile=WEAK_PROFILE)
    application = bank.work(lambda s: lending.apply(s, request, bank.clock.now(), bank.settings))
    assert application.decision == "referred", application.reasons
    approved = bank.work(
        lambda s: lending.decide_referral(
            s, application.id, True, "salary verified", bank.clock.now()
        )
    )
    assert (approved.decision, approved.status) == ("approved", "offered")
    assert approved.offer is not None


def test_end_of_day_cannot_go_back_to_a_date_before_its_last_run(bank: Bank) -> None:
    bank.borrow()
    bank.advance(5)
    bank.eod()
    with pytest.raises(DomainError) as refused:
        bank.eod(bank.today - timedelta(days=2))
    assert refused.value.code == "end_of_day_out_of_order"


def test_end_of_day_for_yesterday_leaves_a_loan_repaid_today_alone(bank: Bank) -> None:
    contract, _ = bank.borrow(amount=1_200_000, months=12)
    first = contract.instalments[0]
    bank.advance_to(first.due_date + timedelta(days=1))
    repay(bank, contract.id, bank.contract(contract.id).overdue_amount)  # a day late, by hand
    report = bank.eod(first.due_date)  # yesterday's batch, run after midnight
    assert (report.skipped, report.auto_debits) == (1, 0)
    assert bank.contract(contract.id).instalments[0].status == "paid"


def test_a_backdated_repayment_that_later_payments_already_cover_is_refused(bank: Bank) -> None:
    contract, _ = bank.borrow(amount=1_200_000, months=12, auto_debit=False)
    first = contract.instalments[0]
    bank.advance_to(first.due_date + timedelta(days=3))
    owed = bank.contract(contract.id).payable_now
    repay(bank, contract.id, owed)  # everything due and the next instalment, today
    with pytest.raises(DomainError) as refused:
        repay(bank, contract.id, first.principal, effective_date=first.due_date)
    assert refused.value.code == "repayment_exceeds_due"


def test_concurrent_acceptances_never_take_a_partner_over_its_cap(bank: Bank) -> None:
    bank.partner("race-cap", cap=600_000, funds=10_000_000)  # room for two 300,000 shares
    bank.joint_variant("race-joint", "race-cap", "0.3")
    offers = []
    for _ in range(6):
        customer_id = bank.customer()
        e_account_id = bank.e_account(customer_id)
        request = bank.application(customer_id, product="race-joint", amount=1_000_000)
        application = bank.work(
            partial(lending.apply, request=request, now=bank.clock.now(), settings=bank.settings)
        )
        offers.append((application.id, e_account_id))
    outcomes: list[str] = []

    def accept(application_id: uuid.UUID, e_account_id: uuid.UUID) -> None:
        spec = OfferAccept(e_account_id=e_account_id)
        try:
            bank.work(
                lambda s: lending.accept_offer(
                    s, application_id, spec, bank.clock.now(), bank.settings
                )
            )
            outcomes.append("accepted")
        except DomainError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=accept, args=offer) for offer in offers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] * 2 + ["partner_cap_exceeded"] * 4
    partner = bank.work(lambda s: lending.get_funding_partner(s, "race-cap"))
    assert partner.outstanding == 600_000
    assert partner.available_funds == 10_000_000 - 600_000


def test_a_product_with_grace_periods_asks_only_interest_at_first(bank: Bank) -> None:
    bank.variant("ob-consumer-flex", "grace-consumer", grace_periods=2)
    contract, _ = bank.borrow(amount=1_200_000, months=12, product="grace-consumer")
    assert [i.principal for i in contract.instalments[:2]] == [0, 0]
    assert all(i.principal > 0 for i in contract.instalments[2:])
    assert sum(i.principal for i in contract.instalments) == 1_200_000


def test_a_reversal_the_partner_can_no_longer_fund_is_refused_in_lendings_words(
    bank: Bank,
) -> None:
    bank.partner("thin", cap=10_000_000, funds=600_000)
    bank.joint_variant("thin-joint", "thin", "0.3")
    contract, _ = bank.borrow(amount=2_000_000, months=12, product="thin-joint")
    bank.advance_to(contract.instalments[0].due_date)
    bank.eod()  # the auto-debit pays the partner its share
    returned = bank.work(lambda s: lending.get_funding_partner(s, "thin")).available_funds
    bank.borrow(amount=int(returned / 0.3) // 100 * 100, months=12, product="thin-joint")
    left = bank.work(lambda s: lending.get_funding_partner(s, "thin")).available_funds
    assert left < returned
    event = bank.work(lambda s: lending.list_events(s, contract.id))[-1]
    with pytest.raises(DomainError) as refused:
        bank.work(
            lambda s: lending.reverse(s, contract.id, event.id, bank.clock.now(), bank.settings)
        )
    assert refused.value.code == "partner_funds_insufficient"


def test_reversing_a_joint_loan_repayment_takes_the_partners_share_back(bank: Bank) -> None:
    contract, _ = bank.borrow(amount=1_000_000, months=12, product="hx-joint-consumer")
    before = bank.work(lambda s: lending.get_funding_partner(s, "hengxin-cf")).available_funds
    bank.advance_to(contract.instalments[0].due_date)
    bank.eod()
    event = bank.work(lambda s: lending.list_events(s, contract.id))[-1]
    bank.work(lambda s: lending.reverse(s, contract.id, event.id, bank.clock.now(), bank.settings))
    after = bank.work(lambda s: lending.get_funding_partner(s, "hengxin-cf")).available_funds
    assert after == before
    assert bank.work(lending.trial_balance).balanced
