"""Repayment schedules: pure functions from loan terms to a list of instalments.

All amounts are integer fen and all rates `Decimal`; each instalment's interest is rounded half-up
to the fen, and the last instalment absorbs whatever rounding left over, so principal always sums
to exactly the amount lent and the remaining principal ends at zero.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum

from openbank.lending.errors import InvalidLoanTerms, UnknownRepaymentMethod


class RepaymentMethod(StrEnum):
    EQUAL_INSTALLMENT = "equal-installment"  # 等额本息: the same payment every period (annuity)
    EQUAL_PRINCIPAL = "equal-principal"  # 等额本金: the same principal, interest on what remains
    INTEREST_ONLY = "interest-only"  # 先息后本: interest each period, all principal with the last
    BULLET = "bullet"  # 到期一次还本付息: principal and all interest in one payment at maturity
    FLAT = "flat"  # 等本等息: equal principal plus interest on the ORIGINAL principal each period


METHOD_DESCRIPTIONS: dict[RepaymentMethod, str] = {
    RepaymentMethod.EQUAL_INSTALLMENT: "equal payment every period (annuity, 等额本息)",
    RepaymentMethod.EQUAL_PRINCIPAL: "equal principal, interest on the remaining (等额本金)",
    RepaymentMethod.INTEREST_ONLY: "interest each period, principal with the last (先息后本)",
    RepaymentMethod.BULLET: "principal and all interest at maturity (到期一次还本付息)",
    RepaymentMethod.FLAT: "equal principal, interest on the original principal (等本等息)",
}

MAX_PERIODS = 600
MAX_PRINCIPAL = 10**18  # fen (10^16 yuan): far above any loan, well inside the 50-digit context
MAX_ANNUAL_RATE = Decimal(10)
PERIOD_MONTHS = (1, 3, 6, 12)
DAYS_PER_YEAR = 360  # Chinese bank practice: 日利率 = 年利率 / 360

# Enough digits that a 600-period annuity factor on a trillion-fen loan stays exact to the fen.
_CONTEXT = Context(prec=50)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class LoanTerms:
    principal: int  # fen, > 0
    annual_rate: Decimal  # nominal annual rate as a fraction (0.05 = 5 %), >= 0, < 10
    periods: int  # repayment periods, 1..600; a bullet loan runs `periods` periods, repaid once
    method: RepaymentMethod
    start: date  # value date (disbursement)
    period_months: int = 1  # 1 monthly, 3 quarterly, 6, 12
    first_due: date | None = None  # None: start + period_months; otherwise maybe irregular
    grace_periods: int = 0  # first periods paying interest only (ignored: bullet, interest-only)
    upfront_fee: int = 0  # fen, deducted from what is paid out
    periodic_fee: int = 0  # fen added to every instalment


@dataclass(frozen=True, slots=True)
class Instalment:
    period: int  # 1-based
    due_date: date
    payment: int  # principal + interest + fee
    principal: int
    interest: int
    fee: int
    remaining: int  # principal outstanding after this instalment


@dataclass(frozen=True, slots=True)
class Schedule:
    terms: LoanTerms
    instalments: tuple[Instalment, ...]

    @property
    def total_payment(self) -> int:
        """Everything the borrower pays over the instalments (the upfront fee is not in it)."""
        return sum(i.payment for i in self.instalments)

    @property
    def total_principal(self) -> int:
        return sum(i.principal for i in self.instalments)

    @property
    def total_interest(self) -> int:
        return sum(i.interest for i in self.instalments)

    @property
    def total_fee(self) -> int:
        """Periodic fees over all instalments plus the upfront fee."""
        return sum(i.fee for i in self.instalments) + self.terms.upfront_fee

    @property
    def net_disbursed(self) -> int:
        """What the borrower actually receives: the upfront fee is kept back."""
        return self.terms.principal - self.terms.upfront_fee


def period_rate(annual_rate: Decimal, period_months: int) -> Decimal:
    """Nominal rate for one period: the annual rate pro rata by months (no compounding)."""
    with localcontext(_CONTEXT):
        return annual_rate * period_months / 12


def daily_rate(annual_rate: Decimal) -> Decimal:
    """Daily rate on the 360-day year Chinese banks quote (日利率 = 年利率 / 360)."""
    with localcontext(_CONTEXT):
        return annual_rate / DAYS_PER_YEAR


def add_months(day: date, months: int) -> date:
    """The same day of the month `months` later, clamped to that month's last day (31 Jan -> 28
    Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    if day.day <= 28:  # every month has the 28th: the common case needs no calendar
        return date(year, month, day.day)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _regular_first_due(terms: LoanTerms) -> date:
    return add_months(terms.start, terms.period_months)


