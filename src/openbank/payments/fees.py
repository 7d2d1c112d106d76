"""The merchant discount rate, as pure functions: which contribution tier a merchant earns, the
fee of one capture and the part of it a refund gives back, each with an explanation a
statement can print line by line. No database here: settlement reads the contribution figures
and computes the same fees set-based in SQL (`settlement.py`), and tests hold the two equal.

Rules (all amounts integers in fen, rates in parts per million):

* Tier: the merchant qualifies for a tier when its contribution reaches both of the tier's
  minimums; of the tiers it qualifies for, the one with the largest `rate_reduction_ppm`
  applies (the first listed on a tie). Effective rate = max(0, plan rate - reduction).
* Fee of a capture: percentage part = amount * rate / 1,000,000 rounded half up, plus the
  fixed fee, then raised to the minimum and lowered to the cap (when the plan has one).
* Fee returned with a refund: proportional to the refunded part of the capture, cumulative
  over the order's refunds: after refunds totalling R of a capture C charged fee F, F * R / C
  (half up) has been returned in all. So the returns never add up to more than F, and a full
  refund returns exactly F, however the refunds split.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from openbank.payments.schemas import FeePlanCreate, FeeTier

PPM = 1_000_000


class Contribution(BaseModel):
    """What the merchant brings the bank besides acquiring, in fen."""

    model_config = ConfigDict(frozen=True)

    average_deposit_balance: int
    loan_interest_paid: int


class Rate(BaseModel):
    """The rate a merchant pays in one settlement, and why."""

    model_config = ConfigDict(frozen=True)

    plan_code: str
    base_rate_ppm: int
    fixed_fee: int
    min_fee: int
    max_fee: int | None
    tier: str | None
    rate_reduction_ppm: int
    effective_rate_ppm: int
    contribution: Contribution


class FeeExplanation(BaseModel):
    """How the fee of one capture was reached."""

    model_config = ConfigDict(frozen=True)

    amount: int
    base_rate_ppm: int
    tier: str | None
    rate_reduction_ppm: int
    effective_rate_ppm: int
    percentage_part: int
    fixed_part: int
    min_fee: int
    max_fee: int | None
    minimum_applied: bool
    cap_applied: bool
    fee: int

    def text(self) -> str:
        tier = f"tier {self.tier} -{percent(self.rate_reduction_ppm)}" if self.tier else "no tier"
        line = (
            f"{self.amount} x {percent(self.effective_rate_ppm)}"
            f" (base {percent(self.base_rate_ppm)}, {tier})"
            f" = {self.percentage_part} + fixed {self.fixed_part}"
        )
        if self.minimum_applied:
            line += f", raised to the minimum {self.min_fee}"
        if self.cap_applied:
            line += f", capped at {self.max_fee}"
        return f"{line} = fee {self.fee}"


class RefundFeeExplanation(BaseModel):
    """How much of a capture's fee one refund gave back."""

    model_config = ConfigDict(frozen=True)

    amount: int
    captured: int
    fee_charged: int
    refunded_before: int
    returned_before: int
    returned_after: int
    fee_returned: int

    def text(self) -> str:
        refunded_after = self.refunded_before + self.amount
        return (
            f"refunded {refunded_after} of {self.captured} in all: fee {self.fee_charged}"
            f" x {refunded_after}/{self.captured} = {self.returned_after} returned in all,"
            f" {self.returned_before} before: fee returned {self.fee_returned}"
        )


def percent(ppm: int) -> str:
    """Parts per million as a percentage with four decimals (6000 -> 0.6000%)."""
    return f"{ppm // 10_000}.{ppm % 10_000:04d}%"


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves up (both >= 0,
    denominator > 0). Integer arithmetic only: SQL's `div(2n + d, 2d)` is the same."""
    return (2 * numerator + denominator) // (2 * denominator)


def qualifies(tier: FeeTier, contribution: Contribution) -> bool:
    return (
        contribution.average_deposit_balance >= tier.min_average_deposit_balance
        and contribution.loan_interest_paid >= tier.min_loan_interest_paid
    )


def best_tier(tiers: Sequence[FeeTier], contribution: Contribution) -> FeeTier | None:
    """The tier with the largest reduction among those the contribution reaches (the first
    listed on a tie), or None."""
    best: FeeTier | None = None
    for tier in tiers:
        if qualifies(tier, contribution) and (
            best is None or tier.rate_reduction_ppm > best.rate_reduction_ppm
        ):
            best = tier
    return best


def rate_for(plan: FeePlanCreate, contribution: Contribution) -> Rate:
    """The rate the plan charges a merchant with this contribution."""
    tier = best_tier(plan.tiers, contribution)
    reduction = tier.rate_reduction_ppm if tier is not None else 0
    return Rate(
        plan_code=plan.code,
        base_rate_ppm=plan.rate_ppm,
        fixed_fee=plan.fixed_fee,
        min_fee=plan.min_fee,
        max_fee=plan.max_fee,
        tier=tier.name if tier is not None else None,
        rate_reduction_ppm=reduction,
        effective_rate_ppm=max(0, plan.rate_ppm - reduction),
        contribution=contribution,
    )


def capture_fee(
    amount: int, rate_ppm: int, fixed_fee: int, min_fee: int, max_fee: int | None
) -> int:
    """The fee of one capture (see the module's rules)."""
    fee = max(round_half_up(amount * rate_ppm, PPM) + fixed_fee, min_fee)
    return fee if max_fee is None else min(fee, max_fee)


def explain_capture(amount: int, rate: Rate) -> FeeExplanation:
    """The fee of one capture at `rate`, with each step of it."""
    percentage = round_half_up(amount * rate.effective_rate_ppm, PPM)
    before_limits = percentage + rate.fixed_fee
    minimum_applied = before_limits < rate.min_fee
    cap_applied = rate.max_fee is not None and max(before_limits, rate.min_fee) > rate.max_fee
    fee = capture_fee(amount, rate.effective_rate_ppm, rate.fixed_fee, rate.min_fee, rate.max_fee)
    return FeeExplanation(
        amount=amount,
        base_rate_ppm=rate.base_rate_ppm,
        tier=rate.tier,
        rate_reduction_ppm=rate.rate_reduction_ppm,
        effective_rate_ppm=rate.effective_rate_ppm,
        percentage_part=percentage,
        fixed_part=rate.fixed_fee,
        min_fee=rate.min_fee,
        max_fee=rate.max_fee,
        minimum_applied=minimum_applied,
        cap_applied=cap_applied,
        fee=fee,
    )


def returned_in_all(fee_charged: int, captured: int, refunded: int) -> int:
    """The part of a capture's fee returned once `refunded` of its `captured` amount has
    been refunded (never more than the fee)."""
    return round_half_up(fee_charged * min(refunded, captured), captured)


def fee_returned(fee_charged: int, captured: int, refunded_before: int, amount: int) -> int:
    """The fee one refund of `amount` gives back, after `refunded_before` was refunded of the
    same capture (by earlier refunds)."""
    return returned_in_all(fee_charged, captured, refunded_before + amount) - returned_in_all(
        fee_charged, captured, refunded_before
    )


def explain_refund(
    fee_charged: int, captured: int, refunded_before: int, amount: int
) -> RefundFeeExplanation:
    before = returned_in_all(fee_charged, captured, refunded_before)
    after = returned_in_all(fee_charged, captured, refunded_before + amount)
    return RefundFeeExplanation(
        amount=amount,
        captured=captured,
        fee_charged=fee_charged,
        refunded_before=refunded_before,
        returned_before=before,
        returned_after=after,
        fee_returned=after - before,
    )
