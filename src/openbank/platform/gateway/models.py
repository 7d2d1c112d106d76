"""Tables of the gateway: rate-limit overrides and buckets, and the API audit log.

Idempotency records of partner POSTs live in the shared kernel's `idempotency_records`
(scope `app:<app_id>`), so partner and operator keys follow one mechanism.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import INET, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base


class RateLimitOverride(Base):
    """An operator's limit for one app and product, in place of the settings' defaults."""

    __tablename__ = "gateway_rate_limits"
    __table_args__ = (
        CheckConstraint("per_second > 0", name="positive_rate"),
        CheckConstraint("burst > 0", name="positive_burst"),
    )

    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), primary_key=True
    )
    product: Mapped[str] = mapped_column(Text, primary_key=True)
    per_second: Mapped[int] = mapped_column(Integer, nullable=False)
    burst: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_by: Mapped[str] = mapped_column(Text, nullable=False)


class RateBucket(Base):
    """The GCRA state of one (app, product): its theoretical arrival time.

    UNLOGGED: every partner call updates a row here, and skipping the WAL keeps that cheap.
    A crash of PostgreSQL empties the table, which only forgives the bursts in flight; a
    rate limit is not a record anyone needs back. (Nor do replicas need it.)
    """

    __tablename__ = "gateway_rate_buckets"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    app_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product: Mapped[str] = mapped_column(Text, primary_key=True)
    tat: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The limit the last call was measured against and whether it was admitted: the one
    # statement that updates the row returns them (RETURNING sees only the new row).
    per_second: Mapped[int] = mapped_column(Integer, nullable=False)
    burst: Mapped[int] = mapped_column(Integer, nullable=False)
    admitted: Mapped[bool] = mapped_column(nullable=False)


class ApiCall(Base):
    """One partner-facing call (/v1/open/..., /v1/gateway, /oauth2/...), as the gateway saw
    it. Written behind the request in batches (see `audit.AuditWriter`)."""

    __tablename__ = "gateway_api_calls"
    __table_args__ = (
        # Newest first, optionally from/until a time: the unfiltered search.
        Index("ix_gateway_api_calls_at", text("at DESC"), text("id DESC")),
        Index("ix_gateway_api_calls_app", "app_id", text("at DESC"), text("id DESC")),
        Index(
            "ix_gateway_api_calls_customer",
            "customer_id",
            text("at DESC"),
            text("id DESC"),
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
        Index(
            "ix_gateway_api_calls_consent",
            "consent_id",
            text("at DESC"),
            text("id DESC"),
            postgresql_where=text("consent_id IS NOT NULL"),
        ),
        Index("ix_gateway_api_calls_interaction", "interaction_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    channel: Mapped[str | None] = mapped_column(Text)
    method: Mapped[str] = mapped_column(Text, nullable=False)
    # The route's path template (/v1/open/accounts/{e_account_id}); the raw path, cut to
    # 200 characters, for a call that matched no route.
    path: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    problem_code: Mapped[str | None] = mapped_column(Text)
    latency_us: Mapped[int] = mapped_column(Integer, nullable=False)
    interaction_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    client_ip: Mapped[str | None] = mapped_column(INET)
