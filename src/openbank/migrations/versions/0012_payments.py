"""payments: merchant acquiring, fees, settlement, revenue sharing, flow aggregates

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 23:33:52

E-account movements gain the acquiring kinds: a payment to a merchant, a refund from one, a
settlement paid to a merchant and a revenue share paid to a partner platform.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


MOVEMENT_KINDS_BEFORE = (
    "kind IN ('top_up', 'withdrawal', 'transfer', 'loan_disbursement', 'loan_repayment',"
    " 'loan_reversal')"
)
MOVEMENT_KINDS = (
    "kind IN ('top_up', 'withdrawal', 'transfer', 'loan_disbursement', 'loan_repayment',"
    " 'loan_reversal', 'merchant_payment', 'merchant_refund', 'settlement', 'revenue_share')"
)


def upgrade() -> None:
    op.drop_constraint("known_kind", "e_account_movements", type_="check")
    op.create_check_constraint("known_kind", "e_account_movements", MOVEMENT_KINDS)
    op.create_table(
        "merchant_flow_daily",
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("payment_count", sa.BigInteger(), nullable=False),
        sa.Column("payment_volume", sa.BigInteger(), nullable=False),
        sa.Column("refund_count", sa.BigInteger(), nullable=False),
        sa.Column("refund_volume", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "business_date", "shard"),
    )
    op.create_table(
        "payment_fee_plans",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("rate_ppm", sa.Integer(), nullable=False),
        sa.Column("fixed_fee", sa.BigInteger(), nullable=False),
        sa.Column("min_fee", sa.BigInteger(), nullable=False),
        sa.Column("max_fee", sa.BigInteger(), nullable=True),
        sa.Column("tiers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("revenue_share_ppm", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("fixed_fee >= 0 AND min_fee >= 0", name="fees_not_negative"),
        sa.CheckConstraint("max_fee IS NULL OR max_fee >= min_fee", name="cap_above_minimum"),
        sa.CheckConstraint("rate_ppm >= 0 AND rate_ppm <= 1000000", name="rate_in_range"),
        sa.CheckConstraint(
            "revenue_share_ppm >= 0 AND revenue_share_ppm <= 1000000", name="share_in_range"
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "payment_revenue_share_agreements",
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("payout_e_account_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id"),
    )
    op.create_table(
        "merchants",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("legal_name", sa.Text(), nullable=False),
        sa.Column("unified_social_credit_code", sa.Text(), nullable=False),
        sa.Column("legal_representative", sa.Text(), nullable=False),
        sa.Column("mcc", sa.String(length=4), nullable=False),
        sa.Column("fee_plan_code", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("settlement_e_account_id", sa.UUID(), nullable=False),
        sa.Column("settlement_ledger_account_id", sa.UUID(), nullable=False),
        sa.Column("clearing_shards", sa.SmallInteger(), nullable=False),
        sa.Column("settlement_delay_days", sa.SmallInteger(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mcc ~ '^[0-9]{4}$'", name="mcc_four_digits"),
        sa.CheckConstraint("status IN ('active', 'frozen', 'closed')", name="known_status"),
        sa.CheckConstraint("settlement_delay_days BETWEEN 1 AND 30", name="delay_in_range"),
        sa.ForeignKeyConstraint(
            ["fee_plan_code"],
            ["payment_fee_plans.code"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unified_social_credit_code"),
    )
    op.create_index("ix_merchants_partner_id", "merchants", ["partner_id"], unique=False)
    op.create_table(
        "payment_orders",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("out_trade_no", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("capture_mode", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("payer_kind", sa.Text(), nullable=True),
        sa.Column("payer_e_account_id", sa.UUID(), nullable=True),
        sa.Column("payer_card_sha256", sa.LargeBinary(), nullable=True),
        sa.Column("clearing_shard", sa.SmallInteger(), nullable=True),
        sa.Column("authorized_amount", sa.BigInteger(), nullable=False),
        sa.Column("captured_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("authorization_transfer_id", sa.UUID(), nullable=True),
        sa.Column("authorization_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("capture_mode IN ('immediate', 'manual')", name="known_capture_mode"),
        sa.CheckConstraint(
            "payer_kind IS NULL OR payer_kind IN ('e_account', 'card')", name="payer"
        ),
        sa.CheckConstraint(
            "status IN ('created', 'authorized', 'captured', 'partially_refunded', 'refunded', 'voided', 'closed')",
            name="known_status",
        ),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "authorized_amount <= amount AND captured_amount <= authorized_amount AND refunded_amount <= captured_amount AND refunded_amount >= 0",
            name="amounts_in_order",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merchant_id", "out_trade_no", name="uq_payment_orders_out_trade_no"),
    )
    op.create_index(
        "ix_payment_orders_open_expiry",
        "payment_orders",
        ["expires_at"],
        unique=False,
        postgresql_where="status = 'created'",
    )
    op.create_table(
        "payment_settlements",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("cutoff_date", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("capture_count", sa.Integer(), nullable=False),
        sa.Column("captured", sa.BigInteger(), nullable=False),
        sa.Column("refund_count", sa.Integer(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("carried_in", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("paid_out", sa.BigInteger(), nullable=False),
        sa.Column("carried_out", sa.BigInteger(), nullable=False),
        sa.Column("fee_explanation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("fee_transfer_id", sa.UUID(), nullable=True),
        sa.Column("payout_transfer_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("merchant_id", "settled_on", name="uq_payment_settlements_batch"),
    )
    op.create_table(
        "payment_captures",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("ledger_transfer_id", sa.UUID(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settlement_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["payment_orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_payment_captures_order_id", "payment_captures", ["order_id"], unique=False)
    op.create_index(
        "ix_payment_captures_unsettled",
        "payment_captures",
        ["merchant_id", "business_date"],
        unique=False,
        postgresql_where="settlement_id IS NULL",
    )
    op.create_table(
        "payment_checkout_offers",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("shown_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("e_account_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["payment_orders.id"],
        ),
        sa.PrimaryKeyConstraint("order_id"),
    )
    op.create_table(
        "payment_refunds",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("out_refund_no", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ledger_transfer_id", sa.UUID(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settlement_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "destination IN ('e_account', 'bound_card', 'card')", name="known_destination"
        ),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["payment_orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "out_refund_no", name="uq_payment_refunds_out_refund_no"),
    )
    op.create_index(
        "ix_payment_refunds_unsettled",
        "payment_refunds",
        ["merchant_id", "business_date"],
        unique=False,
        postgresql_where="settlement_id IS NULL",
    )
    op.create_table(
        "payment_revenue_shares",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("settlement_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=False),
        sa.Column("merchant_id", sa.UUID(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=False),
        sa.Column("fee_income", sa.BigInteger(), nullable=False),
        sa.Column("share_ppm", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("ledger_transfer_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["payment_settlements.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("settlement_id", "partner_id", name="uq_payment_revenue_shares"),
    )
    op.create_index(
        "ix_payment_revenue_shares_partner",
        "payment_revenue_shares",
        ["partner_id", "settled_on"],
        unique=False,
    )
    op.create_table(
        "payment_settlement_items",
        sa.Column("item_id", sa.UUID(), nullable=False),
        sa.Column("settlement_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('capture', 'refund')", name="known_kind"),
        sa.ForeignKeyConstraint(
            ["settlement_id"],
            ["payment_settlements.id"],
        ),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index(
        "ix_payment_settlement_items_settlement_id",
        "payment_settlement_items",
        ["settlement_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_constraint("known_kind", "e_account_movements", type_="check")
    op.create_check_constraint("known_kind", "e_account_movements", MOVEMENT_KINDS_BEFORE)
    op.drop_index(
        "ix_payment_settlement_items_settlement_id", table_name="payment_settlement_items"
    )
    op.drop_table("payment_settlement_items")
    op.drop_index("ix_payment_revenue_shares_partner", table_name="payment_revenue_shares")
    op.drop_table("payment_revenue_shares")
    op.drop_index(
        "ix_payment_refunds_unsettled",
        table_name="payment_refunds",
        postgresql_where="settlement_id IS NULL",
    )
    op.drop_table("payment_refunds")
    op.drop_table("payment_checkout_offers")
    op.drop_index(
        "ix_payment_captures_unsettled",
        table_name="payment_captures",
        postgresql_where="settlement_id IS NULL",
    )
    op.drop_index("ix_payment_captures_order_id", table_name="payment_captures")
    op.drop_table("payment_captures")
    op.drop_table("payment_settlements")
    op.drop_index(
        "ix_payment_orders_open_expiry",
        table_name="payment_orders",
        postgresql_where="status = 'created'",
    )
    op.drop_table("payment_orders")
    op.drop_index("ix_merchants_partner_id", table_name="merchants")
    op.drop_table("merchants")
    op.drop_table("payment_revenue_share_agreements")
    op.drop_table("payment_fee_plans")
    op.drop_table("merchant_flow_daily")
