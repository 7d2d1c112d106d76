"""sandbox customers

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 22:45:00

A customer belongs to the sandbox or to production: partners' sandbox apps reach only sandbox
customers, production apps only production ones. Existing customers are production customers,
so what sandbox apps already hold of them ends here: their authorised consents are revoked (by
the bank, `revoked_by` operator; tokens bound to them stop at the next call) and sandbox
sign-in passwords, which only sandbox customers may have, are removed. An identity is unique
per environment, so a sandbox identity never blocks the real person.
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
    op.drop_constraint("uq_customers_identity", "customers", type_="unique")
    op.create_unique_constraint(
        "uq_customers_identity", "customers", ["id_type", "id_number", "sandbox"]
    )
    op.execute(
        """
        UPDATE consents SET status = 'revoked', revoked_by = 'operator', status_updated_at = now()
        WHERE status = 'authorised'
          AND app_id IN (SELECT id FROM partner_apps WHERE environment = 'sandbox')
        """
    )
    op.execute("DELETE FROM customer_credentials")


def downgrade() -> None:
    op.drop_constraint("uq_customers_identity", "customers", type_="unique")
    op.create_unique_constraint("uq_customers_identity", "customers", ["id_type", "id_number"])
    op.drop_column("customers", "sandbox")