def _is_irregular(terms: LoanTerms) -> bool:
    return terms.first_due is not None and terms.first_due != _regular_first_due(terms)


def _period_due_dates(terms: LoanTerms) -> list[date]:
    # Each date is counted from the anchor, not from the previous date, so a month-end clamp
    # (31 Jan -> 28 Feb) does not drag every later date back to the 28th.
    if terms.first_due is None:
        return [
            add_months(terms.start, k * terms.period_months) for k in range(1, terms.periods + 1)
        ]
    return [add_months(terms.first_due, k * terms.period_months) for k in range(terms.periods)]


def due_dates(terms: LoanTerms) -> list[date]:
    """One due date per instalment: every period for instalment methods, only maturity for a
    bullet loan."""
    dates = _period_due_dates(terms)
    return dates[-1:] if terms.method is RepaymentMethod.BULLET else dates


def parse_method(value: str) -> RepaymentMethod:
    """The method named by `value` (case and `_`/`-` insensitive), or UnknownRepaymentMethod."""
    normalised = value.strip().lower().replace("_", "-")
    try:
        return RepaymentMethod(normalised)
    except ValueError:
        known = [method.value for method in RepaymentMethod]
        raise UnknownRepaymentMethod(
            f"unknown repayment method {value!r}; known methods: {', '.join(known)}",
            method=value,
            known=known,
        ) from None


def _invalid(field: str, detail: str) -> InvalidLoanTerms:
    return InvalidLoanTerms(f"{field}: {detail}", field=field)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_terms(terms: LoanTerms) -> None:
    """Refuse terms no schedule can be built for; the detail and `field` name the culprit."""
    if not isinstance(terms.method, RepaymentMethod):
        parse_method(str(terms.method))  # raises UnknownRepaymentMethod for an unknown name
        raise _invalid("method", f"must be a RepaymentMethod, not {terms.method!r}")
    if not _is_int(terms.principal) or terms.principal <= 0:
        raise _invalid(
            "principal", f"must be a positive whole number of fen, got {terms.principal}"
        )
    if terms.principal > MAX_PRINCIPAL:
        raise _invalid("principal", f"must be at most {MAX_PRINCIPAL} fen, got {terms.principal}")
    if not _is_int(terms.periods) or not 1 <= terms.periods <= MAX_PERIODS:
        raise _invalid("periods", f"must be between 1 and {MAX_PERIODS}, got {terms.periods}")
    if not isinstance(terms.annual_rate, Decimal) or not terms.annual_rate.is_finite():
        raise _invalid("annual_rate", f"must be a finite Decimal, got {terms.annual_rate!r}")
    if terms.annual_rate < 0:
        raise _invalid("annual_rate", f"must not be negative, got {terms.annual_rate}")
    if terms.annual_rate >= MAX_ANNUAL_RATE:
        raise _invalid(
            "annual_rate", f"must be below {MAX_ANNUAL_RATE} (1000 %), got {terms.annual_rate}"
        )
    if terms.period_months not in PERIOD_MONTHS:
        raise _invalid(
            "period_months",
            f"must be one of {', '.join(map(str, PERIOD_MONTHS))}, got {terms.period_months}",
        )
    if not _is_int(terms.grace_periods) or terms.grace_periods < 0:
        raise _invalid("grace_periods", f"must not be negative, got {terms.grace_periods}")
    if terms.grace_periods >= terms.periods:
        raise _invalid(
            "grace_periods",
            f"must be fewer than the {terms.periods} periods, got {terms.grace_periods}",
        )
    for field, fee in (("upfront_fee", terms.upfront_fee), ("periodic_fee", terms.periodic_fee)):
        if not _is_int(fee) or fee < 0:
            raise _invalid(field, f"must be a non-negative whole number of fen, got {fee}")
    if terms.upfront_fee >= terms.principal:
        raise _invalid(
            "upfront_fee",
            f"must be less than the principal ({terms.principal} fen), got {terms.upfront_fee}",
        )
    if terms.first_due is not None:
        latest = add_months(terms.start, 2 * terms.period_months)
        if terms.first_due <= terms.start:
            raise _invalid(
                "first_due", f"must be after the start {terms.start}, got {terms.first_due}"
            )
        if terms.first_due > latest:
            raise _invalid(
                "first_due",
                f"must be at most two periods after the start ({latest}), got {terms.first_due}",
            )


def _fen(amount: Decimal) -> int:
    return int(amount.quantize(_ONE, rounding=ROUND_HALF_UP))


