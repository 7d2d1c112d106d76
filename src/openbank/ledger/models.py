"""Ledger tables. Balances live only on `ledger_accounts`; entries are the immutable journal."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(
            "debits_posted >= 0 AND credits_posted >= 0 AND debits_pending >= 0"
            " AND credits_pending >= 0",
            name="balances_not_negative",
        ),
        CheckConstraint(
            "NOT (debits_must_not_exceed_credits AND credits_must_not_exceed_debits)",
            name="one_balance_flag",
        ),
        # The database enforces the account flags too, so no code path can break them.
        CheckConstraint(
            "NOT debits_must_not_exceed_credits"
            " OR debits_posted + debits_pending <= credits_posted",
            name="debits_within_credits",
        ),
        CheckConstraint(
            "NOT credits_must_not_exceed_debits"
            " OR credits_posted + credits_pending <= debits_posted",
            name="credits_within_debits",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    debits_must_not_exceed_credits: Mapped[bool] = mapped_column(Boolean, nullable=False)
    credits_must_not_exceed_debits: Mapped[bool] = mapped_column(Boolean, nullable=False)
    closed: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    debits_posted: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    credits_posted: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    debits_pending: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    credits_pending: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    entry_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_entry_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# No foreign keys from transfers and entries to accounts: the engine writes them only for
# accounts it holds locked, accounts are never deleted (a trigger refuses it), and the
# foreign-key triggers cost a quarter of a batch's write time. `verify` checks the references.
class LedgerTransfer(Base):
    __tablename__ = "ledger_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
        CheckConstraint(
            "kind IN ('single', 'pending', 'post_pending', 'void_pending')", name="known_kind"
        ),
        CheckConstraint("state IN ('posted', 'pending', 'voided', 'expired')", name="known_state"),
        Index(
            "ix_ledger_transfers_pending_expiry",
            "expires_at",
            postgresql_where=text("state = 'pending' AND expires_at IS NOT NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    debit_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    credit_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    pending_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    posted_amount: Mapped[int | None] = mapped_column(BigInteger)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    balancing: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )
    idempotency_key: Mapped[str | None] = mapped_column(Text, unique=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LedgerEntry(Base):
    """One line of an account's statement, with the running balances after it, hash-chained."""

    __tablename__ = "ledger_entries"

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    transfer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    side: Mapped[str] = mapped_column(String(6), nullable=False)
    effect: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    debits_posted: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credits_posted: Mapped[int] = mapped_column(BigInteger, nullable=False)
    debits_pending: Mapped[int] = mapped_column(BigInteger, nullable=False)
    credits_pending: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
