"""Partners, their apps and product subscriptions, operators, and one-time codes.

Sub-areas (oauth, consents, gateway, webhooks, signed) keep their tables in their own
`models.py`; they reference apps by id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    Text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base


class Partner(Base):
    """A partner platform (e-commerce site, ride-hailing app, payroll SaaS...)."""

    __tablename__ = "partners"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'offboarded')", name="known_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    legal_name: Mapped[str] = mapped_column(Text, nullable=False)
    unified_social_credit_code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    contact_name: Mapped[str] = mapped_column(Text, nullable=False)
    contact_email: Mapped[str] = mapped_column(Text, nullable=False)
    contact_phone: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class App(Base):
    """A partner's OAuth client (and signed-gateway app): `client_id` is the app id."""

    __tablename__ = "partner_apps"
    __table_args__ = (
        CheckConstraint("environment IN ('sandbox', 'production')", name="known_environment"),
        CheckConstraint("status IN ('active', 'disabled')", name="known_status"),
        CheckConstraint("jwks IS NOT NULL OR jwks_uri IS NOT NULL", name="has_keys"),
        Index("ix_partner_apps_partner_id", "partner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partners.id"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    environment: Mapped[str] = mapped_column(Text, nullable=False)
    redirect_uris: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    # The app's public keys (private_key_jwt, DPoP is per key so not registered here).
    jwks: Mapped[dict[str, object] | None] = mapped_column(JSONB)
    jwks_uri: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Subscription(Base):
    """An app's subscription to a product; it decides which scopes the app may ask for."""

    __tablename__ = "partner_app_subscriptions"

    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), primary_key=True
    )
    product: Mapped[str] = mapped_column(Text, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Operator(Base):
    """A bank employee who runs the platform; signs in with a password (argon2id hash)."""

    __tablename__ = "operators"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="known_status"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    username: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class OperatorSession(Base):
    """A signed-in operator's bearer token, stored as its SHA-256 only."""

    __tablename__ = "operator_sessions"

    token_sha256: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("operators.id"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OneTimeCode(Base):
    """A one-time code sent to a phone (sign-in, remote account opening); hash only."""

    __tablename__ = "one_time_codes"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    purpose: Mapped[str] = mapped_column(Text, nullable=False)
    subject: Mapped[str] = mapped_column(Text, nullable=False)
    code_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    attempts: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    consumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BankSigningKey(Base):
    """The bank's own signing keys (ES256): webhooks, published at /.well-known/jwks.json.

    Kept in the database so every API process signs with the same key. In production the
    private half belongs in an HSM; this table is the embedded default."""

    __tablename__ = "bank_signing_keys"

    kid: Mapped[str] = mapped_column(Text, primary_key=True)
    alg: Mapped[str] = mapped_column(Text, nullable=False)
    private_jwk: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
