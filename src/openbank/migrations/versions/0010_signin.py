"""signin: customer credentials and authorization sessions

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 21:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_credentials",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("login", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("failed_attempts", sa.SmallInteger(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
        sa.UniqueConstraint("login"),
    )
    op.create_table(
        "authorization_sessions",
        sa.Column("token_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        sa.Column("authorization_request_id", sa.UUID(), nullable=True),
        sa.Column("app_id", sa.UUID(), nullable=True),
        sa.Column("app_name", sa.Text(), nullable=True),
        sa.Column("partner_name", sa.Text(), nullable=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("consent_id", sa.UUID(), nullable=True),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("otp_challenge_id", sa.UUID(), nullable=True),
        sa.Column("sandbox_code", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("flow IN ('authorize', 'self_service')", name="known_flow"),
        sa.CheckConstraint(
            "step IN ('sign_in', 'otp', 'consent', 'signed_in', 'done')", name="known_step"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["partner_apps.id"]),
        sa.PrimaryKeyConstraint("token_sha256"),
    )
    op.create_index(
        "ix_authorization_sessions_expires_at",
        "authorization_sessions",
        ["expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_authorization_sessions_expires_at", table_name="authorization_sessions")
    op.drop_table("authorization_sessions")
    op.drop_table("customer_credentials")
