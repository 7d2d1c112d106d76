"""Flow history for tests of the payment-flow limit: `merchant_flow_daily` rows written
directly (months of payments cannot be made through the service in a test), spread over
clearing shards as the service spreads them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from sqlalchemy.dialects.postgresql import insert

from openbank.core.database import Database, unit_of_work
from openbank.payments import models


def full_months_before(as_of: date, count: int) -> list[date]:
    """The first days of the `count` calendar months before `as_of`'s month, oldest first."""
    months: list[date] = []
    month = as_of.replace(day=1)
    for _ in range(count):
        month = (month - timedelta(days=1)).replace(day=1)
        months.append(month)
    return months[::-1]


def day_rows(
    merchant_id: uuid.UUID,
    day: date,
    *,
    count: int,
    volume: int,
    refund_count: int = 0,
    refunded: int = 0,
    shards: int = 2,
) -> list[dict[str, object]]:
    """One day's flow, split over `shards` shard rows (the remainders on shard 0)."""
    rows = []
    for shard in range(shards):
        first = shard == 0
        rows.append(
            {
                "merchant_id": merchant_id,
                "business_date": day,
                "shard": shard,
                "payment_count": count // shards + (count % shards if first else 0),
                "payment_volume": volume // shards + (volume % shards if first else 0),
                "refund_count": refund_count // shards + (refund_count % shards if first else 0),
                "refund_volume": refunded // shards + (refunded % shards if first else 0),
            }
        )
    return rows


def monthly_rows(
    merchant_id: uuid.UUID,
    months: Sequence[date],
    volume: int,
    *,
    refunded: int = 0,
    active_days: int = 20,
) -> list[dict[str, object]]:
    """Each month: `volume` over its first `active_days` days (10 payments a day), and
    `refunded` on its first day."""
    rows = []
    for month in months:
        per_day = volume // active_days
        for number in range(1, active_days + 1):
            extra = volume - per_day * active_days if number == 1 else 0
            rows += day_rows(
                merchant_id,
                month.replace(day=number),
                count=10,
                volume=per_day + extra,
                refund_count=2 if number == 1 and refunded else 0,
                refunded=refunded if number == 1 else 0,
            )
    return rows


def put_flow(db: Database, rows: Iterable[dict[str, object]]) -> None:
    """Add the rows to the merchant's counters (as the service's upsert does)."""
    table = models.MerchantFlowDaily.__table__
    values = list(rows)
    if not values:
        return
    statement = insert(models.MerchantFlowDaily).values(values)
    counters = ("payment_count", "payment_volume", "refund_count", "refund_volume")
    unit_of_work(
        db,
        lambda s: s.execute(
            statement.on_conflict_do_update(
                index_elements=["merchant_id", "business_date", "shard"],
                set_={name: table.c[name] + statement.excluded[name] for name in counters},
            )
        ),
    )
