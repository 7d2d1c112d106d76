"""Tables of the customer sign-in: sandbox credentials and browser sessions.

Customers are referenced by id only (another context's table); apps by foreign key."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, SmallInteger, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base


class CustomerCredential(Base):
    """A sandbox customer's sign-in: login is the customer's mobile phone (E.164), the
    password an argon2id hash; five wrong passwords lock the login for a while."""

    __tablename__ = "customer_credentials"

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    login: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    failed_attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class AuthorizationSession(Base):
    """A browser's way through sign-in and consent (flow `authorize`, cookie on /oauth2/)
    or through "my consents" (flow `self_service`, cookie on /me/).

    The cookie holds a random 256-bit token; only its SHA-256 is stored. `step` says which
    form the session may post next, so no step can be skipped."""

    __tablename__ = "authorization_sessions"
    __table_args__ = (
        CheckConstraint("flow IN ('authorize', 'self_service')", name="known_flow"),
        CheckConstraint(
            "step IN ('sign_in', 'otp', 'consent', 'signed_in', 'done')", name="known_step"
        ),
        Index("ix_authorization_sessions_expires_at", "expires_at"),
    )

    token_sha256: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    flow: Mapped[str] = mapped_column(Text, nullable=False)
    step: Mapped[str] = mapped_column(Text, nullable=False)
    csrf_token: Mapped[str] = mapped_column(Text, nullable=False)
    # The authorization request (flow `authorize` only), and what the pages show of it.
    authorization_request_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    app_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id")
    )
    app_name: Mapped[str | None] = mapped_column(Text)
    partner_name: Mapped[str | None] = mapped_column(Text)
    sandbox: Mapped[bool] = mapped_column(nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Once the password is right.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    otp_challenge_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # Sandbox only (there is no phone to send it to): shown again if the page is re-shown.
    sandbox_code: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
