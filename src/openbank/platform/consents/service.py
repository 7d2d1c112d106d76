"""Account-access and payment consents.

INTERFACE STUB written before the consents helper: it replaces the bodies and keeps these
names and signatures (the authorization server and onboarding call them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from openbank.platform.consents.schemas import AccountChoice, Consent, Permission


def for_authorization(
    session: Session, consent_id: uuid.UUID, app_id: uuid.UUID, now: datetime
) -> Consent:
    """The consent an authorization request names, if it is the app's own and still
    awaiting authorisation; otherwise a consent error (the page shows it, no code issued)."""
    raise NotImplementedError


def accounts_to_choose(session: Session, customer_id: uuid.UUID) -> list[AccountChoice]:
    """The customer's active e-accounts a consent may cover (the consent page's choices)."""
    raise NotImplementedError


def authorise(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    e_account_ids: Sequence[uuid.UUID],
    permissions: Sequence[Permission],
    now: datetime,
) -> Consent:
    """The customer approves, possibly narrowed to fewer accounts and permissions. Every
    account must be the customer's own (checked here, not by the page); emits
    `consent.authorised`."""
    raise NotImplementedError


def reject(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    now: datetime,
) -> Consent:
    """The customer refuses (or the flow is abandoned); emits `consent.rejected`."""
    raise NotImplementedError


def require_active(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> Consent:
    """Called on every partner call made with a customer token: the consent must be the app's,
    the customer's, authorised and unexpired; else 403 `consent_revoked` / `consent_expired`
    / `consent_not_authorised` (an expired one is marked expired on the way)."""
    raise NotImplementedError


def list_for_customer(session: Session, customer_id: uuid.UUID) -> list[Consent]:
    raise NotImplementedError


def revoke_by_customer(
    session: Session, consent_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> Consent:
    """The customer withdraws the consent; tokens bound to it stop at their next call."""
    raise NotImplementedError


def grant_for_opened_account(
    session: Session,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    e_account_id: uuid.UUID,
    now: datetime,
) -> Consent:
    """An authorised account-access consent (accounts, balances, transactions, top_up,
    withdraw; one year) covering an e-account the customer just opened inside the app,
    having confirmed with a one-time code (remote account opening)."""
    raise NotImplementedError
