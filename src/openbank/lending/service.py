"""The lending context's public face: the product library, applications and their instant
decisions, contracts, disbursement, repayment, prepayment, reversal, write-off, the end-of-day
batch and the trial balance.

Every function runs in the caller's transaction. Money moves only through `ledger.service`
(and, for e-accounts, `customers.service.loan_movement`), in that same transaction.

Concurrency: every operation on a loan first locks its contract row, so two requests on one
loan run one after the other; then e-account rows, then ledger accounts (both in id order, as
the customers and ledger contexts do). Acceptance of a joint loan locks the funding partner's
row first, so two acceptances cannot both squeeze under the partner's cap.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, cast

import structlog
import yaml
from pydantic import ValidationError
from sqlalchemy import Numeric, func, select
from sqlalchemy import cast as cast_sql
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.core.clock import business_date
from openbank.core.errors import DomainError, InvalidCursor
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.credit import service as credit
from openbank.customers import service as customers
from openbank.ledger import service as ledger
from openbank.ledger.schemas import AccountCreate, TransferCreate
from openbank.lending import accounting, errors, models, underwriting
from openbank.lending.apr import Apr, schedule_apr
from openbank.lending.schedules import (
    Instalment,
    LoanTerms,
    RepaymentMethod,
    Schedule,
    add_months,
    build_schedule,
)
from openbank.lending.schemas import (
    Application,
    ApplicationCreate,
    AprOut,
    BlockListCreate,
    Contract,
    ContractSummary,
    EndOfDayReport,
    FundingPartner,
    FundingPartnerCreate,
    ImportReport,
    InstalmentOut,
    LoanEventOut,
    Offer,
    OfferAccept,
    PrepaymentCreate,
    Product,
    ProductSpec,
    Reason,
    RepaymentCreate,
    ScheduleLine,
    ScoreBandOut,
    ScoreStability,
    TrialBalance,
    TrialBalanceLine,
)
from openbank.lending.servicing import (
    Component,
    ContractTerms,
    LoanEvent,
    LoanState,
    replay,
)
from openbank.payments import service as payments

log = structlog.get_logger(__name__)
SAMPLE_LIBRARY = Path(__file__).resolve().parent / "products" / "library.yaml"
OFFER_VALIDITY = timedelta(days=7)
# Products lent on the merchant's acquiring flow at this bank: capped by its payment-flow
# limit (docs/payment-flow-limit.md).
FLOW_LIMITED_TYPES = frozenset({"merchant_operating", "payment_flow"})
WRITE_OFF_AFTER_DAYS = 90
_PARTNER_NAMESPACE = uuid.UUID("6c1d2e3f-4a5b-5c6d-8e7f-9a0b1c2d3e4f")


# -- products -------------------------------------------------------------------------------


def _product_out(row: models.LoanProduct) -> Product:
    return Product(
        code=row.code,
        version=row.version,
        status=cast(Any, row.status),
        spec=ProductSpec.model_validate(row.spec),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _check_joint(session: Session, spec: ProductSpec, settings: Settings) -> None:
    if spec.joint is None:
        return
    if spec.joint.partner_share < settings.lending_joint_partner_min_share:
        raise errors.PartnerShareTooLow(
            f"product {spec.code}: the partner funds {spec.joint.partner_share:%}; at least"
            f" {settings.lending_joint_partner_min_share:%} is required",
            partner_share=str(spec.joint.partner_share),
        )
    _partner_row(session, spec.joint.partner_code)


def upsert_product(
    session: Session, spec: ProductSpec, now: datetime, settings: Settings
) -> tuple[Product, str]:
    """Create a product or give it a new version; says 'created', 'updated' or 'unchanged'."""
    _check_joint(session, spec, settings)
    accounting.ensure_product_accounts(session, spec.code, spec.currency, now)
    body = spec.model_dump(mode="json")
    # Insert-or-nothing first, so two first publications of one code cannot collide.
    created = session.execute(
        insert(models.LoanProduct)
        .values(
            code=spec.code,
            version=1,
            status="active",
            type=spec.type,
            institution=spec.institution,
            spec=body,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(models.LoanProduct.code)
    ).first()
    row = session.get(models.LoanProduct, spec.code, with_for_update=True, populate_existing=True)
    assert row is not None
    if created is not None:
        outcome = "created"
    elif row.spec == body and row.status == "active":
        outcome = "unchanged"
    else:
        row.version += 1
        row.status = "active"
        row.type = spec.type
        row.institution = spec.institution
        row.spec = body
        row.updated_at = now
        outcome = "updated"
    session.flush()
    return _product_out(row), outcome


def _validation_messages(exc: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(p) for p in error['loc']) or '(product)'}: {error['msg']}"
        for error in exc.errors()
    ]


def read_product_file(path: Path) -> list[Any]:
    """The product documents of a YAML or JSON file (JSON is YAML too): a list, or a mapping
    with a `products` list. Validation is `import_products`'s."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise errors.InvalidImportFile(f"cannot read {path}: {exc}") from None
    documents = loaded.get("products") if isinstance(loaded, dict) else loaded
    if not isinstance(documents, list):
        raise errors.InvalidImportFile(
            f"{path}: expected a list of products or a mapping with a `products` list"
        )
    return documents


def import_products(
    session: Session, documents: Sequence[Any], now: datetime, settings: Settings
) -> ImportReport:
    """Products from a parsed YAML/JSON file: all valid, or nothing imported and every
    problem listed (which product, which field, what is wrong)."""
    specs: list[ProductSpec] = []
    problems: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        code = document.get("code") if isinstance(document, dict) else None
        try:
            specs.append(ProductSpec.model_validate(document))
        except ValidationError as exc:
            problems.append({"index": index, "code": code, "errors": _validation_messages(exc)})
    codes = Counter(spec.code for spec in specs)
    for code, count in codes.items():
        if count > 1:
            problems.append({"index": -1, "code": code, "errors": [f"code appears {count} times"]})
    if problems:
        raise errors.InvalidProduct(
            f"{len(problems)} of {len(documents)} products are not valid; nothing was imported",
            problems=problems,
        )
    report = ImportReport(created=[], updated=[], unchanged=[])
    for spec in specs:
        _, outcome = upsert_product(session, spec, now, settings)
        getattr(report, outcome).append(spec.code)
    return report


def _product_row(session: Session, code: str) -> models.LoanProduct:
    row = session.get(models.LoanProduct, code)
    if row is None:
        raise errors.ProductNotFound(f"no loan product {code}")
    return row


def get_product(session: Session, code: str) -> Product:
    return _product_out(_product_row(session, code))


def list_products(
    session: Session, *, product_type: str | None = None, include_retired: bool = False
) -> list[Product]:
    """The library (small: a few hundred products at most), ordered by code."""
    query = select(models.LoanProduct).order_by(models.LoanProduct.code)
    if product_type is not None:
        query = query.where(models.LoanProduct.type == product_type)
    if not include_retired:
        query = query.where(models.LoanProduct.status == "active")
    return [_product_out(row) for row in session.execute(query).scalars()]


def retire_product(session: Session, code: str, now: datetime) -> Product:
    row = session.get(models.LoanProduct, code, with_for_update=True)
    if row is None:
        raise errors.ProductNotFound(f"no loan product {code}")
    row.status = "retired"
    row.updated_at = now
    session.flush()
    return _product_out(row)


# -- funding partners -----------------------------------------------------------------------


