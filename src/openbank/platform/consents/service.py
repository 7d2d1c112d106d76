"""Account-access and payment consents, and the partner-facing operations made under them.

A consent is the only way a partner app reaches a customer's e-accounts. Every partner-facing
function here takes the caller's `PartnerCall` and checks, itself, app → consent → customer →
account: the consent must be the calling app's, bound to the token's customer, authorised and
unexpired, and it must cover the e-account named. Whatever fails, a partner never learns whether
someone else's consent or account exists: both are the same 404 as an unknown id.

Lifecycle: awaiting_authorisation → authorised | rejected | expired; authorised → revoked |
expired | consumed (a payment consent after its one payment). Every change locks the row,
checks the transition here (the database's trigger refuses any other), and emits its outbox
event in the same transaction.

Expiry is a fact of time: a consent past `expires_at` is treated as expired at once, wherever
it is read. Recording it (status `expired`, event `consent.expired`) happens lazily when a read
finds one, and in bulk by `expire_due` (a periodic job). The lazy recording runs in a short
transaction of its own, because the read that found it usually goes on to refuse the call, and
that refusal rolls the caller's transaction back.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from openbank.core import outbox
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.errors import EAccountNotFound
from openbank.customers.schemas import EAccount, EAccountTransferCreate, Movement
from openbank.platform import service as platform
from openbank.platform.consents import models
from openbank.platform.consents.errors import (
    AccountNotEligible,
    AccountNotFound,
    ConsentConsumed,
    ConsentExpired,
    ConsentNotAuthorised,
    ConsentNotFound,
    ConsentRequired,
    ConsentRevoked,
    ConsentStateConflict,
    CreditorAccountInvalid,
    EnvironmentMismatch,
    InsufficientScope,
    InvalidExpiration,
    InvalidPermissions,
    PaymentDoesNotMatchConsent,
    PermissionNotGranted,
    UnsupportedCurrency,
    WrongConsentKind,
)
from openbank.platform.consents.schemas import (
    Account,
    AccountAccessConsentCreate,
    AccountChoice,
    Balance,
    BoundCardView,
    Consent,
    ConsentKind,
    FundsMovement,
    Payment,
    PaymentConsentCreate,
    PaymentCreate,
    PaymentTerms,
    Permission,
    RevokedBy,
    Transaction,
)
from openbank.platform.principal import PartnerCall

CURRENCY = "CNY"
MAX_LIFETIME = timedelta(days=365)
ACCOUNT_ACCESS_DEFAULT_LIFETIME = timedelta(days=90)
PAYMENT_DEFAULT_LIFETIME = timedelta(days=1)
OPENED_ACCOUNT_PERMISSIONS: tuple[Permission, ...] = (
    "accounts",
    "balances",
    "transactions",
    "top_up",
    "withdraw",
)
# The allowed transitions (the migration's trigger holds the same table).
TRANSITIONS: dict[str, frozenset[str]] = {
    "awaiting_authorisation": frozenset({"authorised", "rejected", "expired"}),
    "authorised": frozenset({"revoked", "expired", "consumed"}),
}
EXPIRE_BATCH = 1000


# -- rows, views and events -----------------------------------------------------------------


def _out(row: models.Consent) -> Consent:
    payment = None
    if row.kind == "payment":
        assert row.payment_amount is not None
        assert row.creditor_e_account_id is not None
        payment = PaymentTerms(
            amount=row.payment_amount,
            currency=row.payment_currency or CURRENCY,
            creditor_e_account_id=row.creditor_e_account_id,
            creditor_name=row.creditor_name or "",
            reference=row.payment_reference or "",
        )
    return Consent(
        id=row.id,
        app_id=row.app_id,
        kind=row.kind,
        status=row.status,
        permissions=row.permissions,
        customer_id=row.customer_id,
        e_account_ids=list(row.e_account_ids),
        payment=payment,
        expires_at=row.expires_at,
        created_at=row.created_at,
        status_updated_at=row.status_updated_at,
        revoked_by=row.revoked_by,
        payment_id=row.payment_id,
    )


def _load(session: Session, consent_id: uuid.UUID, *, lock: bool = False) -> models.Consent | None:
    """One statement by primary key, fresh from the database (never a stale identity map)."""
    query = (
        select(models.Consent)
        .where(models.Consent.id == consent_id)
        .execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def _past_expiry(row: models.Consent, now: datetime) -> bool:
    return row.status in models.OPEN_STATUSES and row.expires_at <= now


def _emit(session: Session, row: models.Consent, event_type: str, now: datetime) -> None:
    payload: dict[str, Any] = {
        "consent_id": str(row.id),
        "kind": row.kind,
        "status": row.status,
        "permissions": list(row.permissions),
        "e_account_ids": [str(i) for i in row.e_account_ids],
    }
    if row.revoked_by is not None:
        payload["revoked_by"] = row.revoked_by
    outbox.emit(session, event_type, f"consents/{row.id}", payload, now, app_id=row.app_id)


def _move_to(
    session: Session, row: models.Consent, status: str, now: datetime, event_type: str | None
) -> None:
    """Change the (locked) row's status if the lifecycle allows it, with its event."""
    if status not in TRANSITIONS.get(row.status, frozenset()):
        raise ConsentStateConflict(
            f"consent {row.id} is {row.status}; it cannot become {status}",
            status_now=row.status,
        )
    row.status = status
    row.status_updated_at = now
    session.flush()
    if event_type is not None:
        _emit(session, row, event_type, now)


