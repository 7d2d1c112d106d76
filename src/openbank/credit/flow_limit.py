"""The payment-flow loan limit (支付流水贷): how much a merchant's acquiring flow at this bank
supports lending, by a documented formula. Pure computation over the merchant's daily
aggregates (payments reads them, lending uses the limit); docs/payment-flow-limit.md explains
it with a worked example.

The formula, for a date `as_of`:

1. Assessment months: the last `ASSESSMENT_MONTHS` (6) calendar months that ended before
   `as_of` (its own month is still running), less those that ended before the merchant's
   first payment. Per month: payments, refunds, net volume (payment volume − refund volume)
   and active days (days with at least one payment).
2. Stable monthly net volume: the median of those months' net volumes (the mean of the middle
   two for an even count), never more than the mean of the last `RECENT_MONTHS` (3) of them
   (a merchant past its peak is lent on what it does now), never below 0; rounded down to the
   fen.
3. Base limit: `LIMIT_MULTIPLE` (3) × the stable monthly net volume.
4. Cuts, each a factor; all that apply multiply (each rule applies its worst band only):
   - `refund_rate`: refund volume / payment volume over the assessment months above 5 %: ×0.8,
     above 15 %: ×0.5, above 30 %: ×0 (no limit);
   - `short_tenure`: whole months from the first payment to `as_of` below 6: ×0.5, below 3
     (or no payment ever): ×0;
   - `falling_volume`: net volume of the last 3 months against the 3 before (only with 6
     assessment months, and positive before) down more than 20 %: ×0.8, more than 50 %: ×0.5;
   - `volatile_volume`: coefficient of variation of the monthly net volumes (population
     standard deviation / mean) above 0.5: ×0.8;
   - `few_active_days`: fewer than 10 active days per assessment month on average: ×0.7;
   - `no_net_volume`: a stable monthly net volume of 0: ×0 (there is nothing to lend on).
5. Limit: the base limit × the factors, rounded down to whole yuan (a multiple of 100 fen).

Money is integer fen throughout; ratios are Decimals, compared exactly with the thresholds
and shown to 4 places.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_FLOOR, Decimal
from functools import reduce

ASSESSMENT_MONTHS = 6
RECENT_MONTHS = 3
LIMIT_MULTIPLE = 3
YUAN = 100  # fen: limits are whole yuan

# (threshold, factor), worst first: the first threshold exceeded applies.
REFUND_RATE_CUTS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("0.30"), Decimal(0)),
    (Decimal("0.15"), Decimal("0.5")),
    (Decimal("0.05"), Decimal("0.8")),
)
# (months, factor), shortest first: the first tenure below `months` applies.
TENURE_CUTS: tuple[tuple[int, Decimal], ...] = (
    (3, Decimal(0)),
    (6, Decimal("0.5")),
)
# (fall, factor), worst first: a fall of more than `fall` (a fraction of the 3 months before).
FALLING_VOLUME_CUTS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal("0.50"), Decimal("0.5")),
    (Decimal("0.20"), Decimal("0.8")),
)
VOLATILITY_THRESHOLD = Decimal("0.5")
VOLATILITY_FACTOR = Decimal("0.8")
MIN_ACTIVE_DAYS_PER_MONTH = 10
FEW_ACTIVE_DAYS_FACTOR = Decimal("0.7")
NO_LIMIT = Decimal(0)

_SHOWN = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class DailyFlow:
    """One day of a merchant's payments and refunds (several rows of one day add up)."""

    business_date: date
    payment_count: int
    payment_volume: int
    refund_count: int
    refund_volume: int


@dataclass(frozen=True, slots=True)
class MonthlyFlow:
    """One calendar month (`month` is its first day) of the assessment."""

    month: date
    payment_count: int
    payment_volume: int
    refund_count: int
    refund_volume: int
    active_days: int

    @property
    def net_volume(self) -> int:
        return self.payment_volume - self.refund_volume


