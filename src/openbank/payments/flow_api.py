"""Operator endpoint of a merchant's transaction flow and its payment-flow loan limit. Thin:
parse, authorize, call the service."""

from __future__ import annotations

import uuid
from datetime import date
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Query

from openbank.core.clock import business_date
from openbank.core.database import unit_of_work
from openbank.core.http import PROBLEM_RESPONSES, ClockDep, DatabaseDep, Operator, SettingsDep
from openbank.payments import flow
from openbank.payments.flow import MerchantFlow

router = APIRouter(responses=PROBLEM_RESPONSES)
TAGS: list[str | Enum] = ["payments"]


@router.get("/v1/merchants/{merchant_id}/flow", response_model=MerchantFlow, tags=TAGS)
def merchant_flow(
    merchant_id: uuid.UUID,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    as_of: Annotated[date | None, Query(description="Business date; default today")] = None,
    days: Annotated[int, Query(ge=1, le=flow.MAX_DAYS, description="Days of daily rows")] = 365,
) -> MerchantFlow:
    """The merchant's daily payment flow, the figures lending looks at (volume, count,
    refunds, active days, growth, volatility, tenure) and its payment-flow loan limit with
    every cut applied (docs/payment-flow-limit.md)."""
    day = as_of or business_date(clock.now(), settings.tz)
    return unit_of_work(db, lambda s: flow.merchant_flow(s, merchant_id, day, days))
