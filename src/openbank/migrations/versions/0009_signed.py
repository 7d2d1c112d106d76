"""signed gateway: per-app keys and used nonces

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signed_gateway_credentials",
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("rsa_public_key", sa.Text(), nullable=True),
        sa.Column("sm2_public_key", sa.Text(), nullable=True),
        sa.Column("encryption", sa.Text(), nullable=False),
        sa.Column("encryption_key", sa.LargeBinary(), nullable=True),
        sa.Column("bank_rsa_private_key", sa.Text(), nullable=False),
        sa.Column("bank_rsa_public_key", sa.Text(), nullable=False),
        sa.Column("bank_sm2_private_key", sa.Text(), nullable=False),
        sa.Column("bank_sm2_public_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("encryption IN ('none', 'AES', 'SM4')", name="known_encryption"),
        sa.CheckConstraint(
            "(encryption = 'none') = (encryption_key IS NULL)", name="key_iff_encryption"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["partner_apps.id"]),
        sa.PrimaryKeyConstraint("app_id"),
    )
    op.create_table(
        "signed_gateway_nonces",
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("nonce", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["app_id"], ["partner_apps.id"]),
        sa.PrimaryKeyConstraint("app_id", "nonce"),
    )
    op.create_index(
        "ix_signed_gateway_nonces_seen_at", "signed_gateway_nonces", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_signed_gateway_nonces_seen_at", table_name="signed_gateway_nonces")
    op.drop_table("signed_gateway_nonces")
    op.drop_table("signed_gateway_credentials")
