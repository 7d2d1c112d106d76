"""Customer tables. Balances are not here: each e-account points at its ledger account, and
each money movement at its ledger transfer (no foreign keys into another context's tables)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base
from openbank.customers.vocabulary import (
    AccountClass,
    CustomerType,
    Direction,
    EAccountStatus,
    IdType,
    MovementKind,
)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # One person per environment: a sandbox identity never blocks the real person.
        UniqueConstraint("id_type", "id_number", "sandbox", name="uq_customers_identity"),
        CheckConstraint("type IN ('person', 'enterprise')", name="known_customer_type"),
        CheckConstraint(
            "id_type IN ('prc_resident_id', 'unified_social_credit_code')", name="known_id_type"
        ),
        CheckConstraint(
            "(type = 'person') = (id_type = 'prc_resident_id')", name="id_type_fits_customer"
        ),
        CheckConstraint("kyc_level BETWEEN 0 AND 3", name="kyc_level_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    type: Mapped[CustomerType] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    id_type: Mapped[IdType] = mapped_column(Text, nullable=False)
    id_number: Mapped[str] = mapped_column(Text, nullable=False)
    phone: Mapped[str] = mapped_column(Text, nullable=False)
    kyc_level: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # A sandbox customer: partners' sandbox apps reach only these, production apps never.
    sandbox: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=sa_false(), default=False
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class EAccount(Base):
    """A PBoC class I/II/III e-account, backed by one ledger account, with a bound card."""

    __tablename__ = "e_accounts"
    __table_args__ = (
        CheckConstraint("account_class IN ('I', 'II', 'III')", name="known_account_class"),
        CheckConstraint("status IN ('active', 'frozen', 'closed')", name="known_status"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_set"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("customers.id"), nullable=False, index=True
    )
    account_class: Mapped[AccountClass] = mapped_column(Text, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    ledger_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False, unique=True
    )
    bound_card_masked: Mapped[str] = mapped_column(Text, nullable=False)
    bound_card_sha256: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    bound_card_bank_name: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[EAccountStatus] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class EAccountMovement(Base):
    """Money in or out of an e-account, kept to sum the class limits' windows."""

    __tablename__ = "e_account_movements"
    __table_args__ = (
        CheckConstraint("direction IN ('in', 'out')", name="known_direction"),
        CheckConstraint(
            "kind IN ('top_up', 'withdrawal', 'transfer', 'loan_disbursement', 'loan_repayment',"
            " 'loan_reversal', 'merchant_payment', 'merchant_refund', 'settlement',"
            " 'revenue_share')",
            name="known_kind",
        ),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_e_account_movements_window", "e_account_id", "business_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    e_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("e_accounts.id"), nullable=False
    )
    kind: Mapped[MovementKind] = mapped_column(Text, nullable=False)
    direction: Mapped[Direction] = mapped_column(Text, nullable=False)
    counterparty_bound: Mapped[bool] = mapped_column(Boolean, nullable=False)
    counterparty_e_account_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("e_accounts.id")
    )
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    ledger_transfer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