def _record_expiry_aside(session: Session, consent_id: uuid.UUID, now: datetime) -> None:
    """Record an expiry found by a read in a transaction of its own, so it survives the
    caller's refusal. A row another transaction holds is skipped (never waited for: it may be
    the caller's own); `expire_due` gets it later, and everyone treats it as expired anyway."""
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    # A transaction of its own even when the caller's engine is in autocommit (the resource
    # check's): the lock, the status and its event commit together or not at all.
    transactional = engine.execution_options(isolation_level="READ COMMITTED")
    with Session(transactional) as aside, aside.begin():
        row = aside.execute(
            select(models.Consent)
            .where(
                models.Consent.id == consent_id,
                models.Consent.status.in_(models.OPEN_STATUSES),
                models.Consent.expires_at <= now,
            )
            .with_for_update(skip_locked=True)
        ).scalar_one_or_none()
        if row is not None:
            _move_to(aside, row, "expired", now, "consent.expired")


def _read(
    session: Session, consent_id: uuid.UUID, now: datetime, *, lock: bool = False
) -> models.Consent | None:
    """The consent row, with a lapsed expiry recorded first; locked when `lock`."""
    row = _load(session, consent_id)
    if row is not None and _past_expiry(row, now):
        _record_expiry_aside(session, row.id, now)
        row = _load(session, consent_id)
    if row is not None and lock:
        row = _load(session, consent_id, lock=True)
    return row


def _refuse_unless_usable(row: models.Consent, now: datetime) -> None:
    """403 unless the consent may be used now (409 once a payment consent has paid)."""
    if row.status == "revoked":
        raise ConsentRevoked(f"consent {row.id} was revoked")
    if row.status == "consumed":
        raise ConsentConsumed(f"payment consent {row.id} was already used")
    if row.status == "expired" or _past_expiry(row, now):
        raise ConsentExpired(f"consent {row.id} expired at {row.expires_at.isoformat()}")
    if row.status != "authorised":
        raise ConsentNotAuthorised(f"consent {row.id} is {row.status}")


def _refuse_unless_awaiting(row: models.Consent, now: datetime) -> None:
    if row.status == "expired" or _past_expiry(row, now):
        raise ConsentExpired(f"consent {row.id} expired at {row.expires_at.isoformat()}")
    if row.status != "awaiting_authorisation":
        raise ConsentStateConflict(
            f"consent {row.id} is {row.status}, not awaiting authorisation",
            status_now=row.status,
        )


def _not_found() -> ConsentNotFound:
    """One answer, whatever the reason, and without echoing the id: an unknown consent,
    another app's and another customer's are indistinguishable."""
    return ConsentNotFound("no such consent for this caller")


def _expiry(requested: datetime | None, default: timedelta, now: datetime) -> datetime:
    expires_at = requested if requested is not None else now + default
    if expires_at <= now or expires_at > now + MAX_LIFETIME:
        raise InvalidExpiration(
            "the expiration must be in the future and at most a year ahead",
            latest=(now + MAX_LIFETIME).isoformat(),
        )
    return expires_at


