"""Rate limits per app and product, shared by every API process through PostgreSQL.

The algorithm is GCRA (the generic cell rate algorithm, a token bucket kept as a single
timestamp): each (app, product) has a theoretical arrival time `tat`. A call at `now` is
admitted when `max(tat, now) + T <= now + burst × T` (T = 1 s / per_second), and then moves
`tat` to `max(tat, now) + T`. An idle app may send `burst` calls at once, then `per_second`.

Every API process updates the same row with ONE statement (INSERT ... ON CONFLICT DO UPDATE
... RETURNING) that also reads the operator's override, in autocommit: the row lock lasts
for that statement only, never for the business work, and a business call that later fails
still counts. The statement runs on a small engine of its own (autocommit, no pre-ping), so a
call costs exactly one round trip to PostgreSQL.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from openbank.core.database import Database
from openbank.core.settings import Settings


@dataclass(frozen=True, slots=True)
class Limit:
    per_second: int
    burst: int

    @property
    def interval(self) -> timedelta:
        """T: the time one call uses up (rounded to microseconds, as PostgreSQL does)."""
        return timedelta(seconds=1) / self.per_second


@dataclass(frozen=True, slots=True)
class Decision:
    admitted: bool
    tat: datetime
    limit: Limit

    def retry_after(self, now: datetime) -> int:
        return retry_after_seconds(self.tat, now, self.limit)


def admit(tat: datetime | None, now: datetime, limit: Limit) -> Decision:
    """The GCRA step, in Python: what the SQL statement below does to one row."""
    interval = limit.interval
    candidate = max(tat, now) + interval if tat is not None else now + interval
    if candidate <= now + limit.burst * interval:
        return Decision(True, candidate, limit)
    assert tat is not None  # an empty bucket always admits (burst >= 1)
    return Decision(False, tat, limit)


def retry_after_seconds(tat: datetime, now: datetime, limit: Limit) -> int:
    """Whole seconds until a refused call would be admitted (at least 1: Retry-After is an
    integer, and 0 would invite an immediate retry that is refused again)."""
    wait = tat - now - (limit.burst - 1) * limit.interval
    return max(1, math.ceil(wait.total_seconds()))


# The override (if any) is read in the same statement; `per_second` and `burst` of the
# inserted row carry the limit in effect into the DO UPDATE branch as EXCLUDED values.
# In the SET list every expression sees the row as it was before the update.
STATEMENT = text(
    """
    INSERT INTO gateway_rate_buckets AS b (app_id, product, tat, per_second, burst, admitted)
    SELECT :app_id, :product,
           CAST(:now AS timestamptz) + interval '1 second' / l.per_second,
           l.per_second, l.burst, true
    FROM (
        SELECT coalesce(o.per_second, :per_second) AS per_second,
               coalesce(o.burst, :burst) AS burst
        FROM (VALUES (1)) AS one (x)
        LEFT JOIN gateway_rate_limits o ON o.app_id = :app_id AND o.product = :product
    ) AS l
    ON CONFLICT (app_id, product) DO UPDATE SET
        admitted = greatest(b.tat, CAST(:now AS timestamptz))
                   + interval '1 second' / EXCLUDED.per_second
                   <= CAST(:now AS timestamptz)
                   + EXCLUDED.burst * (interval '1 second' / EXCLUDED.per_second),
        tat = CASE
            WHEN greatest(b.tat, CAST(:now AS timestamptz))
                 + interval '1 second' / EXCLUDED.per_second
                 <= CAST(:now AS timestamptz)
                 + EXCLUDED.burst * (interval '1 second' / EXCLUDED.per_second)
            THEN greatest(b.tat, CAST(:now AS timestamptz))
                 + interval '1 second' / EXCLUDED.per_second
            ELSE b.tat
        END,
        per_second = EXCLUDED.per_second,
        burst = EXCLUDED.burst
    RETURNING admitted, tat, per_second, burst
    """
)

LIMITER_POOL_SIZE = 4  # one short statement per call: a few connections serve many threads


def default_limit(settings: Settings) -> Limit:
    return Limit(settings.gateway_rate_limit_per_second, settings.gateway_rate_limit_burst)


def count_call(
    db: Database,
    app_id: uuid.UUID,
    product: str,
    now: datetime,
    default: Limit,
    connection: Connection | None = None,
) -> Decision:
    """Count one call against (app_id, product) and say whether it is admitted; `default`
    applies unless an operator set an override for the app and product. `connection`, when
    given, must be in autocommit (the caller's own, to save a pool checkout)."""
    params = {
        "app_id": app_id,
        "product": product,
        "now": now,
        "per_second": default.per_second,
        "burst": default.burst,
    }
    if connection is not None:
        row = connection.execute(STATEMENT, params).one()
    else:
        for attempt in (1, 2):
            try:
                with db.side_engine("ratelimit", LIMITER_POOL_SIZE).connect() as own:
                    row = own.execute(STATEMENT, params).one()
                break
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
    return Decision(bool(row.admitted), row.tat, Limit(int(row.per_second), int(row.burst)))
