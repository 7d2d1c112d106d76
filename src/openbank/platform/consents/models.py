"""Tables of consents.

One row per consent; the covered e-accounts are an array column (a consent covers a handful at
most and is always read whole). Customers and e-accounts belong to the customers context, so
they are referenced by id only. The status vocabulary is a check constraint; the transitions
between statuses are enforced by the service (conditional updates) and by a trigger
(`consents_status_transition`, migration 0006)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from openbank.core.database import Base

STATUSES = ("awaiting_authorisation", "authorised", "rejected", "revoked", "expired", "consumed")
# Statuses a consent can still leave; the others are final.
OPEN_STATUSES = ("awaiting_authorisation", "authorised")
PERMISSIONS = ("accounts", "balances", "transactions", "top_up", "withdraw", "payment")


def _quoted(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Consent(Base):
    """An account-access or payment consent an app asked for and a customer decides on."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(f"status IN ({_quoted(STATUSES)})", name="known_status"),
        CheckConstraint("kind IN ('account_access', 'payment')", name="known_kind"),
        CheckConstraint(
            f"cardinality(permissions) > 0 AND permissions <@ ARRAY[{_quoted(PERMISSIONS)}]",
            name="known_permissions",
        ),
        CheckConstraint(
            "revoked_by IS NULL OR revoked_by IN ('customer', 'partner', 'operator')",
            name="known_revoked_by",
        ),
        CheckConstraint("(status = 'revoked') = (revoked_by IS NOT NULL)", name="revoked_has_by"),
        CheckConstraint(
            "status NOT IN ('authorised', 'revoked', 'consumed')"
            " OR (customer_id IS NOT NULL AND cardinality(e_account_ids) > 0)",
            name="authorised_has_accounts",
        ),
        CheckConstraint(
            "(kind = 'payment') = (payment_amount IS NOT NULL)"
            " AND (kind = 'payment') = (creditor_e_account_id IS NOT NULL)",
            name="payment_terms_of_payment",
        ),
        CheckConstraint(
            "payment_amount IS NULL OR (payment_amount > 0 AND payment_currency = 'CNY'"
            " AND creditor_name IS NOT NULL AND payment_reference IS NOT NULL)",
            name="payment_terms_valid",
        ),
        CheckConstraint(
            "kind <> 'payment' OR permissions = ARRAY['payment']", name="payment_permission"
        ),
        CheckConstraint(
            "kind <> 'payment' OR status NOT IN ('authorised', 'revoked', 'consumed')"
            " OR cardinality(e_account_ids) = 1",
            name="payment_has_one_debtor",
        ),
        CheckConstraint("(status = 'consumed') = (payment_id IS NOT NULL)", name="consumed_paid"),
        Index("ix_consents_customer_id", "customer_id"),
        Index("ix_consents_app_id", "app_id"),
        Index(
            "ix_consents_open_expires_at",
            "expires_at",
            postgresql_where=f"status IN ({_quoted(OPEN_STATUSES)})",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    app_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("partner_apps.id"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    permissions: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    # Set when the customer authorises (or rejects, if known); never an FK: customers context.
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The covered e-accounts; for a payment consent, its one debtor account.
    e_account_ids: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), nullable=False
    )
    payment_amount: Mapped[int | None] = mapped_column(BigInteger)
    payment_currency: Mapped[str | None] = mapped_column(Text)
    creditor_e_account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    creditor_name: Mapped[str | None] = mapped_column(Text)
    payment_reference: Mapped[str | None] = mapped_column(Text)
    # The payment a consumed payment consent made (the debtor's movement id).
    payment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    revoked_by: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    status_updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