def _masked_label(e_account: EAccount) -> str:
    return f"{e_account.account_class}类电子账户 ··· {e_account.id.hex[-4:]}"


# -- the authorization server and the consent page ------------------------------------------


def for_authorization(
    session: Session, consent_id: uuid.UUID, app_id: uuid.UUID, now: datetime
) -> Consent:
    """The consent an authorization request names, if it is the app's own and still
    awaiting authorisation; otherwise a consent error (the page shows it, no code issued)."""
    row = _read(session, consent_id, now)
    if row is None or row.app_id != app_id:
        raise _not_found()
    _refuse_unless_awaiting(row, now)
    return _out(row)


def accounts_to_choose(session: Session, customer_id: uuid.UUID) -> list[AccountChoice]:
    """The customer's active e-accounts a consent may cover (the consent page's choices)."""
    return [
        AccountChoice(
            e_account_id=e_account.id,
            account_class=e_account.account_class,
            masked_label=_masked_label(e_account),
            balance=e_account.balance,
        )
        for e_account in customers.e_accounts_of_customer(session, customer_id)
        if e_account.status == "active"
    ]


def _chosen_accounts(
    session: Session,
    row: models.Consent,
    customer_id: uuid.UUID,
    e_account_ids: Sequence[uuid.UUID],
) -> list[uuid.UUID]:
    """The accounts to cover, each an active e-account of `customer_id` (the Open Bank
    Project once let a customer consent for an account that was not theirs). One answer for
    unknown, someone else's and inactive accounts, so the page learns nothing either."""
    chosen = list(dict.fromkeys(e_account_ids))
    if not chosen:
        raise AccountNotEligible("choose at least one account")
    if row.kind == "payment" and len(chosen) != 1:
        raise AccountNotEligible("a payment consent is paid from exactly one account")
    own = {
        e_account.id
        for e_account in customers.e_accounts_of_customer(session, customer_id)
        if e_account.status == "active"
    }
    for e_account_id in chosen:
        if e_account_id not in own or e_account_id == row.creditor_e_account_id:
            raise AccountNotEligible(
                f"account {e_account_id} is not an active account of this customer"
                " that this consent can cover",
                e_account_id=str(e_account_id),
            )
    return chosen


