"""The servicing replay: what a loan owes on a day, from its schedule and events alone."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from openbank.lending.schedules import LoanTerms, RepaymentMethod, build_schedule
from openbank.lending.servicing import ContractTerms, EventKind, LoanEvent, bucket_of, replay

START = date(2026, 1, 15)
TERMS = LoanTerms(
    principal=1_200_000,
    annual_rate=Decimal("0.12"),
    periods=12,
    method=RepaymentMethod.EQUAL_INSTALLMENT,
    start=START,
    periodic_fee=500,
)
SCHEDULE = build_schedule(TERMS).instalments
CONTRACT = ContractTerms(terms=TERMS, schedule=SCHEDULE, penalty_rate=Decimal("0.18"))
FIRST = SCHEDULE[0]


def event(
    seq: int, on: date, amount: int = 0, kind: EventKind = "repayment", **extra: Any
) -> LoanEvent:
    return LoanEvent(
        id=uuid.UUID(int=seq),
        seq=seq,
        kind=kind,
        effective_date=on,
        amount=amount,
        **extra,
    )


def test_paying_every_instalment_on_its_due_date_pays_the_loan_off_without_penalty() -> None:
    events = [event(k, i.due_date, i.payment) for k, i in enumerate(SCHEDULE, 1)]
    state = replay(CONTRACT, events, SCHEDULE[-1].due_date)
    assert state.status == "paid_off"
    assert state.measures.principal_collected == TERMS.principal
    assert state.measures.interest_collected == sum(i.interest for i in SCHEDULE)
    assert state.measures.fee_collected == 12 * 500
    assert state.measures.penalty_earned == 0
    assert state.unallocated == 0


def test_an_unpaid_instalment_is_one_day_past_due_the_day_after_its_due_date() -> None:
    assert replay(CONTRACT, [], FIRST.due_date).days_past_due == 0
    state = replay(CONTRACT, [], FIRST.due_date + timedelta(days=1))
    assert (state.days_past_due, state.bucket, state.status) == (1, "M1", "overdue")


@pytest.mark.parametrize(
    ("days", "bucket"), [(0, "current"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3+")]
)
def test_days_past_due_fall_into_buckets(days: int, bucket: str) -> None:
    assert bucket_of(days) == bucket


def test_penalty_interest_accrues_daily_on_overdue_principal_and_interest() -> None:
    state = replay(CONTRACT, [], FIRST.due_date + timedelta(days=10))
    base = FIRST.principal + FIRST.interest
    expected = Decimal(base) * Decimal("0.18") / 360 * 10
    assert state.measures.penalty_earned == int(expected.quantize(Decimal(1), "ROUND_HALF_UP"))


def test_penalty_does_not_depend_on_how_often_the_state_is_computed() -> None:
    late = FIRST.due_date + timedelta(days=17)
    at_once = replay(CONTRACT, [], late).measures.penalty_earned
    for day in range(1, 17):  # computing every day in between changes nothing
        replay(CONTRACT, [], FIRST.due_date + timedelta(days=day))
    assert replay(CONTRACT, [], late).measures.penalty_earned == at_once


def test_a_repayment_pays_penalty_then_fee_then_interest_then_principal() -> None:
    late = FIRST.due_date + timedelta(days=10)
    penalty = replay(CONTRACT, [], late).measures.penalty_earned
    amount = penalty + 500 + FIRST.interest + 1_000
    state = replay(CONTRACT, [event(1, late, amount)], late)
    first = state.instalments[0]
    assert (first.paid_penalty, first.paid_fee, first.paid_interest, first.paid_principal) == (
        penalty,
        500,
        FIRST.interest,
        1_000,
    )


def test_the_allocation_order_is_configurable() -> None:
    contract = ContractTerms(
        terms=TERMS,
        schedule=SCHEDULE,
        penalty_rate=Decimal("0.18"),
        allocation_order=("principal", "interest", "fee", "penalty"),
    )
    late = FIRST.due_date + timedelta(days=5)
    state = replay(contract, [event(1, late, FIRST.principal)], late)
    assert state.instalments[0].paid_principal == FIRST.principal
    assert state.instalments[0].paid_penalty == 0


def test_a_late_repayment_stops_the_penalty_from_growing() -> None:
    late = FIRST.due_date + timedelta(days=3)
    owed = replay(CONTRACT, [], late).overdue_amount
    state = replay(CONTRACT, [event(1, late, owed)], late + timedelta(days=20))
    assert state.instalments[0].settled
    assert state.days_past_due == 0


def test_interest_is_earned_pro_rata_and_in_full_on_the_due_date() -> None:
    days = (FIRST.due_date - START).days
    earned = replay(CONTRACT, [], START + timedelta(days=15)).measures.interest_earned
    assert earned == round(FIRST.interest * 15 / days)
    assert replay(CONTRACT, [], FIRST.due_date).measures.interest_earned == FIRST.interest


def test_a_reversed_repayment_counts_as_never_made() -> None:
    late = SCHEDULE[1].due_date + timedelta(days=3)
    paid = event(1, FIRST.due_date, FIRST.payment)
    reversal = event(2, late, kind="reversal", reverses=paid.id)
    assert replay(CONTRACT, [paid, reversal], late) == replay(CONTRACT, [], late)


def test_a_backdated_repayment_gives_the_state_of_the_events_in_date_order() -> None:
    early = event(2, FIRST.due_date, FIRST.payment)  # recorded second, effective first
    later = event(1, SCHEDULE[1].due_date, SCHEDULE[1].payment)
    as_of = SCHEDULE[1].due_date + timedelta(days=5)
    in_order = [
        event(1, FIRST.due_date, FIRST.payment),
        event(2, later.effective_date, later.amount),
    ]
    assert (
        replay(CONTRACT, [later, early], as_of).measures
        == replay(CONTRACT, in_order, as_of).measures
    )


def test_full_prepayment_of_the_payoff_amount_pays_the_loan_off() -> None:
    on = FIRST.due_date + timedelta(days=10)
    paid = event(1, FIRST.due_date, FIRST.payment)
    payoff = replay(CONTRACT, [paid], on).payoff_amount
    state = replay(CONTRACT, [paid, event(2, on, payoff, kind="prepayment", mode="full")], on)
    assert state.status == "paid_off"
    assert state.outstanding_principal == 0
    assert state.unallocated == 0
    # Interest for the 10 days of the current period, not the whole period.
    assert state.measures.interest_collected < FIRST.interest + SCHEDULE[1].interest


def _prepaid(mode: str) -> tuple[int, list[int]]:
    on = FIRST.due_date + timedelta(days=1)
    paid = event(1, FIRST.due_date, FIRST.payment)
    state = replay(CONTRACT, [paid, event(2, on, 500_000, kind="prepayment", mode=mode)], on)
    later = [i for i in state.instalments if i.due_date > on]
    return len(later), [i.principal + i.interest for i in later]


def test_partial_prepayment_for_a_shorter_term_keeps_the_instalment_and_ends_sooner() -> None:
    periods, payments = _prepaid("shorter_term")
    assert periods < 11
    assert max(payments[:-1]) <= FIRST.principal + FIRST.interest


def test_partial_prepayment_for_a_smaller_instalment_keeps_the_term() -> None:
    periods, payments = _prepaid("smaller_instalment")
    assert periods == 11
    assert payments[1] < FIRST.principal + FIRST.interest


def test_a_write_off_stops_accrual_and_writes_off_what_is_owed() -> None:
    on = FIRST.due_date + timedelta(days=95)
    state = replay(CONTRACT, [event(1, on, kind="write_off")], on + timedelta(days=30))
    measures = state.measures
    assert state.status == "written_off"
    assert measures.principal_written_off == TERMS.principal
    assert measures.interest_written_off == measures.interest_earned
    assert measures.penalty_written_off == measures.penalty_earned
    assert replay(CONTRACT, [event(1, on, kind="write_off")], on).measures == measures


def test_random_repayment_histories_never_collect_more_than_is_owed() -> None:
    rng = random.Random(7)
    for _ in range(200):
        events = []
        for seq in range(rng.randint(0, 15)):
            on = START + timedelta(days=rng.randint(1, 400))
            events.append(event(seq, on, rng.randint(1, 300_000)))
        as_of = START + timedelta(days=420)
        state = replay(CONTRACT, events, as_of)
        m = state.measures
        assert 0 <= m.principal_collected <= TERMS.principal
        assert m.interest_collected <= m.interest_earned
        assert m.penalty_collected <= m.penalty_earned
        assert m.fee_collected <= m.fee_billed
        collected = m.principal_collected + m.interest_collected + m.penalty_collected
        assert collected + m.fee_collected + state.unallocated == m.money_in


def test_prepaying_after_paying_the_next_instalment_early_keeps_what_was_paid() -> None:
    early = FIRST.due_date - timedelta(days=5)
    paid = event(1, early, FIRST.payment)
    on = early + timedelta(days=2)
    payoff = replay(CONTRACT, [paid], on).payoff_amount
    state = replay(CONTRACT, [paid, event(2, on, payoff, kind="prepayment", mode="full")], on)
    m = state.measures
    assert state.status == "paid_off"
    assert m.principal_collected == TERMS.principal
    collected = m.principal_collected + m.interest_collected + m.fee_collected
    assert collected + m.penalty_collected + state.unallocated == m.money_in
    assert state.unallocated == 0


def test_a_partial_prepayment_of_a_bullet_loan_leaves_one_payment_at_maturity() -> None:
    terms = LoanTerms(
        principal=1_000_000,
        annual_rate=Decimal("0.05"),
        periods=12,
        method=RepaymentMethod.BULLET,
        start=START,
    )
    contract = ContractTerms(
        terms=terms, schedule=build_schedule(terms).instalments, penalty_rate=Decimal("0.075")
    )
    on = START + timedelta(days=45)
    state = replay(
        contract, [event(1, on, 400_000, kind="prepayment", mode="smaller_instalment")], on
    )
    later = [i for i in state.instalments if i.due_date > on]
    assert len(later) == 1
    assert later[0].due_date == contract.schedule[-1].due_date
    assert state.outstanding_principal == later[0].principal < 1_000_000


def test_rebuilt_instalments_are_numbered_after_the_prepayment() -> None:
    on = FIRST.due_date + timedelta(days=1)
    paid = event(1, FIRST.due_date, FIRST.payment)
    state = replay(
        CONTRACT, [paid, event(2, on, 500_000, kind="prepayment", mode="smaller_instalment")], on
    )
    periods = [i.period for i in state.instalments]
    assert periods == sorted(set(periods))


def test_a_credit_balance_pays_the_next_instalment_on_its_due_date() -> None:
    overpaid = FIRST.payment + SCHEDULE[1].payment + 50_000
    early = event(1, FIRST.due_date, overpaid)
    assert replay(CONTRACT, [early], FIRST.due_date).unallocated == 50_000
    third_due = SCHEDULE[2].due_date
    state = replay(CONTRACT, [early], third_due + timedelta(days=1))
    third = state.instalments[2]
    assert third.paid_principal + third.paid_interest + third.paid_fee == 50_000
    assert state.unallocated == 0
    assert third.penalty > 0  # the credit did not cover it all, so the rest is late
