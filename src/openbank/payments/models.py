"""Payments tables: merchants, fee plans, payment orders and what happened to them, the
settlements and the flow aggregates lending reads. Money lives in the ledger; these rows hold
references to ledger transfers, never balances of their own."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base

TZ = DateTime(timezone=True)


class FeePlan(Base):
    """A merchant discount rate: `rate_ppm` (parts per million of the amount, 6000 = 0.60 %)
    plus `fixed_fee` per payment, kept within `min_fee` and `max_fee` (a cap; NULL for none).
    `tiers` lower the rate for merchants who bring the bank deposits and loans:
    `[{"name", "min_average_deposit_balance", "min_loan_interest_paid", "rate_reduction_ppm"}]`,
    the best tier the merchant qualifies for applies."""

    __tablename__ = "payment_fee_plans"
    __table_args__ = (
        CheckConstraint("rate_ppm >= 0 AND rate_ppm <= 1000000", name="rate_in_range"),
        CheckConstraint("fixed_fee >= 0 AND min_fee >= 0", name="fees_not_negative"),
        CheckConstraint("max_fee IS NULL OR max_fee >= min_fee", name="cap_above_minimum"),
        CheckConstraint(
            "revenue_share_ppm >= 0 AND revenue_share_ppm <= 1000000", name="share_in_range"
        ),
    )

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    rate_ppm: Mapped[int] = mapped_column(Integer, nullable=False)
    fixed_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    min_fee: Mapped[int] = mapped_column(BigInteger, nullable=False)
    max_fee: Mapped[int | None] = mapped_column(BigInteger)
    tiers: Mapped[Any] = mapped_column(JSONB, nullable=False)
    # The part of this plan's fee income shared with the partner platform a payment came
    # through (分润), parts per million.
    revenue_share_ppm: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class Merchant(Base):
    """A merchant the bank acquires for, with a corporate settlement e-account at this bank
    (its enterprise customer's class I e-account) and a set of clearing ledger accounts that
    payments credit until settlement (`clearing_shards` of them, so thousands of payers paying
    one merchant at once do not queue on one row)."""

    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'frozen', 'closed')", name="known_status"),
        CheckConstraint("settlement_delay_days BETWEEN 1 AND 30", name="delay_in_range"),
        CheckConstraint("mcc ~ '^[0-9]{4}$'", name="mcc_four_digits"),
        Index("ix_merchants_partner_id", "partner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    legal_name: Mapped[str] = mapped_column(Text, nullable=False)
    unified_social_credit_code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    legal_representative: Mapped[str] = mapped_column(Text, nullable=False)
    mcc: Mapped[str] = mapped_column(String(4), nullable=False)
    fee_plan_code: Mapped[str] = mapped_column(
        Text, ForeignKey("payment_fee_plans.code"), nullable=False
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    settlement_e_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    settlement_ledger_account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), nullable=False
    )
    clearing_shards: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    settlement_delay_days: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    # The partner platform the merchant came through, and the app its webhooks go to.
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class PaymentOrder(Base):
    """What a merchant asks to be paid. Amounts only grow: authorized >= captured >= refunded;
    the ledger transfers they refer to hold the money."""

    __tablename__ = "payment_orders"
    __table_args__ = (
        UniqueConstraint("merchant_id", "out_trade_no", name="uq_payment_orders_out_trade_no"),
        CheckConstraint(
            "status IN ('created', 'authorized', 'captured', 'partially_refunded', 'refunded',"
            " 'voided', 'closed')",
            name="known_status",
        ),
        CheckConstraint("capture_mode IN ('immediate', 'manual')", name="known_capture_mode"),
        CheckConstraint("payer_kind IS NULL OR payer_kind IN ('e_account', 'card')", name="payer"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "authorized_amount <= amount AND captured_amount <= authorized_amount"
            " AND refunded_amount <= captured_amount AND refunded_amount >= 0",
            name="amounts_in_order",
        ),
        Index("ix_payment_orders_open_expiry", "expires_at", postgresql_where="status = 'created'"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("merchants.id"), nullable=False
    )
    out_trade_no: Mapped[str] = mapped_column(Text, nullable=False)
    # SHA-256 of what the merchant asked for: a retry with the same out_trade_no and another
    # body is refused instead of answered with the first order.
    request_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    capture_mode: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # The partner platform (and app) the payment came through: revenue sharing and webhooks.
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    app_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payer_kind: Mapped[str | None] = mapped_column(Text)
    payer_e_account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # SHA-256 of the card that paid (as customers fingerprints bound cards): the checkout's
    # e-account offer binds only that card, never its number.
    payer_card_sha256: Mapped[bytes | None] = mapped_column(LargeBinary)
    clearing_shard: Mapped[int | None] = mapped_column(SmallInteger)
    authorized_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    captured_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The pending ledger transfer of a manual-capture authorization.
    authorization_transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    authorization_expires_at: Mapped[datetime | None] = mapped_column(TZ)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    paid_at: Mapped[datetime | None] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    close_reason: Mapped[str | None] = mapped_column(Text)


class PaymentCapture(Base):
    """Money captured for an order (once for an immediate payment, once or more for a manual
    capture): what settlement pays the merchant for."""

    __tablename__ = "payment_captures"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index(
            "ix_payment_captures_unsettled",
            "merchant_id",
            "business_date",
            postgresql_where="settlement_id IS NULL",
        ),
        Index("ix_payment_captures_order_id", "order_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_orders.id"), nullable=False
    )
    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    ledger_transfer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    captured_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # Set by the settlement that took it (its item row is the proof of exactly once): the
    # batch finds what is unsettled through a partial index, not by scanning all history.
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class PaymentRefund(Base):
    """Money given back to the payer: several per order, never more than captured in all.
    `out_refund_no` is the merchant's own number for it, unique per order (the retry key)."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "out_refund_no", name="uq_payment_refunds_out_refund_no"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "destination IN ('e_account', 'bound_card', 'card')", name="known_destination"
        ),
        Index(
            "ix_payment_refunds_unsettled",
            "merchant_id",
            "business_date",
            postgresql_where="settlement_id IS NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_orders.id"), nullable=False
    )
    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    out_refund_no: Mapped[str] = mapped_column(Text, nullable=False)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    ledger_transfer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    destination: Mapped[str] = mapped_column(Text, nullable=False)  # vocabulary.RefundDestination
    business_date: Mapped[date] = mapped_column(Date, nullable=False)
    refunded_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    settlement_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))  # as captures


