"""Operator endpoints of settlement, reconciliation and revenue sharing. Thin: parse,
authorize, call the settlement service."""

from __future__ import annotations

import uuid
from datetime import date
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from openbank.core.clock import business_date
from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    Limit,
    Operator,
    OperatorIdentity,
    SettingsDep,
    next_link,
    operator_with,
)
from openbank.payments import settlement
from openbank.payments.settlement import (
    PartnerStatement,
    ReconciliationReport,
    RevenueShareAgreement,
    RevenueShareAgreementSet,
    SettlementDetail,
    SettlementPage,
    SettlementRun,
    SettlementRunRequest,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
SETTLEMENTS: list[str | Enum] = ["settlements"]
SHARING: list[str | Enum] = ["revenue sharing"]
# Running the batch and directing partners' money need the operations role (admins always).
Operations = Annotated[OperatorIdentity, operator_with("operations")]


@router.post("/v1/payments/settlements/run", response_model=SettlementRun, tags=SETTLEMENTS)
def run_settlement(
    _: Operations,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    body: Annotated[SettlementRunRequest | None, Body()] = None,
) -> SettlementRun:
    """Run the daily settlement batch now (for today's business date unless `settled_on`
    says otherwise). Running it again for a date changes nothing; a merchant whose
    settlement is refused is listed in `failed` and waits for the next batch."""
    return settlement.run_settlement(
        lambda work: unit_of_work(db, work),
        clock.now(),
        settings,
        settled_on=body.settled_on if body else None,
    )


@router.get("/v1/payments/settlements", response_model=SettlementPage, tags=SETTLEMENTS)
def list_settlements(
    request: Request,
    _: Operator,
    db: DatabaseDep,
    merchant_id: uuid.UUID | None = None,
    settled_on: date | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> SettlementPage:
    page, next_cursor = unit_of_work(
        db, lambda s: settlement.list_settlements(s, merchant_id, settled_on, cursor, limit)
    )
    return SettlementPage(
        data=page, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


@router.get(
    "/v1/payments/settlements/{settlement_id}", response_model=SettlementDetail, tags=SETTLEMENTS
)
def get_settlement(settlement_id: uuid.UUID, _: Operator, db: DatabaseDep) -> SettlementDetail:
    """The settlement with every capture and refund, each fee explained, and the partners'
    revenue shares."""
    return unit_of_work(db, lambda s: settlement.get_settlement(s, settlement_id))


@router.get(
    "/v1/payments/settlements/{settlement_id}/file.csv",
    response_class=Response,
    responses={200: {"description": "The settlement file", "content": {"text/csv": {}}}},
    tags=SETTLEMENTS,
)
def settlement_file(settlement_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Response:
    """The settlement file (CSV, amounts in fen): one line per capture and refund with its
    fee and the figures that explain it, and a totals line."""
    detail = unit_of_work(db, lambda s: settlement.get_settlement(s, settlement_id))
    name = f"settlement-{detail.merchant_id}-{detail.settled_on.isoformat()}.csv"
    return Response(
        settlement.settlement_csv(detail),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/v1/payments/reconciliation", response_model=ReconciliationReport, tags=SETTLEMENTS)
def reconciliation(
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    settled_on: Annotated[
        date | None, Query(description="The batch date; default: today in bank time")
    ] = None,
) -> ReconciliationReport:
    """Payments, refunds, fees, settlements and revenue shares tied to the ledger, with every
    break listed (`ok` is false when there is one)."""
    day = settled_on or business_date(clock.now(), settings.tz)
    return settlement.reconciliation_report(db, day)


@router.put(
    "/v1/partners/{partner_id}/revenue-share", response_model=RevenueShareAgreement, tags=SHARING
)
def set_revenue_share(
    partner_id: uuid.UUID,
    body: RevenueShareAgreementSet,
    _: Operations,
    db: DatabaseDep,
    clock: ClockDep,
) -> RevenueShareAgreement:
    """Where the partner's share of fee income is paid from now on: its active class I
    e-account at this bank (the share itself is each fee plan's `revenue_share_ppm`)."""
    return unit_of_work(
        db, lambda s: settlement.set_revenue_share_agreement(s, partner_id, body, clock.now())
    )


@router.get(
    "/v1/partners/{partner_id}/revenue-share", response_model=RevenueShareAgreement, tags=SHARING
)
def get_revenue_share(partner_id: uuid.UUID, _: Operator, db: DatabaseDep) -> RevenueShareAgreement:
    return unit_of_work(db, lambda s: settlement.get_revenue_share_agreement(s, partner_id))


@router.get(
    "/v1/partners/{partner_id}/revenue-share/statement",
    response_model=PartnerStatement,
    tags=SHARING,
)
def partner_statement(
    partner_id: uuid.UUID,
    start: Annotated[date, Query(alias="from", description="First batch date")],
    end: Annotated[date, Query(alias="to", description="Last batch date")],
    _: Operator,
    db: DatabaseDep,
) -> PartnerStatement:
    """The partner's shares of settlements in the period, paid or unpaid, with totals."""
    return unit_of_work(db, lambda s: settlement.partner_statement(s, partner_id, start, end))
