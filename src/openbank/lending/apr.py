"""Annualised percentage rate by the IRR method (PBoC Announcement [2021] No. 3).

The IRR is the rate r at which the cash flows' present value is zero:
Σ c_t / (1 + r)^t = 0. It is solved in x = 1 / (1 + r), where the present value is the polynomial
Σ c_t x^t, by Newton's method on `Decimal`, safeguarded by bisection inside a bracketing interval.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from openbank.lending.schedules import RepaymentMethod, Schedule

_CONTEXT = Context(prec=60)
_RESULT = Context(prec=34)  # what callers get: still far finer than 1e-12
_TOLERANCE = Decimal("1e-45")  # relative step at which x = 1 / (1 + r) counts as found
_MAX_ITERATIONS = 600
_TWO = Decimal(2)
_FURTHEST = 64  # bracket search stops at x = 2^±64: r from about -1 + 5e-20 to 1.8e19
_GRID_STEP = Decimal(2) ** Decimal("0.0625")  # scan step in x for flows with several roots


@dataclass(frozen=True, slots=True)
class Apr:
    period_rate: Decimal  # IRR per period
    periods_per_year: int
    nominal: Decimal  # period IRR × periods per year (what the PBoC's APR means)
    effective: Decimal  # (1 + period IRR) ** periods per year - 1

    def exceeds(self, cap: Decimal) -> bool:
        """Whether the nominal APR is above `cap` (e.g. the 24 % ceiling)."""
        return self.nominal > cap


def _value_and_slope(flows: Sequence[int], x: Decimal) -> tuple[Decimal, Decimal]:
    """Σ c_t x^t and its derivative in x, by Horner's rule."""
    value, slope = Decimal(0), Decimal(0)
    for flow in reversed(flows):
        slope = slope * x + value
        value = value * x + flow
    return value, slope


def _sign(value: Decimal | int) -> int:
    return (value > 0) - (value < 0)


def _sign_changes(flows: Sequence[int]) -> int:
    signs = [_sign(flow) for flow in flows if flow != 0]
    return sum(1 for a, b in itertools.pairwise(signs) if a != b)


def _solve(flows: Sequence[int], lo: Decimal, hi: Decimal) -> Decimal:
    """The root of Σ c_t x^t in [lo, hi] (values of opposite sign at the ends): Newton steps,
    replaced by a bisection whenever a step would leave the shrinking bracket or is not at least
    halving (far from the root a degree-600 polynomial makes Newton crawl)."""
    low_sign = _sign(_value_and_slope(flows, lo)[0])
    x = (lo + hi) / 2
    previous_step = hi - lo
    for _ in range(_MAX_ITERATIONS):
        value, slope = _value_and_slope(flows, x)
        if value == 0:
            return x
        if _sign(value) == low_sign:
            lo = x
        else:
            hi = x
        step = value / slope if slope != 0 else hi - lo
        if abs(step) <= _TOLERANCE * x:  # Newton has converged
            return x - step
        candidate = x - step
        if not lo < candidate < hi or 2 * abs(step) > abs(previous_step):
            candidate = (lo + hi) / 2
        previous_step = candidate - x
        if hi - lo <= _TOLERANCE * x:
            return candidate
        x = candidate
    return x


def _unique_bracket(flows: Sequence[int]) -> tuple[Decimal, Decimal] | None:
    """With one sign change there is exactly one positive x root (Descartes): widen from x = 1
    (r = 0) by doubling or halving until the value's sign flips."""
    near_zero = _sign(next(flow for flow in flows if flow != 0))  # the sign as x -> 0
    at_one = _sign(_value_and_slope(flows, Decimal(1))[0])
    if at_one == 0:
        return Decimal(1), Decimal(1)
    x = Decimal(1)
    for _ in range(_FURTHEST):
        if at_one == near_zero:  # the root lies above x = 1, i.e. r < 0
            nxt = x * _TWO
            if _sign(_value_and_slope(flows, nxt)[0]) != near_zero:
                return x, nxt
        else:  # the root lies below x = 1, i.e. r > 0
            nxt = x / _TWO
            if _sign(_value_and_slope(flows, nxt)[0]) == near_zero:
                return nxt, x
        x = nxt
    return None


def _nearest_brackets(flows: Sequence[int]) -> list[tuple[Decimal, Decimal]]:
    """For flows with several sign changes (so maybe several roots): the first bracket found
    scanning outwards from x = 1 on either side, so the root nearest r = 0 is among them."""
    brackets: list[tuple[Decimal, Decimal]] = []
    for upward in (True, False):
        x = Decimal(1)
        value = _value_and_slope(flows, x)[0]
        if value == 0:
            return [(x, x)]
        for _ in range(_FURTHEST * 16):
            nxt = x * _GRID_STEP if upward else x / _GRID_STEP
            nxt_value = _value_and_slope(flows, nxt)[0]
            if _sign(nxt_value) != _sign(value):
                brackets.append((x, nxt) if upward else (nxt, x))
                break
            x, value = nxt, nxt_value
    return brackets


def irr(cash_flows: Sequence[int]) -> Decimal:
    """The internal rate of return per period of regularly spaced cash flows (index = period).

    When several rates solve the equation, the one nearest zero is returned (as numpy-financial
    does). Raises ValueError when the flows never change sign or no rate solves them."""
    flows = [int(flow) for flow in cash_flows]
    if _sign_changes(flows) == 0:
        raise ValueError("the cash flows need both an outflow and an inflow to have an IRR")
    with localcontext(_CONTEXT):
        if _sign_changes(flows) == 1:
            bracket = _unique_bracket(flows)
            brackets = [] if bracket is None else [bracket]
        else:
            brackets = _nearest_brackets(flows)
        roots = [lo if lo == hi else _solve(flows, lo, hi) for lo, hi in brackets]
        if not roots:
            raise ValueError("no rate makes the cash flows' present value zero")
        rates = [1 / x - 1 for x in roots]
        rate = min(rates, key=abs)
    return _RESULT.plus(rate)


def schedule_apr(schedule: Schedule) -> Apr:
    """The APR of a repayment schedule by the IRR method: at t = 0 the borrower receives the
    principal less the upfront fee, then pays each instalment (fees included) one period apart.

    The flows are taken as regularly spaced even when the first period is irregular (a short or
    long first period counts as one period): that is how the PBoC method treats monthly loans.
    A bullet loan's single payment is placed `periods` periods after the start."""
    terms = schedule.terms
    flows = [-schedule.net_disbursed]
    if terms.method is RepaymentMethod.BULLET:
        flows += [0] * (terms.periods - 1)
    flows += [instalment.payment for instalment in schedule.instalments]
    rate = irr(flows)
    periods_per_year = 12 // terms.period_months
    with localcontext(_CONTEXT):
        nominal = rate * periods_per_year
        effective = (1 + rate) ** periods_per_year - 1
    return Apr(
        period_rate=rate,
        periods_per_year=periods_per_year,
        nominal=_RESULT.plus(nominal),
        effective=_RESULT.plus(effective),
    )
