"""The merchant discount rate: percentage, fixed part, minimum and cap, contribution tiers, the
fee a refund gives back, the explanation of each line, and the settlement's SQL giving the same
fees as the Python rules."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from openbank.core.database import Database, unit_of_work
from openbank.payments import fees
from openbank.payments.fees import Contribution
from openbank.payments.schemas import FeePlanCreate
from openbank.payments.settlement import capture_fee_sql, fee_returned_sql

NOBODY = Contribution(average_deposit_balance=0, loan_interest_paid=0)


def plan(**fields: Any) -> FeePlanCreate:
    return FeePlanCreate.model_validate({"code": "p", "name": "P", "rate_ppm": 6000, **fields})


def fee_of(amount: int, contribution: Contribution = NOBODY, **fields: Any) -> int:
    return fees.explain_capture(amount, fees.rate_for(plan(**fields), contribution)).fee


GOLD = {"name": "gold", "min_average_deposit_balance": 1_000_000, "rate_reduction_ppm": 2000}
LOAN = {"name": "loan", "min_loan_interest_paid": 50_000, "rate_reduction_ppm": 1500}
BOTH = {
    "name": "both",
    "min_average_deposit_balance": 1_000_000,
    "min_loan_interest_paid": 50_000,
    "rate_reduction_ppm": 3500,
}


# -- one capture ----------------------------------------------------------------------------


def test_the_fee_is_the_rate_in_parts_per_million_of_the_amount() -> None:
    assert fee_of(100_000, rate_ppm=6000) == 600


def test_the_percentage_part_rounds_half_up() -> None:
    assert fee_of(250, rate_ppm=10_000) == 3  # 2.5 -> 3
    assert fee_of(249, rate_ppm=10_000) == 2  # 2.49 -> 2
    assert fee_of(251, rate_ppm=6000) == 2  # 1.506 -> 2


def test_the_fixed_fee_is_added_to_the_percentage() -> None:
    assert fee_of(100_000, rate_ppm=6000, fixed_fee=30) == 630


def test_the_minimum_fee_raises_a_small_fee() -> None:
    explained = fees.explain_capture(100, fees.rate_for(plan(min_fee=10), NOBODY))
    assert (explained.percentage_part, explained.fee, explained.minimum_applied) == (1, 10, True)


def test_the_cap_lowers_a_large_fee() -> None:
    explained = fees.explain_capture(10_000_000, fees.rate_for(plan(max_fee=2000), NOBODY))
    assert (explained.percentage_part, explained.fee, explained.cap_applied) == (60_000, 2000, True)


def test_no_cap_leaves_a_large_fee_as_it_is() -> None:
    assert fee_of(10**12, rate_ppm=6000) == 6 * 10**9


def test_a_zero_rate_with_no_fixed_fee_charges_nothing() -> None:
    assert fee_of(123_456, rate_ppm=0) == 0


# -- tiers ----------------------------------------------------------------------------------


def test_no_tier_applies_to_a_merchant_that_brings_nothing() -> None:
    rate = fees.rate_for(plan(tiers=[GOLD, LOAN]), NOBODY)
    assert (rate.tier, rate.effective_rate_ppm) == (None, 6000)


def test_a_deposit_tier_is_earned_by_the_average_deposit_balance() -> None:
    contribution = Contribution(average_deposit_balance=1_000_000, loan_interest_paid=0)
    rate = fees.rate_for(plan(tiers=[GOLD]), contribution)
    assert (rate.tier, rate.rate_reduction_ppm, rate.effective_rate_ppm) == ("gold", 2000, 4000)


def test_a_deposit_just_below_the_minimum_earns_no_tier() -> None:
    contribution = Contribution(average_deposit_balance=999_999, loan_interest_paid=10**9)
    assert fees.rate_for(plan(tiers=[GOLD]), contribution).tier is None


def test_an_interest_tier_is_earned_by_loan_interest_paid() -> None:
    contribution = Contribution(average_deposit_balance=0, loan_interest_paid=50_000)
    assert fees.rate_for(plan(tiers=[GOLD, LOAN]), contribution).tier == "loan"


def test_a_tier_asking_for_both_needs_both() -> None:
    deposits_only = Contribution(average_deposit_balance=5_000_000, loan_interest_paid=0)
    both = Contribution(average_deposit_balance=5_000_000, loan_interest_paid=60_000)
    assert fees.rate_for(plan(tiers=[BOTH]), deposits_only).tier is None
    assert fees.rate_for(plan(tiers=[BOTH]), both).tier == "both"


def test_the_tier_with_the_largest_reduction_wins() -> None:
    both = Contribution(average_deposit_balance=5_000_000, loan_interest_paid=60_000)
    rate = fees.rate_for(plan(tiers=[LOAN, BOTH, GOLD]), both)
    assert (rate.tier, rate.effective_rate_ppm) == ("both", 2500)


def test_of_equal_reductions_the_first_listed_wins() -> None:
    twin = {**GOLD, "name": "twin"}
    rich = Contribution(average_deposit_balance=5_000_000, loan_interest_paid=0)
    assert fees.rate_for(plan(tiers=[twin, GOLD]), rich).tier == "twin"


def test_a_reduction_larger_than_the_rate_leaves_a_zero_rate() -> None:
    huge = {"name": "huge", "rate_reduction_ppm": 9000}
    rate = fees.rate_for(plan(rate_ppm=6000, fixed_fee=5, tiers=[huge]), NOBODY)
    assert (rate.rate_reduction_ppm, rate.effective_rate_ppm) == (9000, 0)
    assert fees.explain_capture(100_000, rate).fee == 5  # the fixed part stays


def test_the_minimum_still_applies_at_a_reduced_rate() -> None:
    rich = Contribution(average_deposit_balance=5_000_000, loan_interest_paid=0)
    assert fee_of(1000, rich, min_fee=8, tiers=[GOLD]) == 8


# -- refunds --------------------------------------------------------------------------------


def test_a_full_refund_returns_the_whole_fee() -> None:
    assert (
        fees.fee_returned(fee_charged=61, captured=10_001, refunded_before=0, amount=10_001) == 61
    )


def test_a_partial_refund_returns_its_proportion_half_up() -> None:
    # 61 * 2500 / 10000 = 15.25 -> 15; 61 * 5000 / 10000 = 30.5 -> 31
    assert fees.fee_returned(61, 10_000, 0, 2500) == 15
    assert fees.fee_returned(61, 10_000, 0, 5000) == 31


def test_several_refunds_return_the_whole_fee_together_and_never_more() -> None:
    parts = [3333, 3333, 3334]
    returned, before = [], 0
    for part in parts:
        returned.append(fees.fee_returned(100, 10_000, before, part))
        before += part
    assert returned == [33, 34, 33]
    assert sum(returned) == 100


@given(
    captured=st.integers(1, 10**9),
    fee=st.integers(0, 10**7),
    cuts=st.lists(st.integers(1, 10**9), min_size=1, max_size=8),
)
def test_refund_returns_are_cumulative_and_bounded_by_the_fee(
    captured: int, fee: int, cuts: list[int]
) -> None:
    before, total = 0, 0
    for cut in cuts:
        amount = min(cut, captured - before)
        if amount <= 0:
            break
        returned = fees.fee_returned(fee, captured, before, amount)
        assert returned >= 0
        total += returned
        before += amount
        assert total <= fee
        assert total == fees.returned_in_all(fee, captured, before)
    if before == captured:
        assert total == fee


# -- explanations ---------------------------------------------------------------------------


def test_the_capture_explanation_says_each_step() -> None:
    rich = Contribution(average_deposit_balance=5_000_000, loan_interest_paid=0)
    rate = fees.rate_for(plan(rate_ppm=6000, fixed_fee=20, min_fee=50, tiers=[GOLD]), rich)
    explained = fees.explain_capture(1000, rate)
    assert explained.model_dump() == {
        "amount": 1000,
        "base_rate_ppm": 6000,
        "tier": "gold",
        "rate_reduction_ppm": 2000,
        "effective_rate_ppm": 4000,
        "percentage_part": 4,
        "fixed_part": 20,
        "min_fee": 50,
        "max_fee": None,
        "minimum_applied": True,
        "cap_applied": False,
        "fee": 50,
    }
    assert explained.text() == (
        "1000 x 0.4000% (base 0.6000%, tier gold -0.2000%) = 4 + fixed 20,"
        " raised to the minimum 50 = fee 50"
    )


def test_the_refund_explanation_says_how_much_was_returned_before() -> None:
    explained = fees.explain_refund(
        fee_charged=60, captured=10_000, refunded_before=5000, amount=5000
    )
    assert (explained.returned_before, explained.returned_after, explained.fee_returned) == (
        30,
        60,
        30,
    )
    assert "refunded 10000 of 10000" in explained.text()


# -- the settlement's SQL -------------------------------------------------------------------

amounts = st.one_of(st.integers(1, 10_000), st.integers(1, 10**15))
capture_cases = st.lists(
    st.tuples(
        amounts,
        st.integers(0, 1_000_000),  # rate
        st.integers(0, 10_000),  # fixed
        st.integers(0, 10_000),  # minimum
        st.one_of(st.none(), st.integers(0, 10**7)),  # cap (raised to the minimum below)
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=40, deadline=None)
@given(cases=capture_cases)
def test_the_settlement_sql_charges_what_the_python_rules_charge(
    db: Database, cases: list[tuple[int, int, int, int, int | None]]
) -> None:
    sql = text(f"SELECT {capture_fee_sql(':amount')}")

    def run(session: Any) -> list[int]:
        results = []
        for amount, rate, fixed, minimum, cap in cases:
            params = {
                "amount": amount,
                "rate_ppm": rate,
                "fixed_fee": fixed,
                "min_fee": minimum,
                "max_fee": None if cap is None else max(cap, minimum),
            }
            results.append(int(session.execute(sql, params).scalar_one()))
        return results

    expected = [
        fees.capture_fee(a, r, f, m, None if c is None else max(c, m)) for a, r, f, m, c in cases
    ]
    assert unit_of_work(db, run) == expected


refund_cases = st.lists(
    st.tuples(
        st.integers(1, 10**12),  # captured
        st.integers(0, 10**9),  # fee charged
        st.floats(0, 1),  # refunded before, as a part of the capture
        st.floats(0, 1),  # this refund, as a part of what is left
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=40, deadline=None)
@given(cases=refund_cases)
def test_the_settlement_sql_returns_what_the_python_rules_return(
    db: Database, cases: list[tuple[int, int, float, float]]
) -> None:
    sql = text(f"SELECT {fee_returned_sql(':fee', ':captured', ':before', ':amount')}")
    shaped = []
    for captured, fee, before_part, part in cases:
        before = min(int(captured * before_part), captured - 1)
        amount = max(1, int((captured - before) * part))
        shaped.append((captured, fee, before, amount))

    def run(session: Any) -> list[int]:
        return [
            int(
                session.execute(
                    sql, {"fee": fee, "captured": captured, "before": before, "amount": amount}
                ).scalar_one()
            )
            for captured, fee, before, amount in shaped
        ]

    expected = [
        fees.fee_returned(fee, captured, before, amount) for captured, fee, before, amount in shaped
    ]
    assert unit_of_work(db, run) == expected


@pytest.mark.parametrize(
    ("ppm", "shown"), [(6000, "0.6000%"), (1_000_000, "100.0000%"), (5, "0.0005%")]
)
def test_rates_are_shown_as_percentages(ppm: int, shown: str) -> None:
    assert fees.percent(ppm) == shown