@dataclass(frozen=True, slots=True)
class FlowCut:
    """A rule that cut the limit: its code, the factor applied, and why, in words."""

    code: str
    factor: Decimal
    detail: str


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """The figures the rules look at, over the assessment months (`months` of them)."""

    months: int
    payment_count: int
    payment_volume: int
    refund_count: int
    refund_volume: int
    net_volume: int
    refund_rate: Decimal | None  # refund volume / payment volume; None without payments
    active_days: int
    active_days_per_month: Decimal | None
    growth: Decimal | None  # last 3 months' net volume against the 3 before, as a fraction
    volatility: Decimal | None  # coefficient of variation of the monthly net volumes
    first_payment_date: date | None
    tenure_months: int | None


@dataclass(frozen=True, slots=True)
class FlowLimit:
    """A payment-flow limit and everything it was computed from."""

    as_of: date
    limit: int  # fen, a multiple of 100
    stable_monthly_net_volume: int
    multiple: int
    base_limit: int
    cuts: tuple[FlowCut, ...]
    summary: FlowSummary
    months: tuple[MonthlyFlow, ...]

    @property
    def blocking_cuts(self) -> tuple[FlowCut, ...]:
        """The cuts that leave no limit at all."""
        return tuple(cut for cut in self.cuts if cut.factor == 0)


