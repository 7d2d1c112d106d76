"""gateway: rate-limit overrides and buckets, the API audit log, idempotency purge index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gateway_rate_limits",
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("per_second", sa.Integer(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Text(), nullable=False),
        sa.CheckConstraint("per_second > 0", name="positive_rate"),
        sa.CheckConstraint("burst > 0", name="positive_burst"),
        sa.ForeignKeyConstraint(["app_id"], ["partner_apps.id"]),
        sa.PrimaryKeyConstraint("app_id", "product"),
    )
    op.create_table(
        "gateway_rate_buckets",
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("product", sa.Text(), nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.Column("per_second", sa.Integer(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("admitted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", "product"),
        prefixes=["UNLOGGED"],
    )
    op.create_table(
        "gateway_api_calls",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("partner_id", sa.UUID(), nullable=True),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("consent_id", sa.UUID(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("problem_code", sa.Text(), nullable=True),
        sa.Column("latency_us", sa.Integer(), nullable=False),
        sa.Column("interaction_id", sa.UUID(), nullable=False),
        sa.Column("client_ip", postgresql.INET(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_gateway_api_calls_at",
        "gateway_api_calls",
        [sa.text("at DESC"), sa.text("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_gateway_api_calls_app",
        "gateway_api_calls",
        ["app_id", sa.text("at DESC"), sa.text("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_gateway_api_calls_customer",
        "gateway_api_calls",
        ["customer_id", sa.text("at DESC"), sa.text("id DESC")],
        unique=False,
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    )
    op.create_index(
        "ix_gateway_api_calls_consent",
        "gateway_api_calls",
        ["consent_id", sa.text("at DESC"), sa.text("id DESC")],
        unique=False,
        postgresql_where=sa.text("consent_id IS NOT NULL"),
    )
    op.create_index(
        "ix_gateway_api_calls_interaction",
        "gateway_api_calls",
        ["interaction_id"],
        unique=False,
    )
    # Partner keys expire after gateway_idempotency_hours; the purge finds them by age.
    op.create_index(
        "ix_idempotency_records_created_at",
        "idempotency_records",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_records_created_at", table_name="idempotency_records")
    op.drop_table("gateway_api_calls")
    op.drop_table("gateway_rate_buckets")
    op.drop_table("gateway_rate_limits")
