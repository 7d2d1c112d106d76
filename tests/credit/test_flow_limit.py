"""The payment-flow limit (支付流水贷): each rule of the formula, one behaviour per test.
See docs/payment-flow-limit.md for the formula these tests pin down."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest

from openbank.credit.service import DailyFlow, FlowLimit, payment_flow_limit

AS_OF = date(2026, 7, 15)  # assessment months: January to June 2026
MONTHS = [date(2026, m, 1) for m in range(1, 7)]
LONG_AGO = date(2024, 1, 1)  # tenure of well over 6 months
STEADY = [1_000_000] * 6  # 10,000 yuan a month


def flow(
    volumes: Sequence[int],
    *,
    months: Sequence[date] = MONTHS,
    active_days: int = 20,
    refunds: Sequence[int] | None = None,
) -> list[DailyFlow]:
    """Daily rows for consecutive months: each month's volume spread over its first
    `active_days` days (the remainder on day 1), and its refunds on day 1."""
    months = months[len(months) - len(volumes) :]
    rows = []
    for month, volume, refunded in zip(months, volumes, refunds or [0] * len(volumes), strict=True):
        per_day = volume // active_days
        for day in range(1, active_days + 1):
            rows.append(
                DailyFlow(
                    business_date=month.replace(day=day),
                    payment_count=5,
                    payment_volume=per_day + (volume - per_day * active_days if day == 1 else 0),
                    refund_count=1 if day == 1 and refunded else 0,
                    refund_volume=refunded if day == 1 else 0,
                )
            )
    return rows


def limit_of(rows: list[DailyFlow], first: date | None = LONG_AGO) -> FlowLimit:
    return payment_flow_limit(rows, first, AS_OF)


def cut_codes(result: FlowLimit) -> dict[str, Decimal]:
    return {cut.code: cut.factor for cut in result.cuts}


# -- the base -------------------------------------------------------------------------------


def test_a_steady_merchant_may_borrow_three_times_its_monthly_net_volume() -> None:
    result = limit_of(flow(STEADY))
    assert result.stable_monthly_net_volume == 1_000_000
    assert result.multiple == 3
    assert result.base_limit == 3_000_000
    assert result.cuts == ()
    assert result.limit == 3_000_000


def test_the_stable_monthly_volume_is_the_median_month() -> None:
    # Median of 100k..600k is the mean of 300k and 400k; the recent months are higher.
    result = limit_of(flow([300_000, 100_000, 200_000, 400_000, 600_000, 500_000]))
    assert result.stable_monthly_net_volume == 350_000
    assert result.limit == 1_050_000


def test_one_exceptional_month_does_not_raise_the_stable_volume() -> None:
    result = limit_of(flow([1_000_000, 1_000_000, 1_000_000, 1_000_000, 1_300_000, 1_000_000]))
    assert result.stable_monthly_net_volume == 1_000_000


def test_the_stable_volume_is_at_most_the_last_three_months_mean() -> None:
    result = limit_of(flow([1_000_000] * 4 + [900_000, 800_000]))
    assert result.stable_monthly_net_volume == 900_000  # the median would be 1,000,000


def test_refunds_are_taken_off_the_monthly_volume() -> None:
    result = limit_of(flow(STEADY, refunds=[40_000] * 6))  # 4 %: below the first cut
    assert result.stable_monthly_net_volume == 960_000
    assert result.cuts == ()
    assert result.limit == 2_880_000


def test_the_running_month_and_days_before_the_assessment_do_not_count() -> None:
    outside = flow([50_000_000], months=[date(2025, 12, 1)]) + flow(
        [50_000_000], months=[date(2026, 7, 1)], active_days=14
    )
    assert limit_of(flow(STEADY) + outside) == limit_of(flow(STEADY))


def test_rows_of_one_day_add_up_and_count_as_one_active_day() -> None:
    halves = [DailyFlow(r.business_date, 1, r.payment_volume // 2, 0, 0) for r in flow(STEADY)] * 2
    result = limit_of(halves)
    assert result.stable_monthly_net_volume == 1_000_000
    assert result.summary.active_days == 6 * 20


# -- refund rate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refunded", "factor"),
    [
        (50_000, None),  # 5 % exactly: no cut
        (60_000, Decimal("0.8")),
        (150_000, Decimal("0.8")),  # 15 % exactly
        (160_000, Decimal("0.5")),
        (300_000, Decimal("0.5")),  # 30 % exactly
        (310_000, Decimal(0)),
    ],
)
def test_a_high_refund_rate_cuts_the_limit(refunded: int, factor: Decimal | None) -> None:
    result = limit_of(flow(STEADY, refunds=[refunded] * 6))
    net = 1_000_000 - refunded
    assert result.stable_monthly_net_volume == net
    assert cut_codes(result).get("refund_rate") == factor
    expected = 3 * net * (factor if factor is not None else 1)
    assert result.limit == int(expected) // 100 * 100


def test_a_refund_rate_above_thirty_percent_leaves_no_limit() -> None:
    result = limit_of(flow(STEADY, refunds=[400_000] * 6))
    assert result.limit == 0
    assert [cut.code for cut in result.blocking_cuts] == ["refund_rate"]
    assert "40.00 %" in result.cuts[0].detail


# -- tenure ---------------------------------------------------------------------------------


def test_a_merchant_of_six_months_is_not_cut_for_tenure() -> None:
    result = limit_of(flow(STEADY), first=date(2026, 1, 15))
    assert result.summary.tenure_months == 6
    assert "short_tenure" not in cut_codes(result)


def test_a_merchant_of_under_six_months_gets_half() -> None:
    result = limit_of(flow(STEADY[:5]), first=date(2026, 2, 1))
    assert result.summary.tenure_months == 5
    assert cut_codes(result) == {"short_tenure": Decimal("0.5")}
    assert result.limit == 1_500_000


def test_months_before_the_first_payment_are_not_assessed() -> None:
    result = limit_of(flow(STEADY[:4]), first=date(2026, 3, 1))
    assert result.summary.months == 4
    assert result.stable_monthly_net_volume == 1_000_000  # no empty months drag it down


def test_a_merchant_of_under_three_months_gets_no_limit() -> None:
    result = limit_of(flow(STEADY[:3]), first=date(2026, 4, 20))
    assert result.summary.tenure_months == 2
    assert cut_codes(result)["short_tenure"] == 0
    assert result.limit == 0


def test_a_merchant_that_never_took_a_payment_gets_no_limit() -> None:
    result = limit_of([], first=None)
    assert result.summary.tenure_months is None
    assert {"short_tenure", "no_net_volume"} <= set(cut_codes(result))
    assert result.limit == 0


# -- falling volume -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recent", "factor"),
    [
        (800_000, None),  # down 20 % exactly: no cut
        (750_000, Decimal("0.8")),
        (500_000, Decimal("0.8")),  # down 50 % exactly
        (400_000, Decimal("0.5")),
    ],
)
def test_falling_volume_cuts_the_limit(recent: int, factor: Decimal | None) -> None:
    result = limit_of(flow([1_000_000] * 3 + [recent] * 3))
    assert result.summary.growth == Decimal(recent - 1_000_000) / 1_000_000
    assert result.stable_monthly_net_volume == recent  # the recent mean caps the median
    assert cut_codes(result).get("falling_volume") == factor
    assert result.limit == int(3 * recent * (factor if factor is not None else 1))


def test_growing_volume_is_not_cut() -> None:
    result = limit_of(flow([500_000] * 3 + [600_000] * 3))
    assert result.summary.growth == Decimal("0.2")
    assert result.cuts == ()


def test_falling_volume_is_not_judged_on_fewer_than_six_months() -> None:
    result = limit_of(flow([1_000_000] * 2 + [400_000] * 3), first=date(2026, 2, 1))
    assert result.summary.months == 5
    assert result.summary.growth is None
    assert "falling_volume" not in cut_codes(result)


# -- volatility -----------------------------------------------------------------------------


def test_volatile_monthly_volume_cuts_the_limit() -> None:
    # Mean 1,000,000, standard deviation 800,000: a coefficient of variation of 0.8.
    result = limit_of(flow([200_000, 1_800_000] * 3))
    assert result.summary.volatility == Decimal("0.8")
    assert cut_codes(result) == {"volatile_volume": Decimal("0.8")}
    assert result.limit == 2_400_000


def test_a_coefficient_of_variation_of_one_half_is_not_cut() -> None:
    result = limit_of(flow([500_000, 1_500_000] * 3))
    assert result.summary.volatility == Decimal("0.5")
    assert "volatile_volume" not in cut_codes(result)


# -- active days ----------------------------------------------------------------------------


def test_few_active_days_cut_the_limit() -> None:
    result = limit_of(flow(STEADY, active_days=9))
    assert result.summary.active_days_per_month == 9
    assert cut_codes(result) == {"few_active_days": Decimal("0.7")}
    assert result.limit == 2_100_000


def test_ten_active_days_a_month_are_enough() -> None:
    result = limit_of(flow(STEADY, active_days=10))
    assert result.cuts == ()


# -- no volume ------------------------------------------------------------------------------


def test_a_merchant_with_no_recent_net_volume_gets_no_limit() -> None:
    result = limit_of(flow([1_000_000], months=[date(2025, 6, 1)]))
    assert result.summary.payment_volume == 0
    assert result.stable_monthly_net_volume == 0
    assert [cut.code for cut in result.blocking_cuts] == ["no_net_volume"]
    assert result.limit == 0


# -- together -------------------------------------------------------------------------------


def test_cuts_multiply_and_the_limit_is_rounded_down_to_whole_yuan() -> None:
    # 10 % refunds (x0.8), 4 months since the first payment (x0.5), 8 active days (x0.7).
    rows = flow([1_234_567] * 4, refunds=[123_457] * 4, active_days=8)
    result = limit_of(rows, first=date(2026, 3, 1))
    assert cut_codes(result) == {
        "refund_rate": Decimal("0.8"),
        "short_tenure": Decimal("0.5"),
        "few_active_days": Decimal("0.7"),
    }
    assert result.base_limit == 3 * 1_111_110
    # 3,333,330 x 0.28 = 933,332.4 fen: 9,333 whole yuan.
    assert result.limit == 933_300


def test_the_summary_describes_the_assessment_months() -> None:
    rows = flow([1_000_000] * 3 + [900_000] * 3, refunds=[20_000] * 6, active_days=12)
    summary = limit_of(rows, first=date(2025, 9, 10)).summary
    assert summary.months == 6
    assert (summary.payment_count, summary.refund_count) == (6 * 12 * 5, 6)
    assert (summary.payment_volume, summary.refund_volume) == (5_700_000, 120_000)
    assert summary.net_volume == 5_580_000
    assert summary.refund_rate == Decimal("0.0211")  # 120,000 / 5,700,000, shown to 4 places
    assert (summary.active_days, summary.active_days_per_month) == (72, Decimal(12))
    assert summary.growth == Decimal("-0.1020")  # 2,640,000 against 2,940,000
    assert summary.volatility == Decimal("0.0538")  # 50,000 / 930,000
    assert (summary.first_payment_date, summary.tenure_months) == (date(2025, 9, 10), 10)


def test_the_documented_worked_example() -> None:
    """docs/payment-flow-limit.md: a restaurant trading since March 2024, on 15 July 2026."""
    months = [  # (payments, refunds, active days), fen
        (18_200_000, 980_000, 26),
        (15_040_000, 810_000, 22),
        (17_650_000, 1_020_000, 27),
        (13_930_000, 1_240_000, 26),
        (12_890_000, 1_190_000, 27),
        (11_970_000, 1_260_000, 25),
    ]
    rows = [
        row
        for month, (volume, refunded, days) in zip(MONTHS, months, strict=True)
        for row in flow([volume], months=[month], active_days=days, refunds=[refunded])
    ]
    result = limit_of(rows, first=date(2024, 3, 8))
    assert result.stable_monthly_net_volume == 11_700_000
    assert result.base_limit == 35_100_000
    assert [(c.code, c.factor) for c in result.cuts] == [
        ("refund_rate", Decimal("0.8")),
        ("falling_volume", Decimal("0.8")),
    ]
    summary = result.summary
    assert (summary.refund_rate, summary.growth) == (Decimal("0.0725"), Decimal("-0.2700"))
    assert (summary.volatility, summary.active_days) == (Decimal("0.1744"), 153)
    assert summary.tenure_months == 28
    assert result.limit == 22_464_000
