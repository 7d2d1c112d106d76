"""sandbox customers

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 22:45:00

A customer belongs to the sandbox or to production: partners' sandbox apps reach only sandbox
customers, production apps only production ones. Existing customers are production customers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("sandbox", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("customers", "sandbox")
