"""A merchant's transaction flow, as lending sees it: the daily aggregates acquiring keeps as
payments happen (`merchant_flow_daily`, one row per merchant, day and clearing shard; a
merchant's day is the sum of its shards), and the payment-flow loan limit credit computes
from them (`credit.service.payment_flow_limit`; docs/payment-flow-limit.md).

Reads only; runs in the caller's transaction. Lending calls `payment_flow_limit` through
`payments.service`, so this module must not import lending.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from openbank.credit import service as credit
from openbank.payments import errors, models

# The credit assessment looks at most 6 full months back; a year of days covers it.
LIMIT_LOOKBACK_DAYS = 366
MAX_DAYS = 731


class FlowDay(BaseModel):
    """One business day of a merchant, all shards together."""

    model_config = ConfigDict(from_attributes=True)

    business_date: date
    payment_count: int
    payment_volume: int = Field(description="Captured, minor units (fen)")
    refund_count: int
    refund_volume: int = Field(description="Refunded, minor units (fen)")


class FlowMonth(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    month: date = Field(description="The month's first day")
    payment_count: int
    payment_volume: int
    refund_count: int
    refund_volume: int
    net_volume: int
    active_days: int


class FlowCutOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(examples=["refund_rate"])
    factor: Decimal = Field(description="What the limit was multiplied by (0: no limit)")
    detail: str


class FlowSummaryOut(BaseModel):
    """What the limit's rules look at, over the assessment months."""

    model_config = ConfigDict(from_attributes=True)

    months: int = Field(description="Assessment months: full months before as_of, up to 6")
    payment_count: int
    payment_volume: int
    refund_count: int
    refund_volume: int
    net_volume: int
    refund_rate: Decimal | None = Field(description="Refund volume / payment volume")
    active_days: int
    active_days_per_month: Decimal | None
    growth: Decimal | None = Field(
        description="Net volume of the last 3 months against the 3 before, as a fraction"
    )
    volatility: Decimal | None = Field(
        description="Coefficient of variation of the monthly net volumes"
    )
    first_payment_date: date | None
    tenure_months: int | None


class FlowLimitOut(BaseModel):
    """The payment-flow loan limit (支付流水贷) and how it was reached."""

    model_config = ConfigDict(from_attributes=True)

    limit: int = Field(description="Minor units (fen), whole yuan")
    stable_monthly_net_volume: int
    multiple: int
    base_limit: int = Field(description="multiple x stable monthly net volume, before cuts")
    cuts: list[FlowCutOut]
    months: list[FlowMonth]


class MerchantFlow(BaseModel):
    merchant_id: uuid.UUID
    as_of: date
    days: int
    daily: list[FlowDay] = Field(description="The last `days` days up to as_of, with flow")
    summary: FlowSummaryOut
    limit: FlowLimitOut


def _daily(
    session: Session, merchant_ids: Sequence[uuid.UUID], start: date, end: date
) -> list[credit.DailyFlow]:
    """The merchants' flow from `start` to `end`, each day summed over shards and merchants."""
    f = models.MerchantFlowDaily
    rows = session.execute(
        select(
            f.business_date,
            func.sum(f.payment_count),
            func.sum(f.payment_volume),
            func.sum(f.refund_count),
            func.sum(f.refund_volume),
        )
        .where(f.merchant_id.in_(list(merchant_ids)), f.business_date.between(start, end))
        .group_by(f.business_date)
        .order_by(f.business_date)
    ).all()
    return [
        credit.DailyFlow(day, int(count), int(volume), int(refunds), int(refunded))
        for day, count, volume, refunds, refunded in rows
    ]


def _first_payment_date(session: Session, merchant_ids: Sequence[uuid.UUID]) -> date | None:
    f = models.MerchantFlowDaily
    first: date | None = session.execute(
        select(func.min(f.business_date)).where(
            f.merchant_id.in_(list(merchant_ids)), f.payment_count > 0
        )
    ).scalar_one()
    return first


def merchant_flow(
    session: Session, merchant_id: uuid.UUID, as_of: date, days: int = 365
) -> MerchantFlow:
    """The merchant's daily flow for the `days` days up to `as_of` (days without payments or
    refunds are left out), the summary the limit's rules look at, and its payment-flow limit
    on `as_of`."""
    if not 1 <= days <= MAX_DAYS:
        raise errors.PaymentsError(f"days must be between 1 and {MAX_DAYS}")
    if session.get(models.Merchant, merchant_id) is None:
        raise errors.MerchantNotFound(f"no merchant {merchant_id}")
    start = as_of - timedelta(days=days - 1)
    ids = [merchant_id]
    daily = _daily(session, ids, min(start, as_of - timedelta(days=LIMIT_LOOKBACK_DAYS)), as_of)
    limit = credit.payment_flow_limit(daily, _first_payment_date(session, ids), as_of)
    return MerchantFlow(
        merchant_id=merchant_id,
        as_of=as_of,
        days=days,
        daily=[FlowDay.model_validate(day) for day in daily if day.business_date >= start],
        summary=FlowSummaryOut.model_validate(limit.summary),
        limit=FlowLimitOut(
            limit=limit.limit,
            stable_monthly_net_volume=limit.stable_monthly_net_volume,
            multiple=limit.multiple,
            base_limit=limit.base_limit,
            cuts=[FlowCutOut.model_validate(cut) for cut in limit.cuts],
            months=[FlowMonth.model_validate(month) for month in limit.months],
        ),
    )


def payment_flow_limit(
    session: Session, customer_id: uuid.UUID, as_of: date
) -> credit.FlowLimit | None:
    """The payment-flow loan limit of a customer on `as_of`, from the flow of every merchant
    it runs at this bank (added up day by day); None when it runs none."""
    merchant_ids = list(
        session.execute(
            select(models.Merchant.id).where(models.Merchant.customer_id == customer_id)
        ).scalars()
    )
    if not merchant_ids:
        return None
    daily = _daily(session, merchant_ids, as_of - timedelta(days=LIMIT_LOOKBACK_DAYS), as_of)
    return credit.payment_flow_limit(daily, _first_payment_date(session, merchant_ids), as_of)
