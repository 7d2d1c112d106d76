"""Request and response models of the gateway's operator endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateLimitSetting(Strict):
    product: str = Field(examples=["payments"], description="A product, or `platform`.")
    per_second: int = Field(ge=1, le=100_000, description="Sustained calls per second.")
    burst: int = Field(ge=1, le=1_000_000, description="Calls an idle app may send at once.")


class RateLimitsChange(Strict):
    """The app's overrides, replacing the ones it had; products left out use the defaults."""

    limits: list[RateLimitSetting] = Field(max_length=20)

    @field_validator("limits")
    @classmethod
    def _one_per_product(cls, limits: list[RateLimitSetting]) -> list[RateLimitSetting]:
        products = [limit.product for limit in limits]
        if len(products) != len(set(products)):
            raise ValueError("name each product once")
        return limits


class RateLimit(BaseModel):
    product: str
    per_second: int
    burst: int
    source: Literal["default", "override"]


class AppRateLimits(BaseModel):
    app_id: uuid.UUID
    limits: list[RateLimit]


class ApiCallQuery(BaseModel):
    """Filters of an audit search; every one is optional and they combine with AND."""

    app_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    consent_id: uuid.UUID | None = None
    interaction_id: uuid.UUID | None = None
    status: int | None = None
    path: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class ApiCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    at: datetime
    app_id: uuid.UUID | None
    partner_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    consent_id: uuid.UUID | None
    channel: str | None
    method: str
    path: str = Field(description="The route's path template, or the raw path if none matched.")
    status: int
    problem_code: str | None
    latency_us: int
    interaction_id: uuid.UUID
    client_ip: str | None

    @field_validator("client_ip", mode="before")
    @classmethod
    def _ip_text(cls, value: object) -> object:
        return None if value is None else str(value)  # psycopg loads INET as ipaddress


class ApiCallPage(BaseModel):
    data: list[ApiCallOut]
    next_cursor: str | None
    next: str | None = None
