"""Operator endpoints of lending. Thin: parse, authorize, call one service function."""

from __future__ import annotations

import uuid
from datetime import timedelta
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    IdempotencyKey,
    Limit,
    Operator,
    SettingsDep,
    idempotent_post,
    next_link,
)
from openbank.lending import service
from openbank.lending.schemas import (
    AmountCreate,
    Application,
    ApplicationCreate,
    BlockListCreate,
    Contract,
    ContractPage,
    EndOfDayReport,
    EndOfDayRequest,
    FundingPartner,
    FundingPartnerCreate,
    ImportReport,
    LoanEventOut,
    OfferAccept,
    PrepaymentCreate,
    Product,
    ProductList,
    ProductSpec,
    ProductType,
    ReferralDecision,
    RepaymentCreate,
    ScoreStability,
    TrialBalance,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
PRODUCTS: list[str | Enum] = ["loan products"]
APPLICATIONS: list[str | Enum] = ["loan applications"]
LOANS: list[str | Enum] = ["loans"]


# -- products -------------------------------------------------------------------------------


@router.post("/v1/loan-products", response_model=Product, tags=PRODUCTS)
def upsert_product(
    body: ProductSpec, _: Operator, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Product:
    """Create a product, or publish a new version of it (applications keep their version)."""
    product, _outcome = unit_of_work(
        db, lambda s: service.upsert_product(s, body, clock.now(), settings)
    )
    return product


@router.post("/v1/loan-products/import", response_model=ImportReport, tags=PRODUCTS)
def import_products(
    body: Annotated[list[dict[str, Any]], Body(max_length=1000)],
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> ImportReport:
    """Many products at once: all valid and imported, or none, with every problem listed."""
    return unit_of_work(db, lambda s: service.import_products(s, body, clock.now(), settings))


@router.get("/v1/loan-products", response_model=ProductList, tags=PRODUCTS)
def list_products(
    _: Operator,
    db: DatabaseDep,
    type: Annotated[ProductType | None, Query()] = None,
    include_retired: bool = False,
) -> ProductList:
    return ProductList(
        data=unit_of_work(
            db,
            lambda s: service.list_products(s, product_type=type, include_retired=include_retired),
        )
    )


@router.get("/v1/loan-products/{code}", response_model=Product, tags=PRODUCTS)
def get_product(code: str, _: Operator, db: DatabaseDep) -> Product:
    return unit_of_work(db, lambda s: service.get_product(s, code))


@router.post("/v1/loan-products/{code}/retire", response_model=Product, tags=PRODUCTS)
def retire_product(code: str, _: Operator, db: DatabaseDep, clock: ClockDep) -> Product:
    return unit_of_work(db, lambda s: service.retire_product(s, code, clock.now()))


# -- funding partners and the block list ----------------------------------------------------


@router.post(
    "/v1/loan-funding-partners", status_code=201, response_model=FundingPartner, tags=PRODUCTS
)
def create_funding_partner(
    body: FundingPartnerCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """An institution that co-funds joint loans, with a cap on what it may have out."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.create_funding_partner(s, body, clock.now()),
    )


@router.get("/v1/loan-funding-partners/{code}", response_model=FundingPartner, tags=PRODUCTS)
def get_funding_partner(code: str, _: Operator, db: DatabaseDep) -> FundingPartner:
    return unit_of_work(db, lambda s: service.get_funding_partner(s, code))


@router.post("/v1/loan-funding-partners/{code}/funds", response_model=FundingPartner, tags=PRODUCTS)
def fund_partner(
    code: str,
    body: AmountCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Money the partner sent to fund its share of joint loans."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        200,
        lambda s: service.fund_partner(s, code, body.amount, clock.now()),
    )


@router.post("/v1/loan-block-list", status_code=204, tags=PRODUCTS)
def block_customer(
    body: BlockListCreate, _: Operator, db: DatabaseDep, clock: ClockDep
) -> Response:
    unit_of_work(db, lambda s: service.block_customer(s, body, clock.now()))
    return Response(status_code=204)


@router.delete("/v1/loan-block-list/{customer_id}", status_code=204, tags=PRODUCTS)
def unblock_customer(customer_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Response:
    unit_of_work(db, lambda s: service.unblock_customer(s, customer_id))
    return Response(status_code=204)


# -- quotes and applications ----------------------------------------------------------------


@router.post("/v1/loan-quotes", response_model=Application, tags=APPLICATIONS)
def quote(
    body: ApplicationCreate, _: Operator, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Application:
    """The decision, price, schedule and APR an application would get; nothing is recorded."""
    return unit_of_work(db, lambda s: service.quote(s, body, clock.now(), settings))


@router.post(
    "/v1/loan-applications", status_code=201, response_model=Application, tags=APPLICATIONS
)
def apply(
    body: ApplicationCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """An application with its instant decision (approved with an offer, referred, or
    declined), always with reason codes."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.apply(s, body, clock.now(), settings),
    )


@router.get("/v1/loan-applications/{application_id}", response_model=Application, tags=APPLICATIONS)
def get_application(application_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Application:
    return unit_of_work(db, lambda s: service.get_application(s, application_id))


@router.post(
    "/v1/loan-applications/{application_id}/referral-decision",
    response_model=Application,
    tags=APPLICATIONS,
)
def decide_referral(
    application_id: uuid.UUID,
    body: ReferralDecision,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
) -> Application:
    """A credit officer approves (the offer opens) or declines a referred application."""
    return unit_of_work(
        db,
        lambda s: service.decide_referral(s, application_id, body.approve, body.note, clock.now()),
    )


@router.post(
    "/v1/loan-applications/{application_id}/accept",
    status_code=201,
    response_model=Contract,
    tags=APPLICATIONS,
)
def accept_offer(
    application_id: uuid.UUID,
    body: OfferAccept,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Accept the offer: the contract is made and the loan paid out, in one transaction."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.accept_offer(s, application_id, body, clock.now(), settings),
    )


# -- loans ----------------------------------------------------------------------------------


@router.get("/v1/loans", response_model=ContractPage, tags=LOANS)
def list_loans(
    request: Request,
    _: Operator,
    db: DatabaseDep,
    customer_id: uuid.UUID | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> ContractPage:
    page, next_cursor = unit_of_work(
        db, lambda s: service.list_contracts(s, customer_id, cursor, limit)
    )
    return ContractPage(
        data=page, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


@router.get("/v1/loans/{contract_id}", response_model=Contract, tags=LOANS)
def get_loan(
    contract_id: uuid.UUID, _: Operator, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Contract:
    """The contract with its schedule, what is paid, due and overdue, as of today."""
    return unit_of_work(db, lambda s: service.get_contract(s, contract_id, clock.now(), settings))


@router.get("/v1/loans/{contract_id}/events", response_model=list[LoanEventOut], tags=LOANS)
def list_loan_events(contract_id: uuid.UUID, _: Operator, db: DatabaseDep) -> list[LoanEventOut]:
    return unit_of_work(db, lambda s: service.list_events(s, contract_id))


@router.post("/v1/loans/{contract_id}/repayments", response_model=Contract, tags=LOANS)
def repay(
    contract_id: uuid.UUID,
    body: RepaymentCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A repayment from the borrower's e-account; `effective_date` backdates it."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        200,
        lambda s: service.repay(s, contract_id, body, clock.now(), settings),
    )


@router.post("/v1/loans/{contract_id}/prepayments", response_model=Contract, tags=LOANS)
def prepay(
    contract_id: uuid.UUID,
    body: PrepaymentCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Early repayment: in full, or in part for a shorter term or a smaller instalment."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        200,
        lambda s: service.prepay(s, contract_id, body, clock.now(), settings),
    )


@router.post(
    "/v1/loans/{contract_id}/events/{event_id}/reversal", response_model=Contract, tags=LOANS
)
def reverse(
    contract_id: uuid.UUID,
    event_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Undo a repayment: the loan is replayed without it and the money goes back."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        None,
        200,
        lambda s: service.reverse(s, contract_id, event_id, clock.now(), settings),
    )


@router.post("/v1/loans/{contract_id}/write-off", response_model=Contract, tags=LOANS)
def write_off(
    contract_id: uuid.UUID, _: Operator, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Contract:
    """Charge off a loan more than 90 days past due."""
    return unit_of_work(db, lambda s: service.write_off(s, contract_id, clock.now(), settings))


# -- batch and reports ----------------------------------------------------------------------


@router.post("/v1/lending/end-of-day", response_model=EndOfDayReport, tags=LOANS)
def end_of_day(
    body: EndOfDayRequest, _: Operator, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> EndOfDayReport:
    """Accrual, auto-debit and overdue marking for a business date (default: today)."""
    return service.end_of_day(
        lambda work: unit_of_work(db, work), body.business_date, clock.now, settings
    )


@router.get("/v1/lending/score-stability", response_model=ScoreStability, tags=APPLICATIONS)
def score_stability(
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    days: Annotated[int, Query(ge=1, le=3660, description="Applications of the last N days")] = 30,
) -> ScoreStability:
    """PSI of recent application scores against the scorecard's training population."""
    since = clock.now() - timedelta(days=days)
    return unit_of_work(db, lambda s: service.score_stability(s, since))


@router.get("/v1/lending/trial-balance", response_model=TrialBalance, tags=LOANS)
def trial_balance(_: Operator, db: DatabaseDep) -> TrialBalance:
    """Per product, each lending ledger account against what the contracts say."""
    return unit_of_work(db, service.trial_balance)
