"""Request and response models of webhook endpoints and deliveries, and the event catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Every event type the bank publishes (core.outbox.emit callers use these names).
EVENT_TYPES: tuple[str, ...] = (
    "consent.authorised",
    "consent.rejected",
    "consent.revoked",
    "consent.expired",
    "e_account.opened",
    "e_account.top_up.completed",
    "e_account.withdrawal.completed",
    "payment.completed",
)
ALL_EVENTS = "*"

EndpointStatus = Literal["active", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed", "dead"]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] = (
        Field(
            description="https URL (http only to localhost / 127.0.0.1 for sandbox apps)",
            examples=["https://partner.example/openbank/webhooks"],
        )
    )
    event_types: list[Annotated[str, StringConstraints(max_length=100)]] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES) + 1,
        description='Event types to receive, or ["*"] for all of them',
        examples=[["consent.revoked", "e_account.top_up.completed"]],
    )


class Endpoint(BaseModel):
    id: uuid.UUID
    app_id: uuid.UUID
    url: str
    event_types: list[str]
    status: EndpointStatus
    created_at: datetime
    disabled_at: datetime | None


class Delivery(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="Sent as X-Openbank-Event-Id: de-duplicate on it")
    event_type: str
    app_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    status: DeliveryStatus
    attempts: int = Field(description="Attempts made since creation or the last replay")
    next_attempt_at: datetime | None = Field(description="When it is tried next, if it is")
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    data: list[Delivery]
    next_cursor: str | None
    next: str | None = None