def _partner_row(session: Session, code: str, *, lock: bool = False) -> models.FundingPartner:
    query = select(models.FundingPartner).where(models.FundingPartner.code == code)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise errors.FundingPartnerNotFound(f"no funding partner {code}")
    return row


def _partner_outstanding(session: Session, partner_id: uuid.UUID) -> int:
    """The partner's share of the principal outstanding on its open joint loans."""
    c = models.LoanContract
    total = session.execute(
        select(
            func.coalesce(
                func.sum(
                    cast_sql(c.partner_principal, Numeric) * c.outstanding_principal / c.principal
                ),
                0,
            )
        ).where(c.partner_id == partner_id, c.status.in_(("active", "overdue")))
    ).scalar_one()
    return int(total)


def _partner_out(session: Session, row: models.FundingPartner) -> FundingPartner:
    account = ledger.get_account(session, row.funding_ledger_account_id)
    return FundingPartner(
        id=row.id,
        code=row.code,
        name=row.name,
        outstanding_cap=row.outstanding_cap,
        outstanding=_partner_outstanding(session, row.id),
        funding_ledger_account_id=row.funding_ledger_account_id,
        available_funds=account.credits_posted - account.debits_posted - account.debits_pending,
        created_at=row.created_at,
    )


def interbank_account_id(currency: str = "CNY") -> uuid.UUID:
    """Where partner funds arrive from (the bank's interbank settlement account)."""
    return uuid.uuid5(_PARTNER_NAMESPACE, f"interbank:{currency}")


