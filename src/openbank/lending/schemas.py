"""Request and response models of the lending API and service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from openbank.ledger.schemas import PositiveAmount
from openbank.lending.schedules import RepaymentMethod

ProductType = Literal[
    "consumer",
    "car",
    "mortgage",
    "merchant_operating",
    "ecommerce",
    "payment_flow",
    "supply_chain_receivable",
]
Grade = Literal["A", "B", "C", "D", "E"]
GRADES: tuple[Grade, ...] = ("A", "B", "C", "D", "E")
CustomerType = Literal["person", "enterprise"]
Code = Annotated[
    str, StringConstraints(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]
Rate = Annotated[Decimal, Field(ge=0, lt=10, max_digits=12, decimal_places=8)]
Share = Annotated[Decimal, Field(gt=0, lt=1, max_digits=9, decimal_places=8)]
Months = Annotated[StrictInt, Field(ge=1, le=600)]
Fen = Annotated[StrictInt, Field(ge=0, le=10**15)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- products -------------------------------------------------------------------------------


class Pricing(Strict):
    """A single annual rate, or one per risk grade (grades without a rate are not lent to),
    plus fees: up front (a share of the principal plus a fixed part) and per instalment."""

    annual_rate: Rate | None = None
    rates_by_grade: dict[Grade, Rate] | None = None
    upfront_fee_rate: Rate = Decimal(0)
    upfront_fee_fixed: Fen = 0
    periodic_fee: Fen = 0

    @model_validator(mode="after")
    def _one_price(self) -> Self:
        if (self.annual_rate is None) == (self.rates_by_grade is None):
            raise ValueError("give exactly one of annual_rate and rates_by_grade")
        if self.rates_by_grade is not None and not self.rates_by_grade:
            raise ValueError("rates_by_grade needs at least one grade")
        return self

    def rate_for(self, grade: Grade) -> Decimal | None:
        if self.rates_by_grade is not None:
            return self.rates_by_grade.get(grade)
        return self.annual_rate


def _persons() -> list[CustomerType]:
    return ["person"]


class Eligibility(Strict):
    age_min: Annotated[int, Field(ge=16, le=100)] | None = None
    age_max: Annotated[int, Field(ge=16, le=100)] | None = None
    monthly_income_min: Fen | None = None
    credit_score_min: Annotated[int, Field(ge=0, le=1000)] | None = None
    kyc_level_min: Annotated[int, Field(ge=1, le=3)] = 2
    regions: list[Annotated[str, StringConstraints(pattern=r"^\d{2,6}$")]] = Field(
        default_factory=list,
        description="Administrative division prefixes served (e.g. '31' Shanghai); empty: all",
    )
    customer_types: list[CustomerType] = Field(default_factory=_persons, min_length=1)
    min_history_months: Annotated[int, Field(ge=0, le=600)] = 0

    @model_validator(mode="after")
    def _age_range(self) -> Self:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min is above age_max")
        return self


class JointFunding(Strict):
    partner_code: Code
    partner_share: Share = Field(description="Share of each loan the partner funds")


class ProductSpec(Strict):
    code: Code
    name: Text200
    institution: Text200 = Field(description="Who lends: this bank or another institution")
    own: bool = Field(True, description="True for this bank's own products")
    type: ProductType
    currency: Literal["CNY"] = "CNY"
    amount_min: PositiveAmount
    amount_max: PositiveAmount
    terms_months: list[Months] = Field(min_length=1, description="Terms offered, in months")
    period_months: Literal[1, 3, 6, 12] = 1
    grace_periods: Annotated[int, Field(ge=0, le=60)] = Field(
        0, description="First periods in which only interest is paid"
    )
    repayment_methods: list[RepaymentMethod] = Field(min_length=1)
    pricing: Pricing
    eligibility: Eligibility = Field(default_factory=Eligibility)
    joint: JointFunding | None = None
    purpose_bound: bool = Field(
        False, description="Paid straight to the merchant selling what the loan buys"
    )
    description: Annotated[str, StringConstraints(max_length=2000)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.amount_min > self.amount_max:
            raise ValueError("amount_min is above amount_max")
        for months in self.terms_months:
            if months % self.period_months:
                raise ValueError(f"term {months} is not a whole number of periods")
            if self.grace_periods >= months // self.period_months:
                raise ValueError(f"term {months} is not longer than the grace periods")
        if len(set(self.repayment_methods)) != len(self.repayment_methods):
            raise ValueError("repayment_methods repeats a method")
        return self


class Product(BaseModel):
    code: str
    version: int
    status: Literal["active", "retired"]
    spec: ProductSpec
    created_at: datetime
    updated_at: datetime


class ProductList(BaseModel):
    data: list[Product]


class ImportProblem(BaseModel):
    index: int
    code: str | None
    errors: list[str]


class ImportReport(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]


# -- funding partners -----------------------------------------------------------------------


class FundingPartnerCreate(Strict):
    code: Code
    name: Text200
    outstanding_cap: Fen = Field(description="Most principal of joint loans it may have out")


class FundingPartner(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    outstanding_cap: int
    outstanding: int
    funding_ledger_account_id: uuid.UUID
    available_funds: int
    created_at: datetime


class AmountCreate(Strict):
    amount: PositiveAmount


# -- applications ---------------------------------------------------------------------------


class DeclaredFinances(Strict):
    """What the applicant declares (and the bank may verify later)."""

    monthly_income: Fen
    monthly_debt_payments: Fen = 0
    credit_profile: dict[
        Annotated[str, StringConstraints(max_length=64)],
        Annotated[str, StringConstraints(max_length=200)] | float | None,
    ] = Field(
        default_factory=dict,
        max_length=32,
        description="Further scorecard characteristics (e.g. housing, job), by name",
    )


class ApplicationCreate(Strict):
    customer_id: uuid.UUID
    product_code: Code
    amount: PositiveAmount
    term_months: Months
    method: RepaymentMethod | None = Field(None, description="Default: the product's first")
    purpose: Text200
    declared: DeclaredFinances


class Reason(BaseModel):
    code: str
    message: str


class ScheduleLine(BaseModel):
    period: int
    due_date: date
    payment: int
    principal: int
    interest: int
    fee: int
    remaining: int


class AprOut(BaseModel):
    nominal: Decimal
    effective: Decimal
    cap: Decimal
    above_cap: bool


class Offer(BaseModel):
    amount: int
    term_months: int
    method: RepaymentMethod
    annual_rate: Decimal
    upfront_fee: int
    periodic_fee: int
    net_disbursed: int
    total_interest: int
    total_repayment: int
    apr: AprOut
    schedule: list[ScheduleLine]


class Application(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    product_code: str
    decision: Literal["approved", "declined", "referred"]
    status: Literal["offered", "declined", "referred", "accepted", "expired"]
    reasons: list[Reason]
    score: int | None
    grade: Grade | None
    offer: Offer | None
    offer_expires_at: datetime | None
    contract_id: uuid.UUID | None
    created_at: datetime


class OfferAccept(Strict):
    e_account_id: uuid.UUID = Field(description="The borrower's e-account that repays")
    payee_e_account_id: uuid.UUID | None = Field(
        None, description="Purpose-bound loans: the merchant's e-account paid out to"
    )
    auto_debit: bool = True


# -- contracts ------------------------------------------------------------------------------


class InstalmentOut(BaseModel):
    period: int
    due_date: date
    principal: int
    interest: int
    fee: int
    penalty: int
    paid_principal: int
    paid_interest: int
    paid_fee: int
    paid_penalty: int
    status: Literal["paid", "due", "overdue", "future"]


class Contract(BaseModel):
    id: uuid.UUID
    application_id: uuid.UUID
    customer_id: uuid.UUID
    product_code: str
    principal: int
    currency: str
    annual_rate: Decimal
    penalty_rate: Decimal
    method: RepaymentMethod
    start_date: date
    apr_nominal: Decimal
    apr_effective: Decimal
    e_account_id: uuid.UUID
    payee_e_account_id: uuid.UUID | None
    auto_debit: bool
    partner_code: str | None
    partner_share: Decimal | None
    status: Literal["active", "overdue", "paid_off", "written_off"]
    as_of: date
    outstanding_principal: int
    overdue_amount: int
    days_past_due: int
    bucket: Literal["current", "M1", "M2", "M3+"]
    next_due_date: date | None
    next_payment: int
    payable_now: int
    payoff_amount: int
    unallocated: int
    accounts: dict[str, uuid.UUID]
    instalments: list[InstalmentOut]
    created_at: datetime


class ContractSummary(BaseModel):
    id: uuid.UUID
    product_code: str
    principal: int
    status: str
    outstanding_principal: int
    days_past_due: int
    bucket: str
    next_due_date: date | None


class ContractPage(BaseModel):
    data: list[ContractSummary]
    next_cursor: str | None
    next: str | None = None


class RepaymentCreate(Strict):
    amount: PositiveAmount
    effective_date: date | None = Field(
        None, description="Backdated repayments take effect on this date (operators only)"
    )


class PrepaymentCreate(Strict):
    mode: Literal["full", "shorter_term", "smaller_instalment"]
    amount: PositiveAmount | None = Field(
        None, description="Partial modes: the amount paid now; full: omit (the payoff amount)"
    )

    @model_validator(mode="after")
    def _amount_for_partial(self) -> Self:
        if self.mode != "full" and self.amount is None:
            raise ValueError("a partial prepayment needs an amount")
        if self.mode == "full" and self.amount is not None:
            raise ValueError("a full prepayment pays the payoff amount: omit amount")
        return self


class LoanEventOut(BaseModel):
    id: uuid.UUID
    kind: str
    effective_date: date
    amount: int
    mode: str | None
    reverses: uuid.UUID | None
    source: str
    ledger_transfer_id: uuid.UUID | None
    created_at: datetime


class ReferralDecision(BaseModel):
    approve: bool
    note: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class BlockListCreate(Strict):
    customer_id: uuid.UUID
    reason: Text200


# -- batch and reports ----------------------------------------------------------------------


class EndOfDayRequest(BaseModel):
    business_date: date | None = None


class EndOfDayReport(BaseModel):
    business_date: date
    run: int
    contracts: int
    transfers: int
    auto_debits: int
    auto_debited_amount: int
    overdue: dict[str, int] = Field(description="Contracts per bucket after the batch")
    skipped: int = Field(description="Loans already brought past this date by later events")
    failed: list[uuid.UUID] = Field(description="Loans the batch could not process (logged)")
    seconds: float


class TrialBalanceLine(BaseModel):
    product_code: str
    account: str
    ledger_balance: int
    contracts_balance: int
    difference: int


class TrialBalance(BaseModel):
    lines: list[TrialBalanceLine]
    balanced: bool


class ScoreBandOut(BaseModel):
    label: str
    expected_share: float
    actual_share: float
    count: int


class ScoreStability(BaseModel):
    """How far the scores of recent applications have drifted from the scorecard's training
    population (PSI: under 0.1 stable, 0.1 to 0.25 watch, above 0.25 shift)."""

    model: str
    since: datetime
    applications: int
    psi: float | None
    verdict: Literal["stable", "watch", "shift"] | None
    bands: list[ScoreBandOut]
