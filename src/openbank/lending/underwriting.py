"""Instant credit decisions: policy rules, then the scorecard, then a risk grade that sets the
price and the limit. Pure functions over plain values; every outcome carries reason codes a
customer can be told (the wording follows the adverse-action notices lenders send)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from openbank.lending.schemas import Grade, ProductSpec, Reason

Decision = Literal["approved", "declined", "referred"]

# Risk grades by scorecard points (600 at good:bad odds 50:1, 20 points to double the odds).
# On the reference scorecard's training scores, A is the best ~12 % of German-credit
# applicants, B the next ~28 %, C ~30 %, D ~20 % and E the last ~10 %; retune the cut-offs
# with the bank's own model (docs/lending.md).
GRADE_CUTOFFS: tuple[tuple[int, Grade], ...] = ((560, "A"), (530, "B"), (500, "C"), (470, "D"))
# The share of the product's maximum each grade may borrow.
GRADE_LIMIT_SHARE: dict[Grade, Decimal] = {
    "A": Decimal(1),
    "B": Decimal("0.8"),
    "C": Decimal("0.6"),
    "D": Decimal("0.4"),
    "E": Decimal(0),
}
REFER_GRADES: frozenset[Grade] = frozenset({"D"})
DECLINE_GRADES: frozenset[Grade] = frozenset({"E"})

MESSAGES = {
    "blocked": "We cannot offer credit to this customer at present.",
    "customer_type_not_served": "This product is not offered to this type of customer.",
    "kyc_level_too_low": "Please complete identity verification to a higher level first.",
    "age_out_of_range": "The applicant's age is outside the range this product serves.",
    "region_not_served": "This product is not offered in the applicant's region.",
    "history_too_short": "The applicant has not banked with us long enough for this product.",
    "income_below_minimum": "The declared income is below this product's minimum.",
    "existing_overdue_loan": "The applicant has a loan with us that is past due.",
    "debt_to_income_too_high": "The repayments would take too large a share of income.",
    "credit_score_below_minimum": "The credit score is below this product's minimum.",
    "risk_grade_declined": "The credit assessment does not support this loan.",
    "risk_grade_referred": "The application needs a review by a credit officer.",
    "grade_not_priced": "The product has no price for the applicant's risk grade.",
    "apr_above_cap": "The annualised rate of this loan would exceed the legal cap.",
    "amount_reduced": "We can offer a smaller amount than requested.",
    "no_payment_flow": "This product lends on the payments a merchant takes with us, and we"
    " see none.",
    "payment_flow_limit_too_low": "The payments the merchant takes with us do not support a"
    " loan of this product.",
}


def reason(code: str, detail: str | None = None) -> Reason:
    message = MESSAGES[code]
    return Reason(code=code, message=f"{message} ({detail})" if detail else message)


def grade_of(score: int) -> Grade:
    for cutoff, grade in GRADE_CUTOFFS:
        if score >= cutoff:
            return grade
    return "E"


@dataclass(frozen=True, slots=True)
class Applicant:
    customer_type: str
    kyc_level: int
    birth_date: date | None
    region_code: str
    customer_since: date
    monthly_income: int
    monthly_debt_payments: int  # declared elsewhere plus this bank's loans
    has_overdue_loan: bool
    blocked: bool


def age_on(birth_date: date, today: date) -> int:
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


def months_between(earlier: date, later: date) -> int:
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    return months - (1 if later.day < earlier.day else 0)


def policy_reasons(product: ProductSpec, applicant: Applicant, today: date) -> list[Reason]:
    """Knock-out rules: any reason here declines the application."""
    rules = product.eligibility
    reasons: list[Reason] = []
    if applicant.blocked:
        reasons.append(reason("blocked"))
    if applicant.customer_type not in rules.customer_types:
        reasons.append(reason("customer_type_not_served"))
    if applicant.kyc_level < rules.kyc_level_min:
        reasons.append(reason("kyc_level_too_low", f"level {rules.kyc_level_min} needed"))
    if applicant.birth_date is not None:
        age = age_on(applicant.birth_date, today)
        if (rules.age_min is not None and age < rules.age_min) or (
            rules.age_max is not None and age > rules.age_max
        ):
            reasons.append(reason("age_out_of_range"))
    if rules.regions and not any(applicant.region_code.startswith(r) for r in rules.regions):
        reasons.append(reason("region_not_served"))
    if months_between(applicant.customer_since, today) < rules.min_history_months:
        reasons.append(reason("history_too_short", f"{rules.min_history_months} months needed"))
    if rules.monthly_income_min is not None and applicant.monthly_income < rules.monthly_income_min:
        reasons.append(reason("income_below_minimum"))
    if applicant.has_overdue_loan:
        reasons.append(reason("existing_overdue_loan"))
    return reasons


@dataclass(frozen=True, slots=True)
class GradeOutcome:
    decision: Decision
    grade: Grade
    amount: int  # what may be lent: the request, or less for the grade's limit
    rate: Decimal | None
    reasons: list[Reason] = field(default_factory=list)


def grade_outcome(product: ProductSpec, score: int, requested: int) -> GradeOutcome:
    """The grade sets the price (the product's rate for it) and the limit."""
    grade = grade_of(score)
    rate = product.pricing.rate_for(grade)
    if grade in DECLINE_GRADES:
        return GradeOutcome("declined", grade, 0, rate, [reason("risk_grade_declined")])
    if rate is None:
        return GradeOutcome("declined", grade, 0, None, [reason("grade_not_priced")])
    limit = int(product.amount_max * GRADE_LIMIT_SHARE[grade])
    limit -= limit % 100  # whole yuan
    if limit < product.amount_min:
        return GradeOutcome("declined", grade, 0, rate, [reason("risk_grade_declined")])
    reasons: list[Reason] = []
    amount = requested
    if requested > limit:
        amount = limit
        reasons.append(reason("amount_reduced", f"up to {limit // 100} yuan"))
    if grade in REFER_GRADES:
        return GradeOutcome(
            "referred", grade, amount, rate, [*reasons, reason("risk_grade_referred")]
        )
    return GradeOutcome("approved", grade, amount, rate, reasons)


def debt_to_income_reason(
    applicant: Applicant, largest_instalment: int, cap: Decimal
) -> Reason | None:
    """Monthly debt service with the new loan's largest instalment, against declared income."""
    if applicant.monthly_income <= 0:
        return reason("debt_to_income_too_high", "no income declared")
    ratio = Decimal(applicant.monthly_debt_payments + largest_instalment) / applicant.monthly_income
    if ratio > cap:
        return reason("debt_to_income_too_high", f"{ratio:.0%} of income; at most {cap:.0%}")
    return None
