"""Lending tables. Balances live in the ledger; these hold terms, decisions and events."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base

RATE = Numeric(12, 8)


class FundingPartner(Base):
    """An institution that co-funds joint loans (联合贷), with its money held at this bank."""

    __tablename__ = "loan_funding_partners"
    __table_args__ = (CheckConstraint("outstanding_cap >= 0", name="cap_not_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    outstanding_cap: Mapped[int] = mapped_column(BigInteger, nullable=False)
    funding_ledger_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LoanProduct(Base):
    """A product of the library: this bank's or another institution's. `spec` holds the
    validated `ProductSpec`; the columns beside it are what the library is searched by."""

    __tablename__ = "loan_products"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    type: Mapped[str] = mapped_column(Text, nullable=False)
    institution: Mapped[str] = mapped_column(Text, nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class BlockListEntry(Base):
    """A customer lending must not lend to (fraud, court orders, self-exclusion...)."""

    __tablename__ = "loan_block_list"

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LoanApplication(Base):
    __tablename__ = "loan_applications"
    __table_args__ = (
        CheckConstraint("decision IN ('approved', 'declined', 'referred')", name="known_decision"),
        CheckConstraint(
            "status IN ('offered', 'declined', 'referred', 'accepted', 'expired')",
            name="known_status",
        ),
        Index("ix_loan_applications_customer", "customer_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    product_code: Mapped[str] = mapped_column(Text, nullable=False)
    product_version: Mapped[int] = mapped_column(Integer, nullable=False)
    request: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    decision: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    score: Mapped[int | None] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(Text)
    offer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    offer_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    contract_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LoanContract(Base):
    """An accepted offer: the terms and the frozen schedule (`loan_instalments`). What the
    borrower owes is recomputed from the events (`servicing.replay`); `state_*` columns are a
    cache of the last computation, refreshed by every event and by the end-of-day batch."""

    __tablename__ = "loan_contracts"
    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'overdue', 'paid_off', 'written_off')", name="known_status"
        ),
        CheckConstraint("principal > 0", name="principal_positive"),
        CheckConstraint(
            "partner_share IS NULL OR (partner_share > 0 AND partner_share < 1)",
            name="partner_share_fraction",
        ),
        Index("ix_loan_contracts_customer", "customer_id"),
        Index("ix_loan_contracts_open", "status", "id"),
        Index("ix_loan_contracts_partner", "partner_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    application_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("loan_applications.id"), unique=True, nullable=False
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    product_code: Mapped[str] = mapped_column(Text, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    principal: Mapped[int] = mapped_column(BigInteger, nullable=False)
    annual_rate: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    penalty_rate: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    method: Mapped[str] = mapped_column(Text, nullable=False)
    periods: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    period_months: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    grace_periods: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    start_date: Mapped[date] = mapped_column(Date, nullable=False)
    first_due_date: Mapped[date] = mapped_column(Date, nullable=False)
    upfront_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    periodic_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    allocation_order: Mapped[str] = mapped_column(Text, nullable=False)
    apr_nominal: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    apr_effective: Mapped[Decimal] = mapped_column(RATE, nullable=False)
    e_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    payee_e_account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    auto_debit: Mapped[bool] = mapped_column(Boolean, nullable=False)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("loan_funding_partners.id")
    )
    partner_share: Mapped[Decimal | None] = mapped_column(RATE)
    partner_principal: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The loan's own ledger accounts (see accounting.py).
    accounts: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False)
    # What has been posted to the ledger, measure by measure (see accounting.py).
    posted: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False)
    disbursement_transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, nullable=False)
    state_as_of: Mapped[date] = mapped_column(Date, nullable=False)
    outstanding_principal: Mapped[int] = mapped_column(BigInteger, nullable=False)
    days_past_due: Mapped[int] = mapped_column(Integer, nullable=False)
    bucket: Mapped[str] = mapped_column(Text, nullable=False)
    next_due_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LoanInstalment(Base):
    """The schedule as agreed, frozen at acceptance."""

    __tablename__ = "loan_instalments"

    contract_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("loan_contracts.id"), primary_key=True
    )
    period: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    principal: Mapped[int] = mapped_column(BigInteger, nullable=False)
    interest: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fee: Mapped[int] = mapped_column(BigInteger, nullable=False)


class LoanEventRow(Base):
    """Something that happened to a loan, on the date it takes effect (which may be earlier
    than when it was recorded: a backdated repayment)."""

    __tablename__ = "loan_events"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('repayment', 'prepayment', 'reversal', 'write_off')", name="known_kind"
        ),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        Index("ix_loan_events_contract", "contract_id", "seq"),
        UniqueConstraint("reverses", name="uq_loan_events_reversed_once"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    contract_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("loan_contracts.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    effective_date: Mapped[date] = mapped_column(Date, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    mode: Mapped[str | None] = mapped_column(Text)
    reverses: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("loan_events.id")
    )
    source: Mapped[str] = mapped_column(Text, nullable=False)
    e_account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ledger_transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class EndOfDayRun(Base):
    """One end-of-day batch per business date; a rerun updates it and changes nothing else."""

    __tablename__ = "loan_eod_runs"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, nullable=False)
    contracts: Mapped[int] = mapped_column(Integer, nullable=False)
    transfers: Mapped[int] = mapped_column(Integer, nullable=False)
    auto_debits: Mapped[int] = mapped_column(Integer, nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
