"""Tables of the signed gateway: each app's keys, and the nonces it has used."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base


class GatewayCredentials(Base):
    """An app's signed-gateway keys.

    The partner's public keys (RSA2 and/or SM2) check its requests; the bank's own key pairs,
    one RSA2 and one SM2 per app, sign the responses (the partner downloads the public halves).
    The symmetric `encryption_key` is a secret shared with the partner to encrypt biz_content:
    both sides must be able to use it, so it is necessarily stored recoverably (not hashed),
    like the bank's private keys here; in production these columns belong in an HSM or a
    KMS-wrapped store, and this table is the embedded default."""

    __tablename__ = "signed_gateway_credentials"
    __table_args__ = (
        CheckConstraint("encryption IN ('none', 'AES', 'SM4')", name="known_encryption"),
        CheckConstraint(
            "(encryption = 'none') = (encryption_key IS NULL)", name="key_iff_encryption"
        ),
    )

    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), primary_key=True
    )
    rsa_public_key: Mapped[str | None] = mapped_column(Text)  # base64 DER SubjectPublicKeyInfo
    sm2_public_key: Mapped[str | None] = mapped_column(Text)  # 128 hex digits x||y
    encryption: Mapped[str] = mapped_column(Text, nullable=False)
    encryption_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    bank_rsa_private_key: Mapped[str] = mapped_column(Text, nullable=False)  # PKCS#8 PEM
    bank_rsa_public_key: Mapped[str] = mapped_column(Text, nullable=False)
    bank_sm2_private_key: Mapped[str] = mapped_column(Text, nullable=False)  # 64 hex digits
    bank_sm2_public_key: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class GatewayNonce(Base):
    """A nonce an app has used: one row per (app, nonce), so of two concurrent replays only
    one insert succeeds. Rows older than twice the allowed clock skew are purged (a request
    that old is refused as stale before its nonce is looked at)."""

    __tablename__ = "signed_gateway_nonces"
    __table_args__ = (Index("ix_signed_gateway_nonces_seen_at", "seen_at"),)

    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(Text, primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