def _same_environment(session: Session, app_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """A sandbox app never reaches a production customer (the sandbox shows one-time codes on
    screen and takes any card), and a production app never a sandbox one."""
    sandbox_app = platform.get_app(session, app_id).environment == "sandbox"
    if customers.get_customer(session, customer_id).sandbox != sandbox_app:
        raise EnvironmentMismatch()


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
    row = _read(session, consent_id, now, lock=True)
    if row is None or row.app_id != app_id:
        raise _not_found()
    _refuse_unless_awaiting(row, now)
    granted: list[str] = [p for p in row.permissions if p in set(permissions)]
    if not granted or not set(permissions) <= set(row.permissions):
        raise InvalidPermissions(
            "grant a non-empty subset of the permissions asked for", requested=row.permissions
        )
    _same_environment(session, app_id, customer_id)
    chosen = _chosen_accounts(session, row, customer_id, e_account_ids)
    row.customer_id = customer_id
    row.e_account_ids = chosen
    row.permissions = granted
    _move_to(session, row, "authorised", now, "consent.authorised")
    return _out(row)


def reject(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    now: datetime,
) -> Consent:
    """The customer refuses (or the flow is abandoned); emits `consent.rejected`."""
    row = _read(session, consent_id, now, lock=True)
    if row is None or row.app_id != app_id:
        raise _not_found()
    _refuse_unless_awaiting(row, now)
    if customer_id is not None:
        row.customer_id = customer_id
    _move_to(session, row, "rejected", now, "consent.rejected")
    return _out(row)


def require_active(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> Consent:
    """Called on every partner call made with a customer token: the consent must be the app's,
    the customer's, authorised and unexpired; else 403 `consent_revoked` / `consent_expired`
    / `consent_not_authorised` (an expired one is marked expired on the way). One query on
    the way through; an unknown consent, another app's or another customer's is a 404."""
    return require_active_row(session, _load(session, consent_id), app_id, customer_id, now)


def require_active_row(
    session: Session,
    row: models.Consent | None,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> Consent:
    """`require_active` on a row the caller already read (the resource check reads it in
    the same statement as the token, to keep every partner call to one round trip)."""
    if row is None or row.app_id != app_id or row.customer_id != customer_id:
        raise _not_found()
    if _past_expiry(row, now):
        _record_expiry_aside(session, row.id, now)
    _refuse_unless_usable(row, now)
    return _out(row)


def list_for_customer(
    session: Session, customer_id: uuid.UUID, now: datetime | None = None
) -> list[Consent]:
    """The customer's consents, newest first (their consent list, and support staff's view).
    With `now`, lapsed ones are recorded expired first, so the list shows what holds."""
    query = (
        select(models.Consent)
        .where(models.Consent.customer_id == customer_id)
        .order_by(models.Consent.id.desc())
    )
    rows = session.execute(query).scalars().all()
    if now is not None and any(_past_expiry(row, now) for row in rows):
        for row in rows:
            if _past_expiry(row, now):
                _record_expiry_aside(session, row.id, now)
        rows = session.execute(query.execution_options(populate_existing=True)).scalars().all()
    return [_out(row) for row in rows]


def _revoke(session: Session, row: models.Consent, by: RevokedBy, now: datetime) -> models.Consent:
    if _past_expiry(row, now):
        raise ConsentStateConflict(f"consent {row.id} has expired", status_now="expired")
    if row.status != "authorised":
        raise ConsentStateConflict(
            f"consent {row.id} is {row.status}; only an authorised consent can be revoked",
            status_now=row.status,
        )
    row.revoked_by = by
    _move_to(session, row, "revoked", now, "consent.revoked")
    return row


def revoke_by_customer(
    session: Session, consent_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> Consent:
    """The customer withdraws the consent; tokens bound to it stop at their next call."""
    row = _read(session, consent_id, now, lock=True)
    if row is None or row.customer_id != customer_id:
        raise _not_found()
    return _out(_revoke(session, row, "customer", now))


def get_consent(session: Session, consent_id: uuid.UUID) -> Consent:
    """Any consent by id, for bank staff (no partner ever reaches this)."""
    row = _load(session, consent_id)
    if row is None:
        raise _not_found()
    return _out(row)


def revoke_by_operator(session: Session, consent_id: uuid.UUID, now: datetime) -> Consent:
    """Bank staff stop a consent (a complaint, suspected fraud)."""
    row = _read(session, consent_id, now, lock=True)
    if row is None:
        raise _not_found()
    return _out(_revoke(session, row, "operator", now))


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
    _same_environment(session, app_id, customer_id)
    try:
        e_account = customers.get_e_account(session, e_account_id)
    except EAccountNotFound:
        e_account = None
    if e_account is None or e_account.customer_id != customer_id or e_account.status != "active":
        raise AccountNotEligible(
            f"account {e_account_id} is not an active account of this customer",
            e_account_id=str(e_account_id),
        )
    row = models.Consent(
        id=new_id(),
        app_id=app_id,
        kind="account_access",
        status="authorised",
        permissions=list(OPENED_ACCOUNT_PERMISSIONS),
        customer_id=customer_id,
        e_account_ids=[e_account_id],
        expires_at=now + MAX_LIFETIME,
        created_at=now,
        status_updated_at=now,
    )
    session.add(row)
    session.flush()
    _emit(session, row, "consent.authorised", now)
    return _out(row)


def expire_due(session: Session, now: datetime, limit: int = EXPIRE_BATCH) -> int:
    """Record every open consent past its expiry as expired, with its `consent.expired`
    event (a periodic job; at most `limit` per call, rows held by others are left for the
    next run). Returns how many it expired."""
    rows = (
        session.execute(
            select(models.Consent)
            .where(
                models.Consent.status.in_(models.OPEN_STATUSES),
                models.Consent.expires_at <= now,
            )
            .order_by(models.Consent.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for row in rows:
        _move_to(session, row, "expired", now, "consent.expired")
    return len(rows)


# -- partner-level calls (client_credentials) -----------------------------------------------


def _require_scope(call: PartnerCall, scope: str) -> None:
    """The router's token check asks for the scope too; this keeps every path (the signed
    gateway included) honest."""
    if scope not in call.scopes:
        raise InsufficientScope(f"this operation needs the scope {scope}", scope=scope)


def create_account_access_consent(
    session: Session, call: PartnerCall, spec: AccountAccessConsentCreate, now: datetime
) -> Consent:
    """A partner asks for access to a customer's accounts; the customer decides later, on
    the bank's consent page."""
    _require_scope(call, "accounts")
    platform.active_app(session, call.app_id)
    row = models.Consent(
        id=new_id(),
        app_id=call.app_id,
        kind="account_access",
        status="awaiting_authorisation",
        permissions=list(dict.fromkeys(spec.permissions)),
        customer_id=None,
        e_account_ids=[],
        expires_at=_expiry(spec.expiration, ACCOUNT_ACCESS_DEFAULT_LIFETIME, now),
        created_at=now,
        status_updated_at=now,
    )
    session.add(row)
    session.flush()
    return _out(row)


def _creditor_name(session: Session, e_account: EAccount) -> str:
    """The payee as the paying customer sees it: an enterprise's name, a person's masked
    to the last character (张三 → *三)."""
    holder = customers.get_customer(session, e_account.customer_id)
    if holder.type == "enterprise":
        return holder.name
    return "*" * (len(holder.name) - 1) + holder.name[-1:]


def create_payment_consent(
    session: Session, call: PartnerCall, spec: PaymentConsentCreate, now: datetime
) -> Consent:
    """A partner asks a customer to pay a fixed amount to a fixed creditor e-account, once."""
    _require_scope(call, "payments")
    if spec.currency != CURRENCY:
        raise UnsupportedCurrency(f"payments are in {CURRENCY}, not {spec.currency}")
    platform.active_app(session, call.app_id)
    try:
        creditor = customers.get_e_account(session, spec.creditor_e_account_id)
    except EAccountNotFound:
        creditor = None
    if (
        creditor is None
        or creditor.status != "active"
        # A sandbox app pays sandbox accounts only (and the other way round); the same answer
        # as for an unknown account, so a sandbox app learns nothing of production accounts.
        or customers.get_customer(session, creditor.customer_id).sandbox
        != (call.environment == "sandbox")
    ):
        raise CreditorAccountInvalid(
            f"e-account {spec.creditor_e_account_id} cannot receive payments"
        )
    row = models.Consent(
        id=new_id(),
        app_id=call.app_id,
        kind="payment",
        status="awaiting_authorisation",
        permissions=["payment"],
        customer_id=None,
        e_account_ids=[],
        payment_amount=spec.amount,
        payment_currency=CURRENCY,
        creditor_e_account_id=creditor.id,
        creditor_name=_creditor_name(session, creditor),
        payment_reference=spec.reference,
        expires_at=_expiry(spec.expiration, PAYMENT_DEFAULT_LIFETIME, now),
        created_at=now,
        status_updated_at=now,
    )
    session.add(row)
    session.flush()
    return _out(row)


def _apps_own(row: models.Consent, call: PartnerCall, kind: ConsentKind) -> bool:
    """The call's app's consent of `kind`; a call made for a customer sees only that
    customer's consents, never the app's others."""
    return (
        row.app_id == call.app_id
        and row.kind == kind
        and (call.customer_id is None or row.customer_id == call.customer_id)
    )


def get_for_app(
    session: Session, call: PartnerCall, consent_id: uuid.UUID, kind: ConsentKind, now: datetime
) -> Consent:
    """The app's own consent of `kind` and its status; anyone else's is a 404."""
    _require_scope(call, "accounts" if kind == "account_access" else "payments")
    row = _read(session, consent_id, now)
    if row is None or not _apps_own(row, call, kind):
        raise _not_found()
    return _out(row)


def revoke_by_partner(
    session: Session, call: PartnerCall, consent_id: uuid.UUID, kind: ConsentKind, now: datetime
) -> Consent:
    """The partner gives up the access (its user disconnected the bank in the app)."""
    _require_scope(call, "accounts" if kind == "account_access" else "payments")
    row = _read(session, consent_id, now, lock=True)
    if row is None or not _apps_own(row, call, kind):
        raise _not_found()
    return _out(_revoke(session, row, "partner", now))


# -- calls on behalf of a customer (authorization-code tokens, signed calls with a consent) --


def call_for_consent(
    session: Session, call: PartnerCall, consent_id: uuid.UUID, now: datetime
) -> PartnerCall:
    """A partner-level call (the signed gateway) made on behalf of the customer of the app's
    consent `consent_id`: the same call bound to that consent and customer, if usable."""
    row = _read(session, consent_id, now)
    if row is None or row.app_id != call.app_id or row.customer_id is None:
        raise _not_found()
    _refuse_unless_usable(row, now)
    return dataclasses.replace(
        call, customer_id=row.customer_id, consent_id=row.id, consent=_out(row)
    )


def _customer_consent(
    session: Session, call: PartnerCall, scope: str, kind: ConsentKind, now: datetime
) -> Consent:
    _require_scope(call, scope)
    if call.consent_id is None or call.customer_id is None:
        raise ConsentRequired()
    consent = call.consent
    if (
        consent is None
        or consent.id != call.consent_id
        or consent.app_id != call.app_id
        or consent.customer_id != call.customer_id
    ):
        consent = require_active(session, call.consent_id, call.app_id, call.customer_id, now)
    if consent.kind != kind:
        raise WrongConsentKind(f"this operation needs an {kind} consent")
    return consent


def _covered_account(
    session: Session,
    call: PartnerCall,
    e_account_id: uuid.UUID,
    scope: str,
    permission: Permission,
    now: datetime,
) -> EAccount:
    """The e-account, if the call's consent covers it (404 otherwise, never a 403 that tells
    it exists) and grants `permission` (403 `permission_not_granted`)."""
    consent = _customer_consent(session, call, scope, "account_access", now)
    if e_account_id not in consent.e_account_ids:
        raise AccountNotFound("no such account under this consent")
    if permission not in consent.permissions:
        raise PermissionNotGranted(
            f"the consent does not grant {permission}", permission=permission
        )
    try:
        e_account = customers.get_e_account(session, e_account_id)
    except EAccountNotFound:
        e_account = None
    if e_account is None or e_account.customer_id != call.customer_id:
        raise AccountNotFound("no such account under this consent")
    return e_account


def _account_view(e_account: EAccount) -> Account:
    return Account(
        id=e_account.id,
        account_class=e_account.account_class,
        currency=e_account.currency,
        status=e_account.status,
        masked_label=_masked_label(e_account),
        bound_card=BoundCardView(
            masked_number=e_account.bound_card.masked_number,
            bank_name=e_account.bound_card.bank_name,
        ),
    )


def list_accounts(session: Session, call: PartnerCall, now: datetime) -> list[Account]:
    """The accounts the call's consent covers (permission `accounts`)."""
    consent = _customer_consent(session, call, "accounts", "account_access", now)
    if "accounts" not in consent.permissions:
        raise PermissionNotGranted("the consent does not grant accounts", permission="accounts")
    return [
        _account_view(e_account)
        for e_account in customers.get_e_accounts(session, consent.e_account_ids)
        if e_account.customer_id == call.customer_id
    ]


def get_account(
    session: Session, call: PartnerCall, e_account_id: uuid.UUID, now: datetime
) -> Account:
    return _account_view(_covered_account(session, call, e_account_id, "accounts", "accounts", now))


def get_balance(
    session: Session, call: PartnerCall, e_account_id: uuid.UUID, now: datetime
) -> Balance:
    e_account = _covered_account(session, call, e_account_id, "accounts", "balances", now)
    return Balance(
        e_account_id=e_account.id,
        currency=e_account.currency,
        balance=e_account.balance,
        available=e_account.available,
        as_of=now,
    )


def list_transactions(
    session: Session,
    call: PartnerCall,
    e_account_id: uuid.UUID,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[Transaction], str | None]:
    """The e-account's statement lines, oldest first, `limit` after `cursor`."""
    e_account = _covered_account(session, call, e_account_id, "accounts", "transactions", now)
    entries, next_cursor = customers.statement(session, e_account.id, cursor, limit)
    return [
        Transaction(
            id=entry.transfer_id,
            seq=entry.seq,
            direction=entry.side,
            status=entry.effect,
            amount=entry.amount,
            currency=e_account.currency,
            balance_after=entry.credits_posted - entry.debits_posted,
            booked_at=entry.created_at,
        )
        for entry in entries
    ], next_cursor


def _funds_view(movement: Movement) -> FundsMovement:
    return FundsMovement(
        id=movement.id,
        e_account_id=movement.e_account_id,
        kind="top_up" if movement.kind == "top_up" else "withdrawal",
        amount=movement.amount,
        currency=movement.currency,
        business_date=movement.business_date,
        created_at=movement.created_at,
    )


def _funds_event(
    session: Session, call: PartnerCall, event_type: str, movement: Movement, now: datetime
) -> None:
    outbox.emit(
        session,
        event_type,
        f"e-accounts/{movement.e_account_id}",
        {
            "movement_id": str(movement.id),
            "e_account_id": str(movement.e_account_id),
            "amount": movement.amount,
            "currency": movement.currency,
            "consent_id": str(call.consent_id),
        },
        now,
        app_id=call.app_id,
    )


def top_up(
    session: Session,
    call: PartnerCall,
    e_account_id: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
) -> FundsMovement:
    """Money in from the e-account's bound card (scope e_accounts, permission top_up)."""
    e_account = _covered_account(session, call, e_account_id, "e_accounts", "top_up", now)
    movement = customers.top_up(session, e_account.id, amount, now, settings)
    _funds_event(session, call, "e_account.top_up.completed", movement, now)
    return _funds_view(movement)


def withdraw(
    session: Session,
    call: PartnerCall,
    e_account_id: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
) -> FundsMovement:
    """Money out to the e-account's bound card (scope e_accounts, permission withdraw)."""
    e_account = _covered_account(session, call, e_account_id, "e_accounts", "withdraw", now)
    movement = customers.withdraw(session, e_account.id, amount, now, settings)
    _funds_event(session, call, "e_account.withdrawal.completed", movement, now)
    return _funds_view(movement)


def make_payment(
    session: Session, call: PartnerCall, spec: PaymentCreate, now: datetime, settings: Settings
) -> Payment:
    """The one payment of the call's payment consent, on exactly its terms, from its debtor
    account; the consent is then consumed, so a second payment is a 409. The consent row is
    locked first: two payments racing on one consent run one after the other."""
    consent = _customer_consent(session, call, "payments", "payment", now)
    if spec.consent_id != consent.id:
        raise _not_found()
    if "payment" not in consent.permissions:
        raise PermissionNotGranted("the consent does not grant payment", permission="payment")
    row = _load(session, consent.id, lock=True)
    assert row is not None
    _refuse_unless_usable(row, now)
    terms = _out(row).payment
    assert terms is not None
    if (spec.amount, spec.currency, spec.creditor_e_account_id, spec.reference) != (
        terms.amount,
        terms.currency,
        terms.creditor_e_account_id,
        terms.reference,
    ):
        raise PaymentDoesNotMatchConsent(
            "amount, currency, creditor and reference must be the consent's",
            consent_id=str(row.id),
        )
    (debtor,) = row.e_account_ids
    movement = customers.transfer(
        session,
        debtor,
        EAccountTransferCreate(to_e_account_id=terms.creditor_e_account_id, amount=terms.amount),
        now,
        settings,
    )
    row.payment_id = movement.id
    _move_to(session, row, "consumed", now, None)
    payment = Payment(
        id=movement.id,
        consent_id=row.id,
        status="completed",
        debtor_e_account_id=debtor,
        creditor_e_account_id=terms.creditor_e_account_id,
        creditor_name=terms.creditor_name,
        amount=terms.amount,
        currency=terms.currency,
        reference=terms.reference,
        created_at=now,
    )
    outbox.emit(
        session,
        "payment.completed",
        f"payments/{payment.id}",
        {
            "payment_id": str(payment.id),
            "consent_id": str(row.id),
            "debtor_e_account_id": str(debtor),
            "creditor_e_account_id": str(terms.creditor_e_account_id),
            "amount": terms.amount,
            "currency": terms.currency,
            "reference": terms.reference,
        },
        now,
        app_id=row.app_id,
    )
    return payment
