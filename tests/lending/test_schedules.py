"""Repayment schedule building blocks, numpy-financial as the reference, and refused terms."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import numpy_financial as npf
import pytest

from openbank.lending.errors import InvalidLoanTerms, UnknownRepaymentMethod
from openbank.lending.schedules import (
    LoanTerms,
    RepaymentMethod,
    add_months,
    annuity_payment,
    build_schedule,
    daily_rate,
    due_dates,
    parse_method,
    period_rate,
    validate_terms,
)

START = date(2026, 1, 15)

# (principal in fen, annual rate, periods, months per period)
REFERENCE_LOANS = [
    (20_000_000, "0.05", 36, 1),
    (120_000, "0.12", 12, 1),
    (50_000_000, "0.0325", 60, 1),
    (987_654_321, "0.0435", 48, 1),
    (3_000_000, "0.18", 20, 3),
    (1_000_000, "0.236", 24, 1),
]


def terms(**overrides: Any) -> LoanTerms:
    base = LoanTerms(
        principal=20_000_000,
        annual_rate=Decimal("0.05"),
        periods=36,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        start=START,
    )
    return replace(base, **overrides)


# Helpers


def test_period_rate_is_the_annual_rate_pro_rata_by_months() -> None:
    assert period_rate(Decimal("0.12"), 1) == Decimal("0.01")
    assert period_rate(Decimal("0.08"), 3) == Decimal("0.02")
    assert period_rate(Decimal("0.05"), 12) == Decimal("0.05")


def test_daily_rate_uses_a_360_day_year() -> None:
    assert daily_rate(Decimal("0.036")) == Decimal("0.0001")


def test_add_months_keeps_the_day_of_month() -> None:
    assert add_months(date(2026, 1, 15), 1) == date(2026, 2, 15)
    assert add_months(date(2026, 11, 15), 3) == date(2027, 2, 15)
    assert add_months(date(2026, 1, 15), 24) == date(2028, 1, 15)


def test_add_months_clamps_to_the_month_end() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 31), 3) == date(2026, 6, 30)


def test_due_dates_follow_the_start_month_by_month() -> None:
    assert due_dates(terms(periods=3)) == [date(2026, 2, 15), date(2026, 3, 15), date(2026, 4, 15)]


def test_due_dates_after_an_irregular_first_due_follow_that_date() -> None:
    assert due_dates(terms(periods=3, first_due=date(2026, 2, 20))) == [
        date(2026, 2, 20),
        date(2026, 3, 20),
        date(2026, 4, 20),
    ]


def test_a_bullet_loan_has_one_due_date_at_maturity() -> None:
    bullet = terms(method=RepaymentMethod.BULLET, periods=4, period_months=3)
    assert due_dates(bullet) == [date(2027, 1, 15)]


def test_first_due_equal_to_the_regular_date_is_a_regular_schedule() -> None:
    regular = build_schedule(terms(periods=12))
    same = build_schedule(terms(periods=12, first_due=date(2026, 2, 15)))
    assert same.instalments == regular.instalments


def test_parse_method_accepts_every_method_name() -> None:
    for method in RepaymentMethod:
        assert parse_method(method.value) is method


def test_parse_method_ignores_case_and_underscores() -> None:
    assert parse_method(" Equal_Installment ") is RepaymentMethod.EQUAL_INSTALLMENT


def test_unknown_method_lists_the_known_ones() -> None:
    with pytest.raises(UnknownRepaymentMethod) as raised:
        parse_method("balloon")
    assert raised.value.code == "unknown_repayment_method"
    assert "equal-installment" in raised.value.detail
    assert "flat" in raised.value.detail
    assert raised.value.extra["known"] == [m.value for m in RepaymentMethod]


def test_schedule_totals_and_net_disbursed() -> None:
    schedule = build_schedule(
        terms(method=RepaymentMethod.FLAT, periods=12, upfront_fee=50_000, periodic_fee=300)
    )
    assert schedule.total_principal == 20_000_000
    assert schedule.total_fee == 12 * 300 + 50_000
    assert schedule.total_payment == (
        schedule.total_principal + schedule.total_interest + schedule.total_fee - 50_000
    )
    assert schedule.net_disbursed == 20_000_000 - 50_000


def test_a_long_irregular_first_period_can_make_the_first_instalment_interest_only() -> None:
    # Nearly two months of interest on a long loan is more than the level payment.
    schedule = build_schedule(terms(periods=360, first_due=date(2026, 3, 15)))
    first, second = schedule.instalments[:2]
    assert first.principal == 0
    assert first.payment == first.interest > second.payment


# numpy-financial as the reference


@pytest.mark.parametrize(("principal", "rate", "periods", "months"), REFERENCE_LOANS)
def test_annuity_payment_matches_numpy_financial_pmt(
    principal: int, rate: str, periods: int, months: int
) -> None:
    per_period = period_rate(Decimal(rate), months)
    expected = -npf.pmt(float(per_period), periods, principal)
    payment = annuity_payment(principal, per_period, periods)
    assert float(payment) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("principal", "rate", "periods", "months"), REFERENCE_LOANS)
def test_equal_installment_payment_is_numpy_financial_pmt_rounded_to_the_fen(
    principal: int, rate: str, periods: int, months: int
) -> None:
    schedule = build_schedule(
        terms(principal=principal, annual_rate=Decimal(rate), periods=periods, period_months=months)
    )
    expected = -npf.pmt(float(period_rate(Decimal(rate), months)), periods, principal)
    assert all(abs(i.payment - expected) <= 0.5 for i in schedule.instalments[:-1])


@pytest.mark.parametrize(("principal", "rate", "periods", "months"), REFERENCE_LOANS)
def test_equal_installment_rows_match_numpy_financial_ipmt_and_ppmt_to_the_fen(
    principal: int, rate: str, periods: int, months: int
) -> None:
    schedule = build_schedule(
        terms(principal=principal, annual_rate=Decimal(rate), periods=periods, period_months=months)
    )
    r = float(period_rate(Decimal(rate), months))
    payment = schedule.instalments[0].payment
    # The reference amortises with the same rounded payment: what that leaves unpaid after the
    # last period is its future value, which the schedule's last instalment absorbs.
    leftover = npf.fv(r, periods, -payment, principal)
    for i in schedule.instalments:
        assert abs(i.interest + npf.ipmt(r, i.period, periods, principal, leftover)) <= 1
        if i.period < periods:
            assert abs(i.principal + npf.ppmt(r, i.period, periods, principal, leftover)) <= 1
    # The last instalment repays what is left: the reference's last principal plus its leftover,
    # give or take the interest roundings (at most ½ fen a period, compounded) it absorbs.
    last = schedule.instalments[-1]
    reference = -npf.ppmt(r, periods, periods, principal, leftover) - leftover
    assert abs(last.principal - reference) <= sum((1 + r) ** k for k in range(periods)) / 2


def test_zero_rate_annuity_payment_is_principal_over_periods() -> None:
    assert annuity_payment(100_000, Decimal(0), 3) * 3 == 100_000


# Refused terms: each names its field


def refused(bad: LoanTerms) -> InvalidLoanTerms:
    with pytest.raises(InvalidLoanTerms) as raised:
        validate_terms(bad)
    assert raised.value.code == "invalid_loan_terms"
    return raised.value


def test_zero_principal_is_refused() -> None:
    error = refused(terms(principal=0))
    assert error.extra["field"] == "principal"
    assert "principal" in error.detail


def test_negative_principal_is_refused() -> None:
    assert refused(terms(principal=-100)).extra["field"] == "principal"


def test_principal_beyond_any_loan_is_refused() -> None:
    assert refused(terms(principal=10**18 + 1)).extra["field"] == "principal"


def test_zero_periods_is_refused() -> None:
    error = refused(terms(periods=0))
    assert error.extra["field"] == "periods"
    assert "periods" in error.detail


def test_more_than_600_periods_is_refused() -> None:
    assert refused(terms(periods=601)).extra["field"] == "periods"


def test_negative_rate_is_refused() -> None:
    error = refused(terms(annual_rate=Decimal("-0.01")))
    assert error.extra["field"] == "annual_rate"
    assert "negative" in error.detail


def test_rate_of_ten_or_more_is_refused() -> None:
    assert refused(terms(annual_rate=Decimal(10))).extra["field"] == "annual_rate"


def test_nan_rate_is_refused() -> None:
    assert refused(terms(annual_rate=Decimal("NaN"))).extra["field"] == "annual_rate"


def test_unsupported_period_length_is_refused() -> None:
    error = refused(terms(period_months=2))
    assert error.extra["field"] == "period_months"
    assert "1, 3, 6, 12" in error.detail


def test_grace_as_long_as_the_loan_is_refused() -> None:
    assert refused(terms(periods=12, grace_periods=12)).extra["field"] == "grace_periods"


def test_negative_grace_is_refused() -> None:
    assert refused(terms(grace_periods=-1)).extra["field"] == "grace_periods"


def test_negative_upfront_fee_is_refused() -> None:
    assert refused(terms(upfront_fee=-1)).extra["field"] == "upfront_fee"


def test_negative_periodic_fee_is_refused() -> None:
    assert refused(terms(periodic_fee=-1)).extra["field"] == "periodic_fee"


def test_upfront_fee_of_the_whole_principal_is_refused() -> None:
    error = refused(terms(upfront_fee=20_000_000))
    assert error.extra["field"] == "upfront_fee"
    assert "less than the principal" in error.detail


def test_first_due_on_the_start_date_is_refused() -> None:
    assert refused(terms(first_due=START)).extra["field"] == "first_due"


def test_first_due_more_than_two_periods_out_is_refused() -> None:
    assert refused(terms(first_due=date(2026, 3, 16))).extra["field"] == "first_due"


def test_first_due_exactly_two_periods_out_is_allowed() -> None:
    validate_terms(terms(first_due=date(2026, 3, 15)))


def test_method_given_as_a_plain_string_is_refused() -> None:
    bad = terms(method="equal-installment")
    assert refused(bad).extra["field"] == "method"


def test_unknown_method_string_in_the_terms_is_refused() -> None:
    with pytest.raises(UnknownRepaymentMethod) as raised:
        validate_terms(terms(method="balloon"))
    assert raised.value.code == "unknown_repayment_method"


def test_build_schedule_validates_the_terms() -> None:
    with pytest.raises(InvalidLoanTerms):
        build_schedule(terms(periods=0))
