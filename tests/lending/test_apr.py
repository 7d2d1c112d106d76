"""IRR and APR: numpy-financial as the reference, and the PBoC's own worked example."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy_financial as npf
import pytest

from openbank.lending.apr import Apr, irr, schedule_apr
from openbank.lending.schedules import LoanTerms, RepaymentMethod, build_schedule

START = date(2026, 1, 15)

FLOW_SETS = [
    [-100, 39, 59, 55, 20],
    [-100, 0, 0, 74],  # a loss: negative IRR
    [-100, 100, 0, 7],
    [-100, 100, 0, -7],  # several sign changes
    [-50, 105, 10, -80, 10],  # several sign changes and roots
    [-9_900_000] + [883_333] * 11 + [883_337],
    [-19_600_000] + [599_420] * 35 + [599_386],
    [1_000_000, -300_000, -400_000, -500_000],  # the lender's side of a loan
    [-1_000_000] + [0] * 59 + [2_000_000],
]


def pboc_example() -> LoanTerms:
    """PBoC Announcement [2021] No. 3: 100,000 yuan, a 1,000 yuan fee up front, 12 monthly
    payments of about 8,833.33 (flat method at 6 % a year)."""
    return LoanTerms(
        principal=10_000_000,
        annual_rate=Decimal("0.06"),
        periods=12,
        method=RepaymentMethod.FLAT,
        start=START,
        upfront_fee=100_000,
    )


@pytest.mark.parametrize("flows", FLOW_SETS)
def test_irr_matches_numpy_financial(flows: list[int]) -> None:
    assert float(irr(flows)) == pytest.approx(npf.irr(flows), abs=1e-9)


def test_irr_makes_the_present_value_zero_to_far_below_1e12() -> None:
    flows = [-19_600_000] + [599_420] * 35 + [599_386]
    rate = irr(flows)
    present_value = sum((flow / (1 + rate) ** t for t, flow in enumerate(flows)), Decimal(0))
    assert abs(present_value) < Decimal("1e-15")


def test_irr_of_flows_repaying_exactly_what_was_lent_is_zero() -> None:
    assert irr([-300, 100, 100, 100]) == 0


def test_irr_of_a_single_period_loan() -> None:
    assert irr([-100, 110]) == Decimal("0.1")


def test_irr_without_an_inflow_raises() -> None:
    with pytest.raises(ValueError, match="outflow and an inflow"):
        irr([-100, -5, -5])


def test_irr_without_an_outflow_raises() -> None:
    with pytest.raises(ValueError, match="outflow and an inflow"):
        irr([100, 5, 5])


def test_irr_of_no_flows_raises() -> None:
    with pytest.raises(ValueError, match="outflow and an inflow"):
        irr([])


def test_irr_raises_when_no_rate_solves_the_flows() -> None:
    # 1 − 3x + 3x² has no real root.
    with pytest.raises(ValueError, match="no rate"):
        irr([1, -3, 3])


def test_pboc_example_apr_is_12_80_percent_nominal() -> None:
    apr = schedule_apr(build_schedule(pboc_example()))
    assert abs(apr.nominal - Decimal("0.1280")) <= Decimal("0.0001")


def test_pboc_example_apr_is_13_58_percent_effective() -> None:
    apr = schedule_apr(build_schedule(pboc_example()))
    assert abs(apr.effective - Decimal("0.1358")) <= Decimal("0.0001")


def test_pboc_example_matches_numpy_financial_exactly() -> None:
    schedule = build_schedule(pboc_example())
    assert [i.payment for i in schedule.instalments] == [883_333] * 11 + [883_337]
    flows = [-9_900_000] + [i.payment for i in schedule.instalments]
    monthly = npf.irr(flows)
    apr = schedule_apr(schedule)
    assert apr.periods_per_year == 12
    assert float(apr.period_rate) == pytest.approx(monthly, abs=1e-12)
    assert float(apr.nominal) == pytest.approx(monthly * 12, abs=1e-9)
    assert float(apr.effective) == pytest.approx((1 + monthly) ** 12 - 1, abs=1e-9)


def test_apr_without_fees_equals_the_contract_rate_for_equal_principal() -> None:
    terms = LoanTerms(
        principal=12_000_000,
        annual_rate=Decimal("0.06"),
        periods=12,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        start=START,
    )
    assert schedule_apr(build_schedule(terms)).nominal == Decimal("0.06")


def test_quarterly_apr_annualises_four_periods() -> None:
    terms = LoanTerms(
        principal=12_000_000,
        annual_rate=Decimal("0.08"),
        periods=8,
        method=RepaymentMethod.EQUAL_PRINCIPAL,
        start=START,
        period_months=3,
    )
    apr = schedule_apr(build_schedule(terms))
    assert apr.periods_per_year == 4
    assert apr.period_rate == Decimal("0.02")
    assert apr.effective == Decimal("1.02") ** 4 - 1


def test_bullet_apr_places_the_payment_at_maturity() -> None:
    terms = LoanTerms(
        principal=1_000_000,
        annual_rate=Decimal("0.12"),
        periods=12,
        method=RepaymentMethod.BULLET,
        start=START,
        upfront_fee=10_000,
    )
    apr = schedule_apr(build_schedule(terms))
    monthly = npf.irr([-990_000] + [0] * 11 + [1_120_000])
    assert float(apr.period_rate) == pytest.approx(monthly, abs=1e-12)


def test_an_upfront_fee_raises_the_apr_above_the_contract_rate() -> None:
    terms = LoanTerms(
        principal=20_000_000,
        annual_rate=Decimal("0.05"),
        periods=36,
        method=RepaymentMethod.EQUAL_INSTALLMENT,
        start=START,
        upfront_fee=400_000,
    )
    assert schedule_apr(build_schedule(terms)).nominal > Decimal("0.06")


def test_apr_exceeds_a_cap_below_its_nominal_rate() -> None:
    apr = Apr(
        period_rate=Decimal("0.021"),
        periods_per_year=12,
        nominal=Decimal("0.252"),
        effective=Decimal("0.28"),
    )
    assert apr.exceeds(Decimal("0.24"))


def test_apr_at_the_cap_does_not_exceed_it() -> None:
    apr = Apr(
        period_rate=Decimal("0.02"),
        periods_per_year=12,
        nominal=Decimal("0.24"),
        effective=Decimal("0.2682"),
    )
    assert not apr.exceeds(Decimal("0.24"))  # the effective rate is above; only nominal counts
