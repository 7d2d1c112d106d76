"""The transactional outbox: `emit` in the same unit of work as the change it announces."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openbank.core.ids import new_id
from openbank.core.models import OutboxEvent


def emit(
    session: Session,
    event_type: str,
    subject: str,
    payload: dict[str, Any],
    now: datetime,
    app_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Record an event (e.g. `consent.revoked` about `consents/<id>`); it is published only if
    the surrounding transaction commits. Returns the event id partners de-duplicate on."""
    event_id = new_id()
    session.add(
        OutboxEvent(
            id=event_id,
            event_type=event_type,
            app_id=app_id,
            subject=subject,
            payload=payload,
            occurred_at=now,
            dispatched_at=None,
        )
    )
    return event_id