def annuity_payment(principal: int, rate: Decimal, periods: int) -> Decimal:
    """The exact (unrounded) level payment that repays `principal` over `periods` at `rate` per
    period: P·r / (1 − (1 + r)^−n); P / n at a zero rate."""
    with localcontext(_CONTEXT):
        if rate == 0:
            return Decimal(principal) / periods
        growth = (1 + rate) ** periods
        return principal * rate * growth / (growth - 1)


def build_schedule(terms: LoanTerms) -> Schedule:
    """The repayment schedule for `terms` (validated first)."""
    validate_terms(terms)
    with localcontext(_CONTEXT):
        if terms.method is RepaymentMethod.BULLET:
            return Schedule(terms, (_bullet(terms),))
        return Schedule(terms, tuple(_instalments(terms)))


# Interest is base × annual rate × days / 360, a regular period counting as 30 × months days
# (exactly months / 12 of a year, the period rate): one exact division per amount, so a true half
# fen is never computed as 0.4999… and rounds up as it should.


def _regular_days(terms: LoanTerms) -> int:
    return 30 * terms.period_months


def _first_period_days(terms: LoanTerms) -> int:
    """The first period's days for interest: actual days when it is irregular (daily rate ×
    days), otherwise a regular period."""
    if terms.first_due is not None and _is_irregular(terms):
        return (terms.first_due - terms.start).days
    return _regular_days(terms)


def _interest(base: int, annual_rate: Decimal, days: int) -> int:
    return _fen(base * annual_rate * days / DAYS_PER_YEAR)


def _bullet(terms: LoanTerms) -> Instalment:
    # Simple interest for the whole term, P × annual rate × months / 12; with an irregular first
    # period that period accrues by actual days and the rest by the period rate.
    days = _first_period_days(terms) + _regular_days(terms) * (terms.periods - 1)
    interest = _interest(terms.principal, terms.annual_rate, days)
    fee = terms.periodic_fee
    return Instalment(
        period=1,
        due_date=due_dates(terms)[0],
        payment=terms.principal + interest + fee,
        principal=terms.principal,
        interest=interest,
        fee=fee,
        remaining=0,
    )


def _principal_rule(terms: LoanTerms, rate: Decimal) -> Callable[[int, int, bool], int]:
    """How much principal an amortising period repays: f(remaining, interest, is_last)."""
    amortising = terms.periods - terms.grace_periods
    method = terms.method
    if method is RepaymentMethod.INTEREST_ONLY:
        return lambda remaining, interest, last: remaining if last else 0
    if method is RepaymentMethod.EQUAL_INSTALLMENT and rate != 0:
        payment = _fen(annuity_payment(terms.principal, rate, amortising))

        # principal = payment − interest, kept within [0, remaining]: a long irregular first
        # period can owe more interest than the payment (then that instalment is interest only),
        # and a payment rounded up on a tiny loan can repay it a period early.
        def level(remaining: int, interest: int, last: bool) -> int:
            return remaining if last else max(0, min(payment - interest, remaining))

        return level
    # Equal principal, flat, and equal instalment at a zero rate: P // n a period, the
    # remainder fen with the last.
    share = terms.principal // amortising
    return lambda remaining, interest, last: remaining if last else min(share, remaining)


def _instalments(terms: LoanTerms) -> list[Instalment]:
    # An irregular first period changes only that period's interest. For equal instalments the
    # payment stays the regular annuity (computed on whole periods), so the first instalment's
    # principal absorbs the difference and the rest of the schedule is unchanged in shape.
    first_days, regular_days = _first_period_days(terms), _regular_days(terms)
    grace = 0 if terms.method is RepaymentMethod.INTEREST_ONLY else terms.grace_periods
    repay = _principal_rule(terms, period_rate(terms.annual_rate, terms.period_months))
    flat = terms.method is RepaymentMethod.FLAT
    remaining = terms.principal
    rows: list[Instalment] = []
    for index, due in enumerate(_period_due_dates(terms)):
        days = first_days if index == 0 else regular_days
        # Flat (等本等息) charges interest on the original principal every period; the others on
        # what is still outstanding.
        interest = _interest(terms.principal if flat else remaining, terms.annual_rate, days)
        last = index == terms.periods - 1
        principal = 0 if index < grace else repay(remaining, interest, last)
        remaining -= principal
        rows.append(
            Instalment(
                period=index + 1,
                due_date=due,
                payment=principal + interest + terms.periodic_fee,
                principal=principal,
                interest=interest,
                fee=terms.periodic_fee,
                remaining=remaining,
            )
        )
    return rows