def months_between(earlier: date, later: date) -> int:
    """Whole months from `earlier` to `later` (Jan 15 to Apr 14 is 2, to Apr 15 is 3)."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def _previous_month(month: date) -> date:
    return (month - timedelta(days=1)).replace(day=1)


def _month_end(month: date) -> date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def assessment_months(as_of: date, first_payment_date: date | None) -> list[date]:
    """The first days of the assessment months, oldest first (see the module docstring)."""
    if first_payment_date is None:
        return []
    months: list[date] = []
    month = _previous_month(as_of.replace(day=1))
    for _ in range(ASSESSMENT_MONTHS):
        if _month_end(month) < first_payment_date:
            break
        months.append(month)
        month = _previous_month(month)
    return months[::-1]


def _by_day(daily: Iterable[DailyFlow]) -> dict[date, list[int]]:
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in daily:
        figures = (row.payment_count, row.payment_volume, row.refund_count, row.refund_volume)
        if min(figures) < 0:
            raise ValueError(f"negative flow on {row.business_date}")
        totals = days[row.business_date]
        for index, value in enumerate(figures):
            totals[index] += value
    return days


def monthly_flows(
    daily: Iterable[DailyFlow], as_of: date, first_payment_date: date | None
) -> list[MonthlyFlow]:
    """The daily rows added up per assessment month, oldest first."""
    months = assessment_months(as_of, first_payment_date)
    totals = {month: [0, 0, 0, 0, 0] for month in months}
    for day, (count, volume, refunds, refunded) in _by_day(daily).items():
        month_totals = totals.get(day.replace(day=1))
        if month_totals is None:
            continue
        for index, value in enumerate((count, volume, refunds, refunded, 1 if count else 0)):
            month_totals[index] += value
    return [MonthlyFlow(month, *totals[month]) for month in months]


def _median(values: Sequence[int]) -> int:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) // 2


def _coefficient_of_variation(values: Sequence[int]) -> Decimal | None:
    if len(values) < 2 or sum(values) <= 0:
        return None
    mean = Decimal(sum(values)) / len(values)
    variance = sum(((Decimal(v) - mean) ** 2 for v in values), Decimal(0)) / len(values)
    return variance.sqrt() / mean


def _shown(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(_SHOWN)


def _percent(value: Decimal) -> str:
    return f"{value * 100:.2f} %"


def summarize(
    months: Sequence[MonthlyFlow], as_of: date, first_payment_date: date | None
) -> FlowSummary:
    payment_volume = sum(m.payment_volume for m in months)
    refund_volume = sum(m.refund_volume for m in months)
    active_days = sum(m.active_days for m in months)
    growth = None
    if len(months) == ASSESSMENT_MONTHS:
        recent = sum(m.net_volume for m in months[-RECENT_MONTHS:])
        before = sum(m.net_volume for m in months[: len(months) - RECENT_MONTHS])
        if before > 0:
            growth = Decimal(recent - before) / before
    return FlowSummary(
        months=len(months),
        payment_count=sum(m.payment_count for m in months),
        payment_volume=payment_volume,
        refund_count=sum(m.refund_count for m in months),
        refund_volume=refund_volume,
        net_volume=payment_volume - refund_volume,
        refund_rate=Decimal(refund_volume) / payment_volume if payment_volume else None,
        active_days=active_days,
        active_days_per_month=Decimal(active_days) / len(months) if months else None,
        growth=growth,
        volatility=_coefficient_of_variation([m.net_volume for m in months]),
        first_payment_date=first_payment_date,
        tenure_months=(
            months_between(first_payment_date, as_of) if first_payment_date is not None else None
        ),
    )


def stable_monthly_net_volume(months: Sequence[MonthlyFlow]) -> int:
    """The median monthly net volume, at most the recent months' mean, at least 0."""
    if not months:
        return 0
    nets = [m.net_volume for m in months]
    recent = nets[-RECENT_MONTHS:]
    return max(min(_median(nets), sum(recent) // len(recent)), 0)


def _cuts(summary: FlowSummary, stable: int) -> list[FlowCut]:
    cuts: list[FlowCut] = []
    if summary.refund_rate is not None:
        for threshold, factor in REFUND_RATE_CUTS:
            if summary.refund_rate > threshold:
                detail = (
                    f"refund rate {_percent(summary.refund_rate)} is above {_percent(threshold)}"
                )
                cuts.append(FlowCut("refund_rate", factor, detail))
                break
    if summary.tenure_months is None:
        cuts.append(FlowCut("short_tenure", NO_LIMIT, "no payment has been taken yet"))
    else:
        for months, factor in TENURE_CUTS:
            if summary.tenure_months < months:
                detail = (
                    f"{summary.tenure_months} months since the first payment; fewer than {months}"
                )
                cuts.append(FlowCut("short_tenure", factor, detail))
                break
    if summary.growth is not None:
        for fall, factor in FALLING_VOLUME_CUTS:
            if summary.growth < -fall:
                detail = (
                    f"net volume of the last {RECENT_MONTHS} months fell"
                    f" {_percent(-summary.growth)} from the {RECENT_MONTHS} before; more than"
                    f" {_percent(fall)}"
                )
                cuts.append(FlowCut("falling_volume", factor, detail))
                break
    if summary.volatility is not None and summary.volatility > VOLATILITY_THRESHOLD:
        detail = (
            f"monthly net volume varies by {summary.volatility:.2f} of its mean (coefficient of"
            f" variation); more than {VOLATILITY_THRESHOLD}"
        )
        cuts.append(FlowCut("volatile_volume", VOLATILITY_FACTOR, detail))
    per_month = summary.active_days_per_month
    if per_month is not None and per_month < MIN_ACTIVE_DAYS_PER_MONTH:
        detail = (
            f"{per_month:.1f} days with payments per month on average; fewer than"
            f" {MIN_ACTIVE_DAYS_PER_MONTH}"
        )
        cuts.append(FlowCut("few_active_days", FEW_ACTIVE_DAYS_FACTOR, detail))
    if stable == 0:
        cuts.append(
            FlowCut("no_net_volume", NO_LIMIT, "no net payment volume in the assessment months")
        )
    return cuts


def payment_flow_limit(
    daily: Iterable[DailyFlow], first_payment_date: date | None, as_of: date
) -> FlowLimit:
    """The payment-flow limit on `as_of` from the merchant's daily flow (at least the
    assessment months; rows outside them are ignored) and the date of its first payment
    (None: it never took one). See the module docstring for the formula."""
    months = monthly_flows(daily, as_of, first_payment_date)
    summary = summarize(months, as_of, first_payment_date)
    stable = stable_monthly_net_volume(months)
    base = LIMIT_MULTIPLE * stable
    cuts = _cuts(summary, stable)
    factor = reduce(lambda product, cut: product * cut.factor, cuts, Decimal(1))
    limit = int((base * factor).to_integral_value(rounding=ROUND_FLOOR))
    limit -= limit % YUAN
    return FlowLimit(
        as_of=as_of,
        limit=limit,
        stable_monthly_net_volume=stable,
        multiple=LIMIT_MULTIPLE,
        base_limit=base,
        cuts=tuple(cuts),
        summary=replace(
            summary,
            refund_rate=_shown(summary.refund_rate),
            active_days_per_month=_shown(summary.active_days_per_month),
            growth=_shown(summary.growth),
            volatility=_shown(summary.volatility),
        ),
        months=tuple(months),
    )