class MerchantFlowDaily(Base):
    """Per-merchant daily payment flow, kept as payments happen. A merchant's day is split over
    `shard` rows (the payment's clearing shard) so concurrent payments into one merchant do not
    queue on one counter row; readers sum the shards."""

    __tablename__ = "merchant_flow_daily"

    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    payment_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    payment_volume: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refund_count: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refund_volume: Mapped[int] = mapped_column(BigInteger, nullable=False)


class Settlement(Base):
    """One merchant's settlement in one daily batch (`settled_on`): every capture and refund
    not yet settled whose business date is on or before `cutoff_date` (the batch date less the
    merchant's delay: T+1 by default), so one that committed just after an earlier batch read
    its day is still settled, by the next batch. Captured minus refunded minus fees (plus any
    shortfall carried from before) is paid to the settlement e-account; a negative net is
    carried forward to the next settlement."""

    __tablename__ = "payment_settlements"
    __table_args__ = (
        UniqueConstraint("merchant_id", "settled_on", name="uq_payment_settlements_batch"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("merchants.id"), nullable=False
    )
    settled_on: Mapped[date] = mapped_column(Date, nullable=False)  # the batch's business date
    cutoff_date: Mapped[date] = mapped_column(Date, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    capture_count: Mapped[int] = mapped_column(Integer, nullable=False)
    captured: Mapped[int] = mapped_column(BigInteger, nullable=False)
    refund_count: Mapped[int] = mapped_column(Integer, nullable=False)
    refunded: Mapped[int] = mapped_column(BigInteger, nullable=False)
    fees: Mapped[int] = mapped_column(BigInteger, nullable=False)  # net of fees returned
    carried_in: Mapped[int] = mapped_column(BigInteger, nullable=False)  # <= 0
    net: Mapped[int] = mapped_column(BigInteger, nullable=False)
    paid_out: Mapped[int] = mapped_column(BigInteger, nullable=False)
    carried_out: Mapped[int] = mapped_column(BigInteger, nullable=False)  # <= 0
    # What decided the fee rate: the tier and the contribution figures it was earned with.
    fee_explanation: Mapped[Any] = mapped_column(JSONB, nullable=False)
    fee_transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    payout_transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class SettlementItem(Base):
    """One capture or refund in a settlement, with its fee. The primary key is the capture's or
    refund's id, so each lands in exactly one settlement."""

    __tablename__ = "payment_settlement_items"
    __table_args__ = (
        CheckConstraint("kind IN ('capture', 'refund')", name="known_kind"),
        Index("ix_payment_settlement_items_settlement_id", "settlement_id"),
    )

    item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    settlement_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_settlements.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # The fee charged on a capture (positive) or returned with a refund (negative).
    fee: Mapped[int] = mapped_column(BigInteger, nullable=False)


class RevenueShareAgreement(Base):
    """Where a partner platform's share of fee income (分润) is paid: its corporate e-account
    at this bank. The share itself is the fee plan's `revenue_share_ppm`."""

    __tablename__ = "payment_revenue_share_agreements"

    partner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    payout_e_account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class RevenueSharePayment(Base):
    """A partner's share of one settlement's fee income, paid at settlement."""

    __tablename__ = "payment_revenue_shares"
    __table_args__ = (
        UniqueConstraint("settlement_id", "partner_id", name="uq_payment_revenue_shares"),
        Index("ix_payment_revenue_shares_partner", "partner_id", "settled_on"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    settlement_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_settlements.id"), nullable=False
    )
    partner_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    settled_on: Mapped[date] = mapped_column(Date, nullable=False)
    fee_income: Mapped[int] = mapped_column(BigInteger, nullable=False)
    share_ppm: Mapped[int] = mapped_column(Integer, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    ledger_transfer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = mapped_column(TZ, nullable=False)


class CheckoutOffer(Base):
    """The e-account offer on a payment-result page: shown once per order, and whether (and
    into which e-account) it converted; the first of the growth numbers."""

    __tablename__ = "payment_checkout_offers"

    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("payment_orders.id"), primary_key=True
    )
    merchant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    partner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    channel: Mapped[str] = mapped_column(Text, nullable=False)  # checkout page or QR scan
    shown_at: Mapped[datetime] = mapped_column(TZ, nullable=False)
    # Refused attempts to convert; the offer closes after a few, so identities cannot be tried.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    converted_at: Mapped[datetime | None] = mapped_column(TZ)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    e_account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