def create_funding_partner(
    session: Session, spec: FundingPartnerCreate, now: datetime
) -> FundingPartner:
    partner_id = new_id()
    account = ledger.create_account(
        session,
        AccountCreate(
            currency="CNY",
            code="joint_partner_funding",
            flags=["debits_must_not_exceed_credits"],
            metadata={"funding_partner": spec.code},
        ),
        now,
    )
    inserted = session.execute(
        insert(models.FundingPartner)
        .values(
            id=partner_id,
            code=spec.code,
            name=spec.name,
            outstanding_cap=spec.outstanding_cap,
            funding_ledger_account_id=account.id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(models.FundingPartner.id)
    ).first()
    if inserted is None:  # the caller's transaction rolls back the account made above
        raise errors.FundingPartnerExists(f"funding partner {spec.code} exists")
    return _partner_out(session, _partner_row(session, spec.code))


def fund_partner(session: Session, code: str, amount: int, now: datetime) -> FundingPartner:
    """Money the partner sends to its funding account here, to co-fund joint loans."""
    row = _partner_row(session, code)
    ledger.create_account(
        session,
        AccountCreate(id=interbank_account_id(), currency="CNY", code="interbank_settlement"),
        now,
    )
    ledger.transfer(
        session,
        ledger.transfer_command(
            TransferCreate(
                debit_account_id=interbank_account_id(),
                credit_account_id=row.funding_ledger_account_id,
                amount=amount,
                currency="CNY",
                code="joint_partner_funding_in",
                metadata={"funding_partner": code},
            )
        ),
        now,
    )
    return _partner_out(session, row)


def get_funding_partner(session: Session, code: str) -> FundingPartner:
    return _partner_out(session, _partner_row(session, code))


# -- block list -----------------------------------------------------------------------------


def block_customer(session: Session, spec: BlockListCreate, now: datetime) -> None:
    session.execute(
        insert(models.BlockListEntry)
        .values(customer_id=spec.customer_id, reason=spec.reason, created_at=now)
        .on_conflict_do_update(index_elements=["customer_id"], set_={"reason": spec.reason})
    )


def unblock_customer(session: Session, customer_id: uuid.UUID) -> None:
    entry = session.get(models.BlockListEntry, customer_id)
    if entry is not None:
        session.delete(entry)
        session.flush()


# -- quotes and applications ----------------------------------------------------------------


def _offer(
    spec: ProductSpec,
    amount: int,
    term_months: int,
    method: RepaymentMethod,
    rate: Decimal,
    start: date,
    settings: Settings,
) -> tuple[Offer, Schedule, Apr]:
    pricing = spec.pricing
    upfront_fee = int(amount * pricing.upfront_fee_rate) + pricing.upfront_fee_fixed
    schedule = build_schedule(
        LoanTerms(
            principal=amount,
            annual_rate=rate,
            periods=term_months // spec.period_months,
            method=method,
            start=start,
            period_months=spec.period_months,
            grace_periods=spec.grace_periods,
            upfront_fee=upfront_fee,
            periodic_fee=pricing.periodic_fee,
        )
    )
    apr = schedule_apr(schedule)
    offer = Offer(
        amount=amount,
        term_months=term_months,
        method=method,
        annual_rate=rate,
        upfront_fee=upfront_fee,
        periodic_fee=pricing.periodic_fee,
        net_disbursed=schedule.net_disbursed,
        total_interest=schedule.total_interest,
        total_repayment=schedule.total_payment,
        apr=AprOut(
            nominal=apr.nominal.quantize(Decimal("0.000001")),
            effective=apr.effective.quantize(Decimal("0.000001")),
            cap=settings.lending_apr_cap,
            above_cap=apr.exceeds(settings.lending_apr_cap),
        ),
        schedule=[
            ScheduleLine.model_validate(i, from_attributes=True) for i in schedule.instalments
        ],
    )
    return offer, schedule, apr


def _check_request(spec: ProductSpec, request: ApplicationCreate) -> RepaymentMethod:
    if not spec.amount_min <= request.amount <= spec.amount_max:
        raise errors.AmountOutOfRange(
            f"product {spec.code} lends {spec.amount_min // 100} to {spec.amount_max // 100}"
            f" yuan; {request.amount / 100:.2f} was asked for",
            amount_min=spec.amount_min,
            amount_max=spec.amount_max,
        )
    if request.term_months not in spec.terms_months:
        raise errors.TermNotOffered(
            f"product {spec.code} offers terms of {spec.terms_months} months",
            terms_months=spec.terms_months,
        )
    method = request.method or spec.repayment_methods[0]
    if method not in spec.repayment_methods:
        raise errors.MethodNotOffered(
            f"product {spec.code} offers {[str(m) for m in spec.repayment_methods]}",
            repayment_methods=[str(m) for m in spec.repayment_methods],
        )
    return method


def _scorecard_applicant(
    request: ApplicationCreate, age: int | None
) -> dict[str, str | float | None]:
    """The reference scorecard's characteristics we know of this applicant: the term and age
    from the application and the ID, the rest from the declared credit profile. Names the
    scorecard was never trained on are refused; those it trained on but does not score are
    accepted and ignored; absent ones score as missing."""
    scorecard = credit.reference_scorecard()
    known = {c.name for c in scorecard.candidates} | set(credit.feature_names(scorecard))
    unknown = sorted(set(request.declared.credit_profile) - known)
    if unknown:
        raise errors.UnknownCreditCharacteristic(
            f"unknown credit profile characteristics: {', '.join(unknown)}",
            unknown=unknown,
            known=sorted(known),
        )
    applicant: dict[str, str | float | None] = dict(request.declared.credit_profile)
    applicant["duration_in_month"] = request.term_months
    if age is not None:
        applicant["age_in_years"] = age
    return applicant


def _customer_loans(session: Session, customer_id: uuid.UUID) -> list[models.LoanContract]:
    return list(
        session.execute(
            select(models.LoanContract).where(
                models.LoanContract.customer_id == customer_id,
                models.LoanContract.status.in_(("active", "overdue")),
            )
        ).scalars()
    )


def _monthly(payment: int, period_months: int) -> int:
    return -(-payment // period_months)


def _flow_limit(
    session: Session, spec: ProductSpec, customer_id: uuid.UUID, today: date
) -> tuple[int | None, list[Reason]]:
    """For a product lent on payment flow: the customer's payment-flow limit, or the reasons
    it declines (no merchant flow at this bank, or a limit below the product's minimum).
    (None, []) for other products."""
    if spec.type not in FLOW_LIMITED_TYPES:
        return None, []
    flow = payments.payment_flow_limit(session, customer_id, today)
    if flow is None:
        return None, [underwriting.reason("no_payment_flow", "not a merchant of this bank")]
    if flow.summary.first_payment_date is None:
        return None, [underwriting.reason("no_payment_flow", "no payment taken yet")]
    if flow.limit < spec.amount_min:
        cuts = flow.blocking_cuts or flow.cuts
        detail = "; ".join(f"{cut.code}: {cut.detail}" for cut in cuts)
        limit = f"a payment-flow limit of {flow.limit // 100} yuan"
        if flow.limit:
            limit += f", the product lends from {spec.amount_min // 100}"
        detail = f"{limit}; {detail}" if detail else limit
        return None, [underwriting.reason("payment_flow_limit_too_low", detail)]
    return flow.limit, []


def _capped_by_flow(
    graded: underwriting.GradeOutcome, flow_limit: int | None
) -> tuple[int, list[Reason]]:
    """The amount the grade allows, cut to the payment-flow limit where that is lower (the
    grade's own `amount_reduced` gives way to the flow's)."""
    if flow_limit is None or graded.amount <= flow_limit:
        return graded.amount, list(graded.reasons)
    reasons = [r for r in graded.reasons if r.code != "amount_reduced"]
    detail = f"up to {flow_limit // 100} yuan, the payment-flow limit"
    return flow_limit, [underwriting.reason("amount_reduced", detail), *reasons]


@dataclass(frozen=True, slots=True)
class _Decided:
    product: models.LoanProduct
    decision: str
    reasons: list[Reason]
    score: int
    grade: str | None = None
    offer: Offer | None = None


def _decide(
    session: Session, request: ApplicationCreate, now: datetime, settings: Settings
) -> _Decided:
    product_row = _product_row(session, request.product_code)
    if product_row.status != "active":
        raise errors.ProductRetired(f"loan product {request.product_code} is retired")
    spec = ProductSpec.model_validate(product_row.spec)
    method = _check_request(spec, request)
    today = business_date(now, settings.tz)
    facts = customers.credit_facts(session, request.customer_id)
    loans = _customer_loans(session, request.customer_id)
    applicant = underwriting.Applicant(
        customer_type=facts.type,
        kyc_level=facts.kyc_level,
        birth_date=facts.birth_date,
        region_code=facts.region_code,
        customer_since=facts.customer_since,
        monthly_income=request.declared.monthly_income,
        monthly_debt_payments=request.declared.monthly_debt_payments
        + _monthly_debt_service(session, loans),
        has_overdue_loan=any(loan.days_past_due > 0 for loan in loans),
        blocked=session.get(models.BlockListEntry, request.customer_id) is not None,
    )
    age = underwriting.age_on(facts.birth_date, today) if facts.birth_date else None
    scorecard = credit.reference_scorecard()
    scored = credit.score(scorecard, _scorecard_applicant(request, age))
    # What held the score down, in the scorecard's words: told whenever the grade matters.
    score_factors = [
        Reason(code=code, message=f"Credit score factor: {credit.reason_label(scorecard, code)}")
        for code in scored.reasons
    ]
    reasons = underwriting.policy_reasons(spec, applicant, today)
    flow_limit, flow_reasons = _flow_limit(session, spec, request.customer_id, today)
    reasons += flow_reasons
    min_score = spec.eligibility.credit_score_min
    if min_score is not None and scored.score < min_score:
        reasons += [underwriting.reason("credit_score_below_minimum"), *score_factors]
    if reasons:
        return _Decided(product_row, "declined", reasons, scored.score)
    graded = underwriting.grade_outcome(spec, scored.score, request.amount)
    amount, reasons = _capped_by_flow(graded, flow_limit)
    if graded.decision != "approved" or graded.reasons:
        reasons += score_factors
    if graded.decision == "declined" or graded.rate is None:
        return _Decided(product_row, "declined", reasons, scored.score, graded.grade)
    offer, schedule, _apr = _offer(
        spec, amount, request.term_months, method, graded.rate, today, settings
    )
    largest = max(i.payment for i in schedule.instalments[:-1] or schedule.instalments)
    dti = underwriting.debt_to_income_reason(
        applicant, _monthly(largest, spec.period_months), settings.lending_debt_to_income_cap
    )
    if offer.apr.above_cap:
        reasons.append(underwriting.reason("apr_above_cap", f"{offer.apr.nominal:.2%}"))
    if dti is not None:
        reasons.append(dti)
    decision = "declined" if offer.apr.above_cap or dti is not None else graded.decision
    return _Decided(product_row, decision, reasons, scored.score, graded.grade, offer)


def quote(
    session: Session, request: ApplicationCreate, now: datetime, settings: Settings
) -> Application:
    """The decision, price and schedule an application would get, without recording it."""
    decided = _decide(session, request, now, settings)
    return _application_out(_application_row(request, decided, now))


def _application_row(
    request: ApplicationCreate, decided: _Decided, now: datetime
) -> models.LoanApplication:
    decision = decided.decision
    offer = decided.offer
    status = {"approved": "offered", "declined": "declined", "referred": "referred"}[decision]
    return models.LoanApplication(
        id=new_id(),
        customer_id=request.customer_id,
        product_code=request.product_code,
        product_version=decided.product.version,
        request=request.model_dump(mode="json"),
        decision=decision,
        status=status,
        reasons=[r.model_dump() for r in decided.reasons],
        score=decided.score,
        grade=decided.grade,
        offer=offer.model_dump(mode="json") if offer is not None else None,
        offer_expires_at=now + OFFER_VALIDITY if status == "offered" else None,
        contract_id=None,
        created_at=now,
    )


def _application_out(row: models.LoanApplication) -> Application:
    return Application(
        id=row.id,
        customer_id=row.customer_id,
        product_code=row.product_code,
        decision=cast(Any, row.decision),
        status=cast(Any, row.status),
        reasons=[Reason.model_validate(r) for r in row.reasons],
        score=row.score,
        grade=cast(Any, row.grade),
        offer=Offer.model_validate(row.offer) if row.offer is not None else None,
        offer_expires_at=row.offer_expires_at,
        contract_id=row.contract_id,
        created_at=row.created_at,
    )


def apply(
    session: Session, request: ApplicationCreate, now: datetime, settings: Settings
) -> Application:
    """Record an application with its instant decision: approved with an offer, referred to a
    credit officer, or declined, with reason codes in each case."""
    row = _application_row(request, _decide(session, request, now, settings), now)
    session.add(row)
    session.flush()
    return _application_out(row)


def get_application(session: Session, application_id: uuid.UUID) -> Application:
    row = session.get(models.LoanApplication, application_id)
    if row is None:
        raise errors.ApplicationNotFound(f"no loan application {application_id}")
    return _application_out(row)


def decide_referral(
    session: Session, application_id: uuid.UUID, approve: bool, note: str, now: datetime
) -> Application:
    """A credit officer's decision on a referred application."""
    row = session.get(models.LoanApplication, application_id, with_for_update=True)
    if row is None:
        raise errors.ApplicationNotFound(f"no loan application {application_id}")
    if row.status != "referred":
        raise errors.OfferNotOpen(f"application {application_id} is {row.status}, not referred")
    note_reason = {"code": "credit_officer", "message": note}
    row.reasons = [*row.reasons, note_reason]
    if approve and row.offer is not None:
        row.decision, row.status = "approved", "offered"
        row.offer_expires_at = now + OFFER_VALIDITY
    else:
        row.decision, row.status = "declined", "declined"
    session.flush()
    return _application_out(row)


def score_stability(session: Session, since: datetime) -> ScoreStability:
    """PSI of the scores given to applications since `since` against the reference
    scorecard's training scores: the monitor that says when the model needs retraining."""
    scorecard = credit.reference_scorecard()
    scores = [
        score
        for score in session.execute(
            select(models.LoanApplication.score).where(
                models.LoanApplication.created_at >= since,
                models.LoanApplication.score.is_not(None),
            )
        ).scalars()
        if score is not None
    ]
    if not scores:
        return ScoreStability(
            model=f"{scorecard.name} {scorecard.version}",
            since=since,
            applications=0,
            psi=None,
            verdict=None,
            bands=[],
        )
    report = credit.score_psi(scorecard, scores)
    return ScoreStability(
        model=f"{scorecard.name} {scorecard.version}",
        since=since,
        applications=report.count,
        psi=round(report.psi, 6),
        verdict=report.verdict,
        bands=[
            ScoreBandOut(
                label=b.label,
                expected_share=b.expected_share,
                actual_share=b.actual_share,
                count=b.count,
            )
            for b in report.bins
        ],
    )


# -- contracts ------------------------------------------------------------------------------


def _contract_terms(
    row: models.LoanContract, instalments: Sequence[models.LoanInstalment]
) -> ContractTerms:
    terms = LoanTerms(
        principal=row.principal,
        annual_rate=row.annual_rate,
        periods=row.periods,
        method=RepaymentMethod(row.method),
        start=row.start_date,
        period_months=row.period_months,
        first_due=row.first_due_date,
        grace_periods=row.grace_periods,
        upfront_fee=row.upfront_fee,
        periodic_fee=row.periodic_fee,
    )
    schedule = tuple(
        Instalment(
            period=i.period,
            due_date=i.due_date,
            payment=i.principal + i.interest + i.fee,
            principal=i.principal,
            interest=i.interest,
            fee=i.fee,
            remaining=0,
        )
        for i in sorted(instalments, key=lambda i: i.period)
    )
    return ContractTerms(
        terms=terms,
        schedule=schedule,
        penalty_rate=row.penalty_rate,
        allocation_order=cast(tuple[Component, ...], tuple(row.allocation_order.split(","))),
    )


def _event(row: models.LoanEventRow) -> LoanEvent:
    return LoanEvent(
        id=row.id,
        seq=row.seq,
        kind=cast(Any, row.kind),
        effective_date=row.effective_date,
        amount=row.amount,
        mode=cast(Any, row.mode),
        reverses=row.reverses,
    )


@dataclass(slots=True)
class _Loan:
    row: models.LoanContract
    terms: ContractTerms
    events: list[models.LoanEventRow]

    def state(self, as_of: date) -> LoanState:
        return replay(self.terms, [_event(e) for e in self.events], as_of)

    @property
    def accounts(self) -> dict[str, uuid.UUID]:
        return {role: uuid.UUID(value) for role, value in self.row.accounts.items()}


def _load(session: Session, contract_ids: Sequence[uuid.UUID], *, lock: bool) -> list[_Loan]:
    """Contracts with their schedules and events, three statements for any number of them."""
    query = (
        select(models.LoanContract)
        .where(models.LoanContract.id.in_(list(contract_ids)))
        .order_by(models.LoanContract.id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    rows = session.execute(query).scalars().all()
    instalments: dict[uuid.UUID, list[models.LoanInstalment]] = defaultdict(list)
    for instalment in session.execute(
        select(models.LoanInstalment).where(
            models.LoanInstalment.contract_id.in_(list(contract_ids))
        )
    ).scalars():
        instalments[instalment.contract_id].append(instalment)
    events: dict[uuid.UUID, list[models.LoanEventRow]] = defaultdict(list)
    for event in session.execute(
        select(models.LoanEventRow)
        .where(models.LoanEventRow.contract_id.in_(list(contract_ids)))
        .order_by(models.LoanEventRow.seq)
    ).scalars():
        events[event.contract_id].append(event)
    return [_Loan(row, _contract_terms(row, instalments[row.id]), events[row.id]) for row in rows]


def _loan(session: Session, contract_id: uuid.UUID, *, lock: bool = False) -> _Loan:
    loans = _load(session, [contract_id], lock=lock)
    if not loans:
        raise errors.ContractNotFound(f"no loan contract {contract_id}")
    return loans[0]


def _partner_funding_account(
    session: Session, partner_id: uuid.UUID | None
) -> dict[str, uuid.UUID]:
    if partner_id is None:
        return {}
    partner = session.get(models.FundingPartner, partner_id)
    assert partner is not None
    return {"partner_funding": partner.funding_ledger_account_id}


def _all_accounts(session: Session, loan: _Loan) -> dict[str, uuid.UUID]:
    row = loan.row
    return {
        **loan.accounts,
        **{
            role: accounting.product_account_id(row.product_code, role, row.currency)
            for role in accounting.PRODUCT_ACCOUNTS
        },
        **_partner_funding_account(session, row.partner_id),
    }


def _funding(row: models.LoanContract) -> accounting.Funding:
    return accounting.Funding(
        principal=row.principal,
        partner_principal=row.partner_principal,
        partner_share=row.partner_share,
    )


def _refresh(session: Session, loan: _Loan, as_of: date, now: datetime) -> LoanState:
    """Replay the loan to `as_of`, post what the ledger lacks, and cache the state."""
    state = loan.state(as_of)
    row = loan.row
    row.posted = accounting.true_up(
        session,
        contract_id=row.id,
        currency=row.currency,
        accounts=_all_accounts(session, loan),
        posted=row.posted,
        wanted=accounting.targets(state.measures, _funding(row)),
        now=now,
    )
    _cache(row, state)
    session.flush()
    return state


def _cache(row: models.LoanContract, state: LoanState) -> None:
    row.status = state.status
    row.state_as_of = state.as_of
    row.outstanding_principal = state.outstanding_principal
    row.days_past_due = state.days_past_due
    row.bucket = state.bucket
    row.next_due_date = state.next_due_date


def _monthly_debt_service(session: Session, loans: Sequence[models.LoanContract]) -> int:
    """The largest instalment still to come on each of these loans, per month, summed."""
    if not loans:
        return 0
    i = models.LoanInstalment
    c = models.LoanContract
    rows = session.execute(
        select(c.period_months, func.max(i.principal + i.interest + i.fee))
        .join(c, c.id == i.contract_id)
        .where(i.contract_id.in_([loan.id for loan in loans]), i.due_date >= c.state_as_of)
        .group_by(c.id, c.period_months)
    ).all()
    return sum(_monthly(int(largest), period_months) for period_months, largest in rows)


def _instalment_status(instalment: Any, as_of: date) -> str:
    if instalment.settled:
        return "paid"
    if instalment.due_date < as_of:
        return "overdue"
    if instalment.due_date == as_of:
        return "due"
    return "future"


def _contract_out(session: Session, loan: _Loan, state: LoanState) -> Contract:
    row = loan.row
    partner_code = None
    if row.partner_id is not None:
        partner = session.get(models.FundingPartner, row.partner_id)
        partner_code = partner.code if partner is not None else None
    return Contract(
        id=row.id,
        application_id=row.application_id,
        customer_id=row.customer_id,
        product_code=row.product_code,
        principal=row.principal,
        currency=row.currency,
        annual_rate=row.annual_rate,
        penalty_rate=row.penalty_rate,
        method=RepaymentMethod(row.method),
        start_date=row.start_date,
        apr_nominal=row.apr_nominal,
        apr_effective=row.apr_effective,
        e_account_id=row.e_account_id,
        payee_e_account_id=row.payee_e_account_id,
        auto_debit=row.auto_debit,
        partner_code=partner_code,
        partner_share=row.partner_share,
        status=state.status,
        as_of=state.as_of,
        outstanding_principal=state.outstanding_principal,
        overdue_amount=state.overdue_amount,
        days_past_due=state.days_past_due,
        bucket=state.bucket,
        next_due_date=state.next_due_date,
        next_payment=state.next_payment,
        payable_now=state.payable_now,
        payoff_amount=state.payoff_amount,
        unallocated=state.unallocated,
        accounts=loan.accounts,
        instalments=[
            InstalmentOut(
                period=i.period,
                due_date=i.due_date,
                principal=i.principal,
                interest=i.interest,
                fee=i.fee,
                penalty=i.penalty,
                paid_principal=i.paid_principal,
                paid_interest=i.paid_interest,
                paid_fee=i.paid_fee,
                paid_penalty=i.paid_penalty,
                status=cast(Any, _instalment_status(i, state.as_of)),
            )
            for i in state.instalments
        ],
        created_at=row.created_at,
    )


def accept_offer(
    session: Session,
    application_id: uuid.UUID,
    spec: OfferAccept,
    now: datetime,
    settings: Settings,
) -> Contract:
    """Make the contract with its frozen schedule and pay the loan out, in one transaction."""
    application = session.get(models.LoanApplication, application_id, with_for_update=True)
    if application is None:
        raise errors.ApplicationNotFound(f"no loan application {application_id}")
    if application.status != "offered" or application.offer is None:
        raise errors.OfferNotOpen(f"application {application_id} is {application.status}")
    if application.offer_expires_at is not None and now >= application.offer_expires_at:
        raise errors.OfferExpired(f"the offer expired at {application.offer_expires_at}")
    product_row = _product_row(session, application.product_code)
    if product_row.version != application.product_version:
        raise errors.OfferStale(
            f"product {product_row.code} is at version {product_row.version}; the offer was"
            f" made on version {application.product_version}"
        )
    product = ProductSpec.model_validate(product_row.spec)
    payee = spec.payee_e_account_id
    # E-account locks before any ledger lock, as every path that moves their money takes them.
    customers.lock_e_accounts(session, [e for e in (spec.e_account_id, payee) if e is not None])
    borrower_account = customers.get_e_account(session, spec.e_account_id)
    if borrower_account.customer_id != application.customer_id:
        raise errors.EAccountNotOwned(f"e-account {spec.e_account_id} is not the borrower's")
    if borrower_account.status != "active" or borrower_account.account_class == "III":
        raise errors.EAccountCannotRepay(
            f"e-account {spec.e_account_id} is {borrower_account.status}, class"
            f" {borrower_account.account_class}"
        )
    if product.purpose_bound != (payee is not None):
        raise errors.PayeeNotAllowed(
            "a purpose-bound product pays a merchant's e-account: give payee_e_account_id"
            if product.purpose_bound
            else "only purpose-bound products pay a payee"
        )
    if payee is not None:
        owner = customers.get_customer(session, customers.e_account_owner(session, payee))
        if owner.type != "enterprise" or owner.id == application.customer_id:
            raise errors.PayeeNotAllowed("the payee must be a merchant's (enterprise) e-account")
    offer = Offer.model_validate(application.offer)
    today = business_date(now, settings.tz)
    offer, schedule, apr = _offer(
        product, offer.amount, offer.term_months, offer.method, offer.annual_rate, today, settings
    )
    if offer.apr.above_cap:
        raise errors.InvalidLoanTerms(f"the APR {offer.apr.nominal:.2%} is above the cap")
    partner: models.FundingPartner | None = None
    partner_principal = 0
    if product.joint is not None:
        partner = _partner_row(session, product.joint.partner_code, lock=True)
        partner_principal = int(offer.amount * product.joint.partner_share)
        outstanding = _partner_outstanding(session, partner.id)
        if outstanding + partner_principal > partner.outstanding_cap:
            raise errors.PartnerCapExceeded(
                f"funding partner {partner.code} has {outstanding} fen out of a cap of"
                f" {partner.outstanding_cap}; this loan needs {partner_principal} more",
                outstanding=outstanding,
                cap=partner.outstanding_cap,
                requested=partner_principal,
            )
    contract_id = new_id()
    accounts = accounting.open_contract_accounts(
        session, contract_id, product.currency, partner is not None, now
    )
    # The product's income accounts were made when the product was published.
    fee_income = accounting.product_account_id(product.code, "fee_income", product.currency)
    row = models.LoanContract(
        id=contract_id,
        application_id=application.id,
        customer_id=application.customer_id,
        product_code=product.code,
        currency=product.currency,
        principal=offer.amount,
        annual_rate=offer.annual_rate,
        penalty_rate=offer.annual_rate * settings.lending_penalty_rate_multiplier,
        method=str(offer.method),
        periods=schedule.terms.periods,
        period_months=product.period_months,
        grace_periods=product.grace_periods,
        start_date=today,
        first_due_date=add_months(today, product.period_months),
        upfront_fee=offer.upfront_fee,
        periodic_fee=offer.periodic_fee,
        allocation_order=settings.lending_allocation_order,
        apr_nominal=apr.nominal.quantize(Decimal("0.00000001")),
        apr_effective=apr.effective.quantize(Decimal("0.00000001")),
        e_account_id=spec.e_account_id,
        payee_e_account_id=payee,
        auto_debit=spec.auto_debit,
        partner_id=partner.id if partner is not None else None,
        partner_share=product.joint.partner_share if product.joint is not None else None,
        partner_principal=partner_principal,
        accounts={role: str(account_id) for role, account_id in accounts.items()},
        posted={},
        disbursement_transfer_id=None,
        status="active",
        state_as_of=today,
        outstanding_principal=offer.amount,
        days_past_due=0,
        bucket="current",
        next_due_date=schedule.instalments[0].due_date,
        created_at=now,
    )
    session.add(row)
    session.add_all(
        models.LoanInstalment(
            contract_id=contract_id,
            period=i.period,
            due_date=i.due_date,
            principal=i.principal,
            interest=i.interest,
            fee=i.fee,
        )
        for i in schedule.instalments
    )
    session.flush()
    if partner is not None and partner_principal:
        ledger.transfer(
            session,
            ledger.transfer_command(
                TransferCreate(
                    debit_account_id=partner.funding_ledger_account_id,
                    credit_account_id=accounts[accounting.PARTNER_PAYABLE],
                    amount=partner_principal,
                    currency=product.currency,
                    code="loan_partner_funding",
                    metadata={"loan_contract_id": str(contract_id)},
                )
            ),
            now,
        )
    if offer.upfront_fee:
        ledger.transfer(
            session,
            ledger.transfer_command(
                TransferCreate(
                    debit_account_id=accounts["principal"],
                    credit_account_id=fee_income,
                    amount=offer.upfront_fee,
                    currency=product.currency,
                    code="loan_upfront_fee",
                    metadata={"loan_contract_id": str(contract_id)},
                )
            ),
            now,
        )
    movement = customers.loan_movement(
        session,
        payee or spec.e_account_id,
        "loan_disbursement",
        accounts["principal"],
        schedule.net_disbursed,
        now,
        settings,
    )
    row.disbursement_transfer_id = movement.ledger_transfer_id
    application.status = "accepted"
    application.contract_id = contract_id
    session.flush()
    loan = _loan(session, contract_id)
    return _contract_out(session, loan, loan.state(today))


def get_contract(
    session: Session, contract_id: uuid.UUID, now: datetime, settings: Settings
) -> Contract:
    """The contract as of today: replayed on read, so it is never stale between batches."""
    loan = _loan(session, contract_id)
    return _contract_out(session, loan, loan.state(business_date(now, settings.tz)))


def list_contracts(
    session: Session, customer_id: uuid.UUID | None, cursor: str | None, limit: int
) -> tuple[list[ContractSummary], str | None]:
    c = models.LoanContract
    query = select(c).order_by(c.id).limit(limit + 1)
    if customer_id is not None:
        query = query.where(c.customer_id == customer_id)
    if cursor:
        try:
            query = query.where(c.id > uuid.UUID(cursor))
        except ValueError:
            raise InvalidCursor() from None
    rows = session.execute(query).scalars().all()
    page = [ContractSummary.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return page, (str(page[-1].id) if len(rows) > limit else None)


def list_events(session: Session, contract_id: uuid.UUID) -> list[LoanEventOut]:
    loan = _loan(session, contract_id)
    return [LoanEventOut.model_validate(e, from_attributes=True) for e in loan.events]


# -- servicing ------------------------------------------------------------------------------


def _open_loan(session: Session, contract_id: uuid.UUID) -> _Loan:
    loan = _loan(session, contract_id, lock=True)
    if loan.row.status in ("paid_off", "written_off"):
        raise errors.LoanClosed(f"loan {contract_id} is {loan.row.status}")
    return loan


def _record(session: Session, loan: _Loan, event: models.LoanEventRow) -> models.LoanEventRow:
    """Add an event to the loan (flushed, so it has its sequence number)."""
    session.add(event)
    session.flush()
    loan.events.append(event)
    return event


def _event_row(
    loan: _Loan,
    now: datetime,
    *,
    kind: str,
    effective: date,
    amount: int = 0,
    mode: str | None = None,
    reverses: uuid.UUID | None = None,
    source: str = "customer",
    transfer_id: uuid.UUID | None = None,
) -> models.LoanEventRow:
    return models.LoanEventRow(
        id=new_id(),
        contract_id=loan.row.id,
        kind=kind,
        effective_date=effective,
        amount=amount,
        mode=mode,
        reverses=reverses,
        source=source,
        e_account_id=loan.row.e_account_id if amount else None,
        ledger_transfer_id=transfer_id,
        created_at=now,
    )


def _collect(
    session: Session, loan: _Loan, amount: int, now: datetime, settings: Settings
) -> uuid.UUID:
    """Money from the borrower's e-account into the loan's clearing account."""
    movement = customers.loan_movement(
        session,
        loan.row.e_account_id,
        "loan_repayment",
        loan.accounts["clearing"],
        amount,
        now,
        settings,
    )
    return movement.ledger_transfer_id


def repay(
    session: Session,
    contract_id: uuid.UUID,
    spec: RepaymentCreate,
    now: datetime,
    settings: Settings,
    *,
    source: str = "customer",
) -> Contract:
    """A repayment from the borrower's e-account, taking effect today or (backdated) on an
    earlier date; it pays what is due then, and at most the next instalment besides."""
    loan = _open_loan(session, contract_id)
    today = business_date(now, settings.tz)
    effective = spec.effective_date or today
    if not loan.row.start_date <= effective <= today:
        raise errors.InvalidEffectiveDate(
            f"the effective date must be between {loan.row.start_date} and {today}"
        )
    payable = loan.state(effective).payable_now
    if spec.amount > payable:
        raise errors.RepaymentExceedsDue(
            f"at most {payable} fen is payable on {effective}; prepay to pay more",
            payable=payable,
        )
    if effective < today:
        # Payments recorded since may already cover what was due then: the backdated one must
        # not leave money unallocated once everything is replayed.
        tentative = LoanEvent(
            id=new_id(),
            seq=2**62,
            kind="repayment",
            effective_date=effective,
            amount=spec.amount,
        )
        events = [*(_event(e) for e in loan.events), tentative]
        if replay(loan.terms, events, today).unallocated > loan.state(today).unallocated:
            raise errors.RepaymentExceedsDue(
                f"with the payments recorded since, {spec.amount} fen on {effective} would pay"
                " more than was due",
                payable=payable,
            )
    transfer_id = _collect(session, loan, spec.amount, now, settings)
    _record(
        session,
        loan,
        _event_row(
            loan,
            now,
            kind="repayment",
            effective=effective,
            amount=spec.amount,
            source=source,
            transfer_id=transfer_id,
        ),
    )
    return _contract_out(session, loan, _refresh(session, loan, today, now))


def prepay(
    session: Session,
    contract_id: uuid.UUID,
    spec: PrepaymentCreate,
    now: datetime,
    settings: Settings,
) -> Contract:
    """Early repayment, today: in full (the payoff amount), or in part with a shorter term or
    smaller instalments. It first pays what is due and the interest accrued to date."""
    loan = _open_loan(session, contract_id)
    today = business_date(now, settings.tz)
    state = loan.state(today)
    amount = state.payoff_amount if spec.mode == "full" else cast(int, spec.amount)
    if amount > state.payoff_amount:
        raise errors.RepaymentExceedsDue(
            f"the payoff amount today is {state.payoff_amount} fen", payable=state.payoff_amount
        )
    accrued = (
        state.payoff_amount
        - state.overdue_amount
        - sum(i.outstanding("principal") for i in state.instalments if i.due_date > today)
    )
    least = state.overdue_amount + accrued + 1
    if spec.mode != "full" and amount < least:
        raise errors.PrepaymentTooSmall(
            f"a partial prepayment today must be at least {least} fen (what is due, the"
            " interest accrued to date, and some principal)",
            minimum=least,
        )
    mode = "full" if amount == state.payoff_amount else spec.mode
    transfer_id = _collect(session, loan, amount, now, settings)
    _record(
        session,
        loan,
        _event_row(
            loan,
            now,
            kind="prepayment",
            effective=today,
            amount=amount,
            mode=mode,
            transfer_id=transfer_id,
        ),
    )
    return _contract_out(session, loan, _refresh(session, loan, today, now))


def reverse(
    session: Session, contract_id: uuid.UUID, event_id: uuid.UUID, now: datetime, settings: Settings
) -> Contract:
    """Undo a repayment (e.g. a bounced payment recorded in error): the loan is replayed as if
    it never happened and the money goes back to the e-account it came from."""
    loan = _loan(session, contract_id, lock=True)
    event = next((e for e in loan.events if e.id == event_id), None)
    if event is None:
        raise errors.EventNotFound(f"loan {contract_id} has no event {event_id}")
    reversed_ids = {e.reverses for e in loan.events if e.kind == "reversal"}
    if event.kind not in ("repayment", "prepayment") or event.id in reversed_ids:
        raise errors.EventNotReversible(f"event {event_id} is a {event.kind} or reversed already")
    if loan.row.status == "written_off":
        raise errors.LoanClosed(f"loan {contract_id} is written off")
    refund_to = event.e_account_id or loan.row.e_account_id
    customers.lock_e_accounts(session, [refund_to])  # before the true-up's ledger locks
    today = business_date(now, settings.tz)
    _record(
        session, loan, _event_row(loan, now, kind="reversal", effective=today, reverses=event.id)
    )
    _check_partner_can_give_back(session, loan, today)
    state = _refresh(session, loan, today, now)
    movement = customers.loan_movement(
        session,
        refund_to,
        "loan_reversal",
        loan.accounts["clearing"],
        event.amount,
        now,
        settings,
    )
    loan.events[-1].ledger_transfer_id = movement.ledger_transfer_id
    session.flush()
    return _contract_out(session, loan, state)


_PARTNER_RECEIPTS = ("partner_principal_returned", "partner_interest_share")


def _check_partner_can_give_back(session: Session, loan: _Loan, today: date) -> None:
    """A reversal on a joint loan takes back what the partner was paid from it; refuse it in
    lending's words when the partner's funding account no longer holds that much."""
    if loan.row.partner_id is None:
        return
    wanted = accounting.targets(loan.state(today).measures, _funding(loan.row))
    give_back = sum(
        max(loan.row.posted.get(measure, 0) - wanted[measure], 0) for measure in _PARTNER_RECEIPTS
    )
    if not give_back:
        return
    partner = session.get(models.FundingPartner, loan.row.partner_id)
    assert partner is not None
    funds = _partner_out(session, partner).available_funds
    if funds < give_back:
        raise errors.PartnerFundsInsufficient(
            f"funding partner {partner.code} would give back {give_back} fen of this loan's"
            f" repayments and holds {funds}",
            give_back=give_back,
            available=funds,
        )


def write_off(
    session: Session, contract_id: uuid.UUID, now: datetime, settings: Settings
) -> Contract:
    """Charge off a loan more than 90 days past due; a joint loan's partner bears its share."""
    loan = _open_loan(session, contract_id)
    today = business_date(now, settings.tz)
    if loan.state(today).days_past_due <= WRITE_OFF_AFTER_DAYS:
        raise errors.WriteOffNotAllowed(
            f"loan {contract_id} is not {WRITE_OFF_AFTER_DAYS}+ days past due"
        )
    _record(
        session, loan, _event_row(loan, now, kind="write_off", effective=today, source="operator")
    )
    return _contract_out(session, loan, _refresh(session, loan, today, now))


# -- contribution ---------------------------------------------------------------------------


def _interest_collected_by(loan: _Loan, day: date) -> int:
    """Interest and penalty interest the loan had collected by the end of `day`."""
    if day < loan.row.start_date:
        return 0
    measures = loan.state(day).measures
    return measures.interest_collected + measures.penalty_collected


def interest_paid(session: Session, customer_id: uuid.UUID, start: date, end: date) -> int:
    """The loan interest (penalty interest included) the customer paid the bank on its CNY
    loans by repayments and prepayments with business (effective) dates in [start, end], in
    fen: what acquiring counts as the customer's contribution to the bank.

    Read from the replay, not from the repayments' amounts: a repayment pays penalty, fees,
    interest and principal in the contract's allocation order, and money paid ahead pays
    interest on the day it falls due. So this is the growth of each loan's collected interest
    over the window. A reversed repayment counts on no day (the replay leaves it out); on a
    joint loan it is everything the borrower paid, the partner's share of it included."""
    if end < start:
        return 0
    c = models.LoanContract
    ids = list(
        session.execute(
            select(c.id)
            .where(c.customer_id == customer_id, c.currency == "CNY", c.start_date <= end)
            .order_by(c.id)
        ).scalars()
    )
    before = start - timedelta(days=1)
    total = 0
    for offset in range(0, len(ids), 500):
        for loan in _load(session, ids[offset : offset + 500], lock=False):
            total += _interest_collected_by(loan, end) - _interest_collected_by(loan, before)
    return total


# -- end of day -----------------------------------------------------------------------------


def _auto_debit(
    session: Session,
    loans: Sequence[_Loan],
    states: dict[uuid.UUID, LoanState],
    today: date,
    now: datetime,
    settings: Settings,
    result: ChunkResult,
) -> None:
    """Take what is due from the e-accounts of the loans that auto-debit, as much as each
    holds, in one batch; the loans' states are replayed again with their new repayments."""
    due = [loan for loan in loans if loan.row.auto_debit and states[loan.row.id].overdue_amount > 0]
    if not due:
        return
    movements = customers.collect_loan_repayments(
        session,
        [
            customers.LoanDebit(
                e_account_id=loan.row.e_account_id,
                loan_ledger_account_id=loan.accounts["clearing"],
                amount=states[loan.row.id].overdue_amount,
            )
            for loan in due
        ],
        now,
        settings,
    )
    taken = [(loan, m) for loan, m in zip(due, movements, strict=True) if m is not None]
    events = [
        _event_row(
            loan,
            now,
            kind="repayment",
            effective=today,
            amount=movement.amount,
            source="auto_debit",
            transfer_id=movement.ledger_transfer_id,
        )
        for loan, movement in taken
    ]
    session.add_all(events)
    session.flush()
    for (loan, movement), event in zip(taken, events, strict=True):
        loan.events.append(event)
        states[loan.row.id] = loan.state(today)
        result.auto_debits += 1
        result.auto_debited += movement.amount


def open_contract_ids(session: Session, *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    c = models.LoanContract
    query = select(c.id).where(c.status.in_(("active", "overdue"))).order_by(c.id).limit(limit)
    if after is not None:
        query = query.where(c.id > after)
    return list(session.execute(query).scalars())


@dataclass(slots=True)
class ChunkResult:
    contracts: int = 0
    transfers: int = 0
    auto_debits: int = 0
    auto_debited: int = 0
    skipped: int = 0

    def add(self, other: ChunkResult) -> None:
        self.contracts += other.contracts
        self.transfers += other.transfers
        self.auto_debits += other.auto_debits
        self.auto_debited += other.auto_debited
        self.skipped += other.skipped


def end_of_day_chunk(
    session: Session,
    *,
    contract_ids: Sequence[uuid.UUID],
    today: date,
    now: datetime,
    settings: Settings,
) -> ChunkResult:
    """Accrue, auto-debit and mark overdue a slice of the book, in one transaction. The ledger
    true-ups of the whole slice go in one ledger batch."""
    result = ChunkResult()
    loans = []
    for loan in _load(session, contract_ids, lock=True):
        # A loan already brought past this date (a repayment recorded since) stays as it is:
        # replaying it to an earlier date would take back what it knows.
        if loan.row.state_as_of > today or any(e.effective_date > today for e in loan.events):
            result.skipped += 1
        else:
            loans.append(loan)
    states = {loan.row.id: loan.state(today) for loan in loans}
    _auto_debit(session, loans, states, today, now, settings, result)
    commands: list[Any] = []
    for loan in loans:
        state = states[loan.row.id]
        wanted = accounting.targets(state.measures, _funding(loan.row))
        new_commands = accounting.true_up_commands(
            contract_id=loan.row.id,
            currency=loan.row.currency,
            accounts=_all_accounts(session, loan),
            posted=loan.row.posted,
            wanted=wanted,
        )
        commands.extend(new_commands)
        loan.row.posted = {**loan.row.posted, **wanted}
        _cache(loan.row, state)
        result.contracts += 1
    accounting.post(session, commands, now)
    result.transfers = len(commands)
    session.flush()
    return result


def record_end_of_day(
    session: Session, today: date, started: datetime, finished: datetime, total: ChunkResult
) -> int:
    """Note the run; returns which run of this business date it was."""
    row = session.get(models.EndOfDayRun, today, with_for_update=True)
    if row is None:
        row = models.EndOfDayRun(
            business_date=today,
            runs=0,
            contracts=0,
            transfers=0,
            auto_debits=0,
            started_at=started,
            finished_at=finished,
        )
        session.add(row)
    row.runs += 1
    row.contracts = total.contracts
    row.transfers = total.transfers
    row.auto_debits = total.auto_debits
    row.started_at, row.finished_at = started, finished
    session.flush()
    return row.runs


def bucket_counts(session: Session) -> dict[str, int]:
    c = models.LoanContract
    rows = session.execute(
        select(c.bucket, func.count()).where(c.status.in_(("active", "overdue"))).group_by(c.bucket)
    ).all()
    return {bucket: int(count) for bucket, count in rows}


def end_of_day(
    db_work: Callable[[Callable[[Session], Any]], Any],
    today: date | None,
    clock_now: Callable[[], datetime],
    settings: Settings,
    *,
    chunk_size: int = 500,
    on_progress: Callable[[int], None] | None = None,
) -> EndOfDayReport:
    """The end-of-day batch over every open loan, a chunk per transaction (`db_work` runs a
    function in a unit of work). Idempotent: a second run for the same date with nothing new
    posts nothing, takes nothing and changes no state.

    `today` defaults to the current business date; a date that has not begun, or one before
    the last run's, is refused. A loan whose replay or ledger true-up is refused does not stop
    the batch: its chunk is redone loan by loan and the loan is reported as failed."""
    started = clock_now()
    today = today or business_date(started, settings.tz)
    if today > business_date(started, settings.tz):
        raise errors.InvalidEffectiveDate(
            f"{today} has not begun yet; the batch runs for past days"
        )
    last = db_work(lambda s: s.execute(select(func.max(models.EndOfDayRun.business_date))).scalar())
    if last is not None and today < last:
        raise errors.EndOfDayOutOfOrder(f"end of day already ran for {last}, after {today}")
    total = ChunkResult()
    failed: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    while True:
        ids: list[uuid.UUID] = db_work(partial(open_contract_ids, after=after, limit=chunk_size))
        if not ids:
            break
        for chunk_ids in _chunks_or_single_loans(db_work, ids, today, clock_now, settings, failed):
            total.add(chunk_ids)
        after = ids[-1]
        if on_progress is not None:
            on_progress(len(ids))
    finished = clock_now()
    run = db_work(lambda s: record_end_of_day(s, today, started, finished, total))
    buckets = db_work(bucket_counts)
    return EndOfDayReport(
        business_date=today,
        run=run,
        contracts=total.contracts,
        transfers=total.transfers,
        auto_debits=total.auto_debits,
        auto_debited_amount=total.auto_debited,
        overdue=buckets,
        skipped=total.skipped,
        failed=failed,
        seconds=round((finished - started).total_seconds(), 3),
    )


def _chunks_or_single_loans(
    db_work: Callable[[Callable[[Session], Any]], Any],
    ids: Sequence[uuid.UUID],
    today: date,
    clock_now: Callable[[], datetime],
    settings: Settings,
    failed: list[uuid.UUID],
) -> Iterable[ChunkResult]:
    """The chunk in one transaction; if anything in it is refused, each loan on its own."""

    def run(contract_ids: Sequence[uuid.UUID]) -> ChunkResult:
        return cast(
            ChunkResult,
            db_work(
                partial(
                    end_of_day_chunk,
                    contract_ids=contract_ids,
                    today=today,
                    now=clock_now(),
                    settings=settings,
                )
            ),
        )

    try:
        yield run(ids)
        return
    except DomainError:
        log.warning("lending.eod.chunk_refused", contracts=len(ids), business_date=str(today))
    for contract_id in ids:
        try:
            yield run([contract_id])
        except DomainError as refused:
            log.error("lending.eod.loan_failed", contract_id=str(contract_id), code=refused.code)
            failed.append(contract_id)


def count_open_contracts(session: Session) -> int:
    c = models.LoanContract
    return int(
        session.execute(
            select(func.count()).select_from(c).where(c.status.in_(("active", "overdue")))
        ).scalar_one()
    )


# -- trial balance --------------------------------------------------------------------------


def _expected_balances(measures: Mapping[str, int]) -> dict[str, int]:
    """Each account's net balance (debits − credits) implied by a contract's measures."""
    balances: dict[str, int] = defaultdict(int)
    for measure, value in measures.items():
        debit, credit = accounting.MEASURE_LEGS[measure]
        balances[debit] += value
        balances[credit] -= value
    return balances


def trial_balance(session: Session) -> TrialBalance:
    """Per product, every lending ledger account's balance against what the contracts, each
    replayed to its last state date, say it should be."""
    ledger_side: dict[tuple[str, str], int] = defaultdict(int)
    contract_side: dict[tuple[str, str], int] = defaultdict(int)
    currencies: dict[str, str] = {}
    ids = list(
        session.execute(select(models.LoanContract.id).order_by(models.LoanContract.id)).scalars()
    )
    for start in range(0, len(ids), 1000):
        loans = _load(session, ids[start : start + 1000], lock=False)
        account_ids = [a for loan in loans for a in loan.accounts.values()]
        balances = {
            a.id: a.debits_posted - a.credits_posted
            for a in ledger.get_accounts(session, account_ids)
        }
        for loan in loans:
            product = loan.row.product_code
            state = loan.state(loan.row.state_as_of)
            expected = _expected_balances(accounting.targets(state.measures, _funding(loan.row)))
            # Lent: the principal (the upfront fee in it); the partner funded its part.
            expected["principal"] += loan.row.principal
            expected[accounting.PARTNER_PAYABLE] -= loan.row.partner_principal
            expected["clearing"] -= state.measures.money_in
            expected["fee_income"] -= loan.row.upfront_fee
            for role, account_id in loan.accounts.items():
                ledger_side[(product, role)] += balances[account_id]
                contract_side[(product, role)] += expected.get(role, 0)
            for role in accounting.PRODUCT_ACCOUNTS:
                contract_side[(product, role)] += expected.get(role, 0)
            currencies[product] = loan.row.currency
    # The product's income and loss accounts hold nothing but what its contracts put there.
    for product, currency in currencies.items():
        roles = accounting.PRODUCT_ACCOUNTS
        ids = [accounting.product_account_id(product, role, currency) for role in roles]
        for role, account in zip(roles, ledger.get_accounts(session, ids), strict=True):
            ledger_side[(product, role)] = account.debits_posted - account.credits_posted
    lines = [
        TrialBalanceLine(
            product_code=product,
            account=role,
            ledger_balance=ledger_side[(product, role)],
            contracts_balance=contract_side[(product, role)],
            difference=ledger_side[(product, role)] - contract_side[(product, role)],
        )
        for product, role in sorted(ledger_side)
    ]
    return TrialBalance(lines=lines, balanced=all(line.difference == 0 for line in lines))
