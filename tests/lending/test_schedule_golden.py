"""Golden repayment schedules, worked out by hand for small loans (amounts in fen)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from openbank.lending.schedules import LoanTerms, RepaymentMethod, build_schedule

# (period, due date, payment, principal, interest, fee, remaining)
Row = tuple[int, date, int, int, int, int, int]

START = date(2026, 1, 15)


def rows(terms: LoanTerms) -> list[Row]:
    return [
        (i.period, i.due_date, i.payment, i.principal, i.interest, i.fee, i.remaining)
        for i in build_schedule(terms).instalments
    ]


def loan(method: RepaymentMethod, **overrides: Any) -> LoanTerms:
    """1,200.00 yuan at 12 % a year (1 % a month) over 3 months, unless overridden."""
    terms = LoanTerms(
        principal=120_000, annual_rate=Decimal("0.12"), periods=3, method=method, start=START
    )
    return replace(terms, **overrides)


def test_equal_installment_pays_the_rounded_annuity_and_the_last_absorbs_rounding() -> None:
    # 120,000 × 0.01 × 1.01³ / (1.01³ − 1) = 40,802.65 -> 40,803 a month.
    assert rows(loan(RepaymentMethod.EQUAL_INSTALLMENT)) == [
        (1, date(2026, 2, 15), 40_803, 39_603, 1_200, 0, 80_397),
        (2, date(2026, 3, 15), 40_803, 39_999, 804, 0, 40_398),  # 803.97 -> 804
        (3, date(2026, 4, 15), 40_802, 40_398, 404, 0, 0),  # 403.98 -> 404
    ]


def test_equal_principal_repays_the_same_principal_with_interest_on_the_remaining() -> None:
    assert rows(loan(RepaymentMethod.EQUAL_PRINCIPAL)) == [
        (1, date(2026, 2, 15), 41_200, 40_000, 1_200, 0, 80_000),
        (2, date(2026, 3, 15), 40_800, 40_000, 800, 0, 40_000),
        (3, date(2026, 4, 15), 40_400, 40_000, 400, 0, 0),
    ]


def test_equal_principal_over_twelve_months() -> None:
    schedule = build_schedule(loan(RepaymentMethod.EQUAL_PRINCIPAL, periods=12))
    assert [i.principal for i in schedule.instalments] == [10_000] * 12
    assert [i.interest for i in schedule.instalments] == [
        1_200, 1_100, 1_000, 900, 800, 700, 600, 500, 400, 300, 200, 100,
    ]  # fmt: skip
    assert schedule.instalments[-1].due_date == date(2027, 1, 15)
    assert schedule.total_interest == 7_800


def test_interest_only_pays_interest_then_all_principal_with_the_last() -> None:
    assert rows(loan(RepaymentMethod.INTEREST_ONLY)) == [
        (1, date(2026, 2, 15), 1_200, 0, 1_200, 0, 120_000),
        (2, date(2026, 3, 15), 1_200, 0, 1_200, 0, 120_000),
        (3, date(2026, 4, 15), 121_200, 120_000, 1_200, 0, 0),
    ]


def test_bullet_pays_principal_and_simple_interest_once_at_maturity() -> None:
    # 120,000 × 0.12 × 3 / 12 = 3,600.
    assert rows(loan(RepaymentMethod.BULLET)) == [
        (1, date(2026, 4, 15), 123_600, 120_000, 3_600, 0, 0),
    ]


def test_bullet_over_two_half_years_accrues_a_full_year() -> None:
    terms = loan(RepaymentMethod.BULLET, periods=2, period_months=6, annual_rate=Decimal("0.1"))
    assert rows(terms) == [(1, date(2027, 1, 15), 132_000, 120_000, 12_000, 0, 0)]


def test_flat_charges_interest_on_the_original_principal_every_period() -> None:
    assert rows(loan(RepaymentMethod.FLAT)) == [
        (1, date(2026, 2, 15), 41_200, 40_000, 1_200, 0, 80_000),
        (2, date(2026, 3, 15), 41_200, 40_000, 1_200, 0, 40_000),
        (3, date(2026, 4, 15), 41_200, 40_000, 1_200, 0, 0),
    ]


def test_flat_puts_the_remainder_fen_on_the_last_instalment() -> None:
    # 1,000.00 yuan at 6 %: 0.5 % = 500 fen a month; 100,000 / 3 = 33,333 r 1.
    terms = loan(RepaymentMethod.FLAT, principal=100_000, annual_rate=Decimal("0.06"))
    assert rows(terms) == [
        (1, date(2026, 2, 15), 33_833, 33_333, 500, 0, 66_667),
        (2, date(2026, 3, 15), 33_833, 33_333, 500, 0, 33_334),
        (3, date(2026, 4, 15), 33_834, 33_334, 500, 0, 0),
    ]


def test_periodic_fee_is_added_to_every_instalment() -> None:
    terms = loan(RepaymentMethod.FLAT, periodic_fee=100, upfront_fee=1_000)
    schedule = build_schedule(terms)
    assert [(i.payment, i.fee) for i in schedule.instalments] == [(41_300, 100)] * 3
    assert schedule.total_fee == 1_300
    assert schedule.net_disbursed == 119_000


def test_equal_principal_with_a_grace_period_amortises_over_the_rest() -> None:
    terms = loan(RepaymentMethod.EQUAL_PRINCIPAL, periods=4, grace_periods=1)
    assert rows(terms) == [
        (1, date(2026, 2, 15), 1_200, 0, 1_200, 0, 120_000),
        (2, date(2026, 3, 15), 41_200, 40_000, 1_200, 0, 80_000),
        (3, date(2026, 4, 15), 40_800, 40_000, 800, 0, 40_000),
        (4, date(2026, 5, 15), 40_400, 40_000, 400, 0, 0),
    ]


def test_equal_installment_with_a_grace_period_uses_the_annuity_of_the_rest() -> None:
    terms = loan(RepaymentMethod.EQUAL_INSTALLMENT, periods=4, grace_periods=1)
    assert rows(terms) == [
        (1, date(2026, 2, 15), 1_200, 0, 1_200, 0, 120_000),
        (2, date(2026, 3, 15), 40_803, 39_603, 1_200, 0, 80_397),
        (3, date(2026, 4, 15), 40_803, 39_999, 804, 0, 40_398),
        (4, date(2026, 5, 15), 40_802, 40_398, 404, 0, 0),
    ]


def test_quarterly_equal_principal_from_a_month_end() -> None:
    # 8 % a year = 2 % a quarter; dates from 31 Jan clamp to 30 Apr but come back to the 31st.
    terms = loan(
        RepaymentMethod.EQUAL_PRINCIPAL,
        periods=4,
        period_months=3,
        annual_rate=Decimal("0.08"),
        start=date(2026, 1, 31),
    )
    assert rows(terms) == [
        (1, date(2026, 4, 30), 32_400, 30_000, 2_400, 0, 90_000),
        (2, date(2026, 7, 31), 31_800, 30_000, 1_800, 0, 60_000),
        (3, date(2026, 10, 31), 31_200, 30_000, 1_200, 0, 30_000),
        (4, date(2027, 1, 31), 30_600, 30_000, 600, 0, 0),
    ]


def test_irregular_first_period_accrues_interest_by_days() -> None:
    # 10 Jan -> 20 Feb is 41 days: 120,000 × 0.12 / 360 × 41 = 1,640.
    terms = loan(
        RepaymentMethod.EQUAL_PRINCIPAL, start=date(2026, 1, 10), first_due=date(2026, 2, 20)
    )
    assert rows(terms) == [
        (1, date(2026, 2, 20), 41_640, 40_000, 1_640, 0, 80_000),
        (2, date(2026, 3, 20), 40_800, 40_000, 800, 0, 40_000),
        (3, date(2026, 4, 20), 40_400, 40_000, 400, 0, 0),
    ]


def test_irregular_first_period_keeps_the_equal_installment_payment() -> None:
    terms = loan(
        RepaymentMethod.EQUAL_INSTALLMENT, start=date(2026, 1, 10), first_due=date(2026, 2, 20)
    )
    assert rows(terms) == [
        (1, date(2026, 2, 20), 40_803, 39_163, 1_640, 0, 80_837),
        (2, date(2026, 3, 20), 40_803, 39_995, 808, 0, 40_842),  # 808.37 -> 808
        (3, date(2026, 4, 20), 41_250, 40_842, 408, 0, 0),  # 408.42 -> 408
    ]


def test_short_irregular_first_period_of_a_bullet_loan() -> None:
    # 15 Jan -> 5 Feb is 21 days, then two whole months: 120,000 × (0.12 / 360 × 21 + 0.02).
    terms = loan(RepaymentMethod.BULLET, first_due=date(2026, 2, 5))
    assert rows(terms) == [(1, date(2026, 4, 5), 123_240, 120_000, 3_240, 0, 0)]


def test_zero_rate_equal_installment_splits_principal_with_the_remainder_last() -> None:
    terms = loan(RepaymentMethod.EQUAL_INSTALLMENT, principal=100_000, annual_rate=Decimal(0))
    assert rows(terms) == [
        (1, date(2026, 2, 15), 33_333, 33_333, 0, 0, 66_667),
        (2, date(2026, 3, 15), 33_333, 33_333, 0, 0, 33_334),
        (3, date(2026, 4, 15), 33_334, 33_334, 0, 0, 0),
    ]


def test_month_end_start_clamps_each_due_date_to_the_month_end() -> None:
    terms = loan(RepaymentMethod.EQUAL_PRINCIPAL, start=date(2026, 1, 31))
    assert [i.due_date for i in build_schedule(terms).instalments] == [
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]


def test_a_true_half_fen_of_interest_rounds_up() -> None:
    # 600 × 0.07 / 12 = 3.5 exactly, though 0.07 / 12 has no finite decimal expansion.
    terms = loan(RepaymentMethod.INTEREST_ONLY, principal=600, annual_rate=Decimal("0.07"))
    assert [i.interest for i in build_schedule(terms).instalments] == [4, 4, 4]
