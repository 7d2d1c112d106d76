"""Tables of the authorization server.

Everything a grant needs lives in PostgreSQL, not in process memory: two `openbank serve`
processes behind a load balancer must see the same pushed requests, codes, tokens and used
proof ids (that is also why the server is built here rather than on idpy-oidc, whose session
and grant store is in-process). Secrets (request_uri handles, codes, tokens) are stored as
their SHA-256 only; used `jti`s as a digest of their namespace and value, until they expire.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base


class AuthorizationRequest(Base):
    """A pushed authorization request (RFC 9126), from PAR until the customer decides."""

    __tablename__ = "oauth_authorization_requests"
    __table_args__ = (
        CheckConstraint("outcome IN ('approved', 'denied')", name="known_outcome"),
        Index("ix_oauth_authorization_requests_app_id", "app_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    request_uri_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, unique=True)
    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), nullable=False
    )
    # The issuer the client pushed the request to: goes back as `iss` (RFC 9207).
    issuer: Mapped[str] = mapped_column(Text, nullable=False)
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    state: Mapped[str | None] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(Text, nullable=False)
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # RFC 9449 §10: a DPoP proof at PAR binds the code to that key.
    dpop_jkt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class AuthorizationCode(Base):
    """A single-use authorization code, redeemable within `oauth_code_seconds` of issue."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, unique=True)
    request_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oauth_authorization_requests.id"), nullable=False
    )
    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), nullable=False
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    redirect_uri: Mapped[str] = mapped_column(Text, nullable=False)
    code_challenge: Mapped[str] = mapped_column(Text, nullable=False)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    dpop_jkt: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    redeemed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Grant(Base):
    """A token family: what one code (or one client_credentials request) granted. Its refresh
    tokens rotate inside it; revoking it revokes every token it holds."""

    __tablename__ = "oauth_grants"
    __table_args__ = (
        CheckConstraint("kind IN ('authorization_code', 'client_credentials')", name="known_kind"),
        Index("ix_oauth_grants_code_id", "code_id"),
        Index("ix_oauth_grants_app_id", "app_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    code_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oauth_authorization_codes.id")
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    jkt: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Token(Base):
    """An opaque access or refresh token (SHA-256 only), DPoP-bound to `jkt`.

    Customer, consent and scopes are copied from the grant so the resource check reads one
    row; revoking a grant also stamps `revoked_at` on every token of it."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (
        CheckConstraint("kind IN ('access', 'refresh')", name="known_kind"),
        Index("ix_oauth_tokens_grant_id", "grant_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    token_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    grant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("oauth_grants.id"), nullable=False
    )
    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), nullable=False
    )
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    consent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    jkt: Mapped[str] = mapped_column(Text, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Refresh tokens only: when it was exchanged for a new pair (a second use is theft).
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsedJti(Base):
    """A `jti` already seen (client assertions, DPoP proofs), kept until the JWT carrying it
    could no longer be accepted anyway; shared by every API process."""

    __tablename__ = "oauth_used_jtis"
    __table_args__ = (Index("ix_oauth_used_jtis_expires_at", "expires_at"),)

    # SHA-256 of "<namespace>\0<jti>": fixed size whatever the client sends.
    digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
