"""Invariants every repayment schedule keeps, on 10,000 random loans."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from openbank.lending.schedules import (
    PERIOD_MONTHS,
    LoanTerms,
    RepaymentMethod,
    Schedule,
    add_months,
    build_schedule,
)

EPOCH = date(2000, 1, 1)
DAYS_IN_CENTURY = 36_524


@st.composite
def loans(draw: st.DrawFn) -> LoanTerms:
    principal = draw(st.integers(min_value=1, max_value=10**12))
    periods = draw(st.integers(min_value=1, max_value=600))
    period_months = draw(st.sampled_from(PERIOD_MONTHS))
    start = EPOCH + timedelta(days=draw(st.integers(min_value=0, max_value=DAYS_IN_CENTURY)))
    first_due = None
    if draw(st.booleans()):
        # any day after the start up to two periods out (the latest allowed)
        latest = (add_months(start, 2 * period_months) - start).days
        first_due = start + timedelta(days=draw(st.integers(1, 62 * period_months)) % latest + 1)
    return LoanTerms(
        principal=principal,
        # up to 999.99 % a year, in basis points of a basis point
        annual_rate=Decimal(draw(st.integers(min_value=0, max_value=99_999_999))).scaleb(-7),
        periods=periods,
        method=draw(st.sampled_from(RepaymentMethod)),
        start=start,
        period_months=period_months,
        first_due=first_due,
        grace_periods=draw(st.integers(min_value=0, max_value=periods - 1)),
        upfront_fee=draw(st.integers(min_value=0, max_value=principal - 1)),
        periodic_fee=draw(st.integers(min_value=0, max_value=100_000)),
    )


def check_principal_sums_exactly(schedule: Schedule) -> None:
    assert schedule.total_principal == schedule.terms.principal


def check_remaining_falls_to_zero(schedule: Schedule) -> None:
    remaining = [schedule.terms.principal] + [i.remaining for i in schedule.instalments]
    assert remaining[-1] == 0
    assert all(later <= earlier for earlier, later in pairwise(remaining))
    assert all(
        before - i.principal == i.remaining
        for before, i in zip(remaining[:-1], schedule.instalments, strict=True)
    )


def check_nothing_is_negative(schedule: Schedule) -> None:
    for i in schedule.instalments:
        assert min(i.payment, i.principal, i.interest, i.fee, i.remaining) >= 0


def check_payment_is_principal_plus_interest_plus_fee(schedule: Schedule) -> None:
    for i in schedule.instalments:
        assert i.payment == i.principal + i.interest + i.fee


def check_instalment_count(schedule: Schedule) -> None:
    terms = schedule.terms
    expected = 1 if terms.method is RepaymentMethod.BULLET else terms.periods
    assert [i.period for i in schedule.instalments] == list(range(1, expected + 1))


def check_due_dates_strictly_increase(schedule: Schedule) -> None:
    dates = [schedule.terms.start] + [i.due_date for i in schedule.instalments]
    assert all(later > earlier for earlier, later in pairwise(dates))


# One pass over the 10,000 loans checks every invariant (a pass per invariant would take ~6x
# as long); each check is its own named function, so a failure says which one broke.
@settings(max_examples=10_000, deadline=None)
@given(loans())
def test_random_loans_keep_every_schedule_invariant(terms: LoanTerms) -> None:
    schedule = build_schedule(terms)
    check_principal_sums_exactly(schedule)
    check_remaining_falls_to_zero(schedule)
    check_nothing_is_negative(schedule)
    check_payment_is_principal_plus_interest_plus_fee(schedule)
    check_instalment_count(schedule)
    check_due_dates_strictly_increase(schedule)
