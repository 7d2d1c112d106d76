"""consents

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The lifecycle, enforced by the database as well as by the service: a consent is created
# awaiting authorisation (or authorised, for an account the customer just opened in the app);
# awaiting -> authorised | rejected | expired; authorised -> revoked | expired | consumed.
TRANSITION_FUNCTION = """
CREATE FUNCTION consents_status_transition() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.status NOT IN ('awaiting_authorisation', 'authorised') THEN
            RAISE EXCEPTION 'a consent cannot be created %', NEW.status
                USING ERRCODE = 'check_violation';
        END IF;
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND NOT (
        (OLD.status = 'awaiting_authorisation'
            AND NEW.status IN ('authorised', 'rejected', 'expired'))
        OR (OLD.status = 'authorised' AND NEW.status IN ('revoked', 'expired', 'consumed'))
    ) THEN
        RAISE EXCEPTION 'consent % cannot go from % to %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("app_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("permissions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("e_account_ids", postgresql.ARRAY(sa.UUID()), nullable=False),
        sa.Column("payment_amount", sa.BigInteger(), nullable=True),
        sa.Column("payment_currency", sa.Text(), nullable=True),
        sa.Column("creditor_e_account_id", sa.UUID(), nullable=True),
        sa.Column("creditor_name", sa.Text(), nullable=True),
        sa.Column("payment_reference", sa.Text(), nullable=True),
        sa.Column("payment_id", sa.UUID(), nullable=True),
        sa.Column("revoked_by", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('awaiting_authorisation', 'authorised', 'rejected', 'revoked', 'expired', 'consumed')",
            name="known_status",
        ),
        sa.CheckConstraint("kind IN ('account_access', 'payment')", name="known_kind"),
        sa.CheckConstraint(
            "cardinality(permissions) > 0 AND permissions <@ ARRAY['accounts', 'balances', 'transactions', 'top_up', 'withdraw', 'payment']",
            name="known_permissions",
        ),
        sa.CheckConstraint(
            "revoked_by IS NULL OR revoked_by IN ('customer', 'partner', 'operator')",
            name="known_revoked_by",
        ),
        sa.CheckConstraint(
            "(status = 'revoked') = (revoked_by IS NOT NULL)", name="revoked_has_by"
        ),
        sa.CheckConstraint(
            "status NOT IN ('authorised', 'revoked', 'consumed') OR (customer_id IS NOT NULL AND cardinality(e_account_ids) > 0)",
            name="authorised_has_accounts",
        ),
        sa.CheckConstraint(
            "(kind = 'payment') = (payment_amount IS NOT NULL) AND (kind = 'payment') = (creditor_e_account_id IS NOT NULL)",
            name="payment_terms_of_payment",
        ),
        sa.CheckConstraint(
            "payment_amount IS NULL OR (payment_amount > 0 AND payment_currency = 'CNY' AND creditor_name IS NOT NULL AND payment_reference IS NOT NULL)",
            name="payment_terms_valid",
        ),
        sa.CheckConstraint(
            "kind <> 'payment' OR permissions = ARRAY['payment']", name="payment_permission"
        ),
        sa.CheckConstraint(
            "kind <> 'payment' OR status NOT IN ('authorised', 'revoked', 'consumed') OR cardinality(e_account_ids) = 1",
            name="payment_has_one_debtor",
        ),
        sa.CheckConstraint(
            "(status = 'consumed') = (payment_id IS NOT NULL)", name="consumed_paid"
        ),
        sa.ForeignKeyConstraint(["app_id"], ["partner_apps.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consents_customer_id", "consents", ["customer_id"], unique=False)
    op.create_index("ix_consents_app_id", "consents", ["app_id"], unique=False)
    op.create_index(
        "ix_consents_open_expires_at",
        "consents",
        ["expires_at"],
        unique=False,
        postgresql_where="status IN ('awaiting_authorisation', 'authorised')",
    )
    op.execute(TRANSITION_FUNCTION)
    op.execute(
        "CREATE TRIGGER consents_status_transition BEFORE INSERT OR UPDATE OF status"
        " ON consents FOR EACH ROW EXECUTE FUNCTION consents_status_transition()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS consents_status_transition ON consents")
    op.execute("DROP FUNCTION IF EXISTS consents_status_transition()")
    op.drop_index(
        "ix_consents_open_expires_at",
        table_name="consents",
        postgresql_where="status IN ('awaiting_authorisation', 'authorised')",
    )
    op.drop_index("ix_consents_app_id", table_name="consents")
    op.drop_index("ix_consents_customer_id", table_name="consents")
    op.drop_table("consents")
