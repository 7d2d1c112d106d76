"""The customer's side of the authorization server, as use cases the router calls one at a time.

A browser walks a small state machine kept in `authorization_sessions`:

    authorize:     sign_in --password--> otp --code--> consent --decision--> done
    self_service:  sign_in --password--> otp --code--> signed_in (list and revoke consents)

Every POST names the session by its cookie, carries the session's CSRF token, and must be
the form of the session's current step, so no step can be skipped or replayed. Each use case
runs in one transaction and answers a view (a page, or a redirect); a refused step answers
the same page again with the message instead of raising, so what must stick (a wrong password
counting towards the lock-out, a wrong one-time code counting towards its five tries) is
committed, while the step's own writes are undone through a savepoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import get_args

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbank.core.errors import DomainError
from openbank.customers import service as customers
from openbank.customers.errors import CustomersError
from openbank.platform import otp
from openbank.platform import service as platform
from openbank.platform.consents import service as consents
from openbank.platform.consents.errors import ConsentNotFound
from openbank.platform.consents.schemas import AccountChoice, Consent, Permission
from openbank.platform.errors import OtpInvalid
from openbank.platform.oauth import service as oauth
from openbank.platform.oauth.errors import InvalidAuthorizationRequest
from openbank.platform.signin import models
from openbank.platform.signin.errors import (
    CsrfInvalid,
    InvalidDecision,
    InvalidSelection,
    LoginTaken,
    NotASandboxCustomer,
    NothingSelected,
    ParRequired,
    SessionMissing,
    SigninError,
    SignInFailed,
    WrongStep,
)
from openbank.platform.signin.schemas import (
    ConsentPage,
    Credentials,
    ErrorPage,
    Flow,
    MyConsent,
    MyConsentsPage,
    Notice,
    OtpPage,
    Outcome,
    Redirect,
    Requester,
    SignInPage,
    View,
)

log = structlog.get_logger(__name__)

MAX_FAILED_PASSWORDS = 5
LOCKED_FOR = timedelta(minutes=15)
OTP_PURPOSE = "sign_in"
# "My consents": how long the sign-in steps may take, and how long a signed-in session lasts.
SELF_SERVICE_SIGN_IN_WINDOW = timedelta(minutes=10)
SELF_SERVICE_SESSION = timedelta(minutes=15)
# There is no SMS gateway in this repository: the self-service pages show the code on screen
# (as the sandbox consent pages do). A deployment with an SMS gateway turns this off.
SELF_SERVICE_SANDBOX = True
# Sessions this long past their expiry are deleted when new ones start.
KEEP_EXPIRED = timedelta(hours=1)
SELF_SERVICE_HOME = "/me/consents"
AUTHORIZE_PARAMETERS = frozenset({"client_id", "request_uri"})
PERMISSIONS: frozenset[str] = frozenset(get_args(Permission))

_hasher = PasswordHasher()  # argon2id
_DUMMY_HASH = _hasher.hash("no customer has this password")

# What the pages say (in Chinese) for other areas' error codes; English comes from `detail`.
_ZH = {
    "invalid_request_uri": "授权请求无效、已过期或已使用，请返回应用重新发起",
    "otp_invalid": "验证码错误或已过期",
    "otp_delivery_unavailable": "暂时无法发送短信验证码，请稍后再试",
    "app_not_found": "该应用当前不可用",
    "consent_not_found": "未找到该授权",
    "consent_state_conflict": "该授权当前的状态不允许此操作",
    "consent_expired": "该授权已过期",
    "consent_revoked": "该授权已撤销",
    "account_not_eligible": "所选账户不能用于此授权",
    "invalid_permissions": "所选权限无效",
}


# -- credentials ----------------------------------------------------------------------------


def set_credentials(
    session: Session, customer_id: uuid.UUID, password: str, now: datetime
) -> Credentials:
    """Set (or reset) a customer's sandbox sign-in password; the login is the customer's
    phone. Resetting also lifts a lock-out."""
    customer = customers.get_customer(session, customer_id)
    if not customer.sandbox:
        # The sandbox shows one-time codes on screen: a production customer signing in there
        # would be authorised by a password alone.
        raise NotASandboxCustomer(customer_id=str(customer_id))
    login = customer.phone
    taken = session.execute(
        select(models.CustomerCredential.customer_id).where(
            models.CustomerCredential.login == login,
            models.CustomerCredential.customer_id != customer_id,
        )
    ).first()
    if taken is not None:
        raise LoginTaken(login=login)
    row = session.get(models.CustomerCredential, customer_id, with_for_update=True)
    password_hash = _hasher.hash(password)
    if row is None:
        row = models.CustomerCredential(customer_id=customer_id, created_at=now)
        session.add(row)
    row.login = login
    row.password_hash = password_hash
    row.failed_attempts = 0
    row.locked_until = None
    row.updated_at = now
    try:
        session.flush()
    except IntegrityError as exc:  # another customer took the phone meanwhile
        raise LoginTaken(login=login) from exc
    return Credentials(
        customer_id=row.customer_id,
        login=row.login,
        locked_until=row.locked_until,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def check_password(session: Session, phone: str, password: str, now: datetime) -> uuid.UUID | None:
    """The customer whose phone and password these are, or None: for an unknown phone, a
    wrong password and a locked login alike, with a hash check each time so timing tells
    nothing. A wrong password counts towards the lock-out; the caller commits that even
    though it refuses the sign-in."""
    try:
        login: str | None = customers.validate_mobile_phone(phone)
    except CustomersError:
        login = None
    row = (
        session.execute(
            select(models.CustomerCredential)
            .where(models.CustomerCredential.login == login)
            .with_for_update()
        ).scalar_one_or_none()
        if login is not None
        else None
    )
    if row is not None and row.locked_until is not None and row.locked_until <= now:
        row.locked_until = None
        row.failed_attempts = 0
    if row is None or row.locked_until is not None:
        _verifies(_DUMMY_HASH, password)
        return None
    if not _verifies(row.password_hash, password):
        row.failed_attempts += 1
        if row.failed_attempts >= MAX_FAILED_PASSWORDS:
            row.locked_until = now + LOCKED_FOR
        session.flush()
        return None
    row.failed_attempts = 0
    session.flush()
    return row.customer_id


def _verifies(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- the authorization flow -----------------------------------------------------------------


def start_authorization(
    session: Session, parameters: Sequence[tuple[str, str]], now: datetime
) -> Outcome:
    """GET /oauth2/authorize: only client_id and request_uri (PAR is required); a valid
    pushed request starts a browser session at the sign-in step. Anything wrong is an error
    page: nothing is ever sent to a redirect URI that was not verified."""
    names = [name for name, _ in parameters]
    if set(names) != AUTHORIZE_PARAMETERS or len(names) != len(AUTHORIZE_PARAMETERS):
        return Outcome(_error_page(ParRequired()))
    given = dict(parameters)
    try:
        request = oauth.authorization_request(
            session, given["client_id"], given["request_uri"], now
        )
        app = platform.get_app(session, request.app_id)
        if request.consent_id is not None:
            consents.for_authorization(session, request.consent_id, request.app_id, now)
    except DomainError as exc:
        return Outcome(_error_page(exc))
    _forget_expired(session, now)
    token = secrets.token_urlsafe(32)
    row = models.AuthorizationSession(
        token_sha256=_digest(token),
        flow="authorize",
        step="sign_in",
        csrf_token=secrets.token_urlsafe(32),
        authorization_request_id=request.id,
        app_id=request.app_id,
        app_name=request.app_name,
        partner_name=request.partner_name,
        sandbox=app.environment == "sandbox",
        scopes=sorted(request.scopes),
        consent_id=request.consent_id,
        customer_id=None,
        otp_challenge_id=None,
        sandbox_code=None,
        created_at=now,
        expires_at=request.expires_at,
    )
    session.add(row)
    session.flush()
    return Outcome(SignInPage("authorize", row.csrf_token, _requester(row)), new_session=token)


def sign_in(
    session: Session,
    flow: Flow,
    token: str | None,
    csrf: str,
    phone: str,
    password: str,
    now: datetime,
) -> Outcome:
    """Phone and password; then a one-time code to the customer's phone (on screen in the
    sandbox). Production apps need an SMS gateway: until there is one, a 503 page."""

    def work(row: models.AuthorizationSession) -> View:
        customer_id = check_password(session, phone, password, now)
        if customer_id is None:
            failed = SignInFailed()
            return SignInPage(flow, row.csrf_token, _shown(row), phone, notice_for(failed), 401)
        challenge = otp.issue(session, OTP_PURPOSE, str(customer_id), now, sandbox=row.sandbox)
        row.customer_id = customer_id
        row.otp_challenge_id = challenge.id
        row.sandbox_code = challenge.sandbox_code
        row.step = "otp"
        return OtpPage(flow, row.csrf_token, _shown(row), challenge.sandbox_code)

    return _step(session, flow, token, csrf, "sign_in", now, work)


def verify_code(
    session: Session, flow: Flow, token: str | None, csrf: str, code: str, now: datetime
) -> Outcome:
    """The one-time code; then the consent page (authorize) or the customer's consents."""

    def work(row: models.AuthorizationSession) -> View:
        assert row.otp_challenge_id is not None
        assert row.customer_id is not None
        try:
            otp.verify(
                session, row.otp_challenge_id, OTP_PURPOSE, str(row.customer_id), code.strip(), now
            )
        except OtpInvalid as exc:  # the wrong try is counted: keep it, answer the page again
            return OtpPage(
                flow, row.csrf_token, _shown(row), row.sandbox_code, notice_for(exc), exc.status
            )
        row.sandbox_code = None
        if flow == "self_service":
            row.step = "signed_in"
            row.expires_at = now + SELF_SERVICE_SESSION
            return Redirect(SELF_SERVICE_HOME)
        row.step = "consent"
        try:
            return _consent_page(session, row, now)
        except DomainError as exc:  # the consent moved on meanwhile (expired, say)
            return _error_page(exc)

    return _step(session, flow, token, csrf, "otp", now, work)


def decide(
    session: Session,
    token: str | None,
    csrf: str,
    decision: str,
    e_account_ids: Sequence[str],
    permissions: Sequence[str],
    now: datetime,
) -> Outcome:
    """Approve (possibly narrowed to fewer accounts and permissions) or refuse; then back to
    the app through the authorization server's redirect (code or error, state, iss)."""

    def work(row: models.AuthorizationSession) -> View:
        assert row.authorization_request_id is not None
        assert row.customer_id is not None
        if decision not in {"approve", "refuse"}:
            raise InvalidDecision()
        if decision == "refuse":
            if row.consent_id is not None:
                assert row.app_id is not None
                _reject(session, row.consent_id, row.app_id, row.customer_id, now)
            location = oauth.deny(session, row.authorization_request_id, now)
        else:
            if row.consent_id is not None:
                _authorise(session, row, e_account_ids, permissions, now)
            location = oauth.approve(session, row.authorization_request_id, row.customer_id, now)
        row.step = "done"
        return Redirect(location)

    return _step(session, "authorize", token, csrf, "consent", now, work)


def _reject(
    session: Session,
    consent_id: uuid.UUID,
    app_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> None:
    """Refusing always reaches the app: a consent that stopped awaiting meanwhile (expired,
    say) needs no rejecting, and the error redirect goes back all the same."""
    try:
        with session.begin_nested():
            consents.reject(session, consent_id, app_id, customer_id, now)
    except DomainError:
        log.info("signin.refused_consent_not_awaiting", consent_id=str(consent_id))


def _authorise(
    session: Session,
    row: models.AuthorizationSession,
    e_account_ids: Sequence[str],
    permissions: Sequence[str],
    now: datetime,
) -> None:
    """The consents service checks ownership again; the page only refuses what it never
    offered, and an empty choice (which is a refusal in disguise)."""
    assert row.consent_id is not None
    assert row.app_id is not None
    assert row.customer_id is not None
    consent = consents.for_authorization(session, row.consent_id, row.app_id, now)
    offered = {a.e_account_id for a in _offered_accounts(session, consent, row.customer_id)}
    try:
        accounts = list(dict.fromkeys(uuid.UUID(value) for value in e_account_ids))
    except ValueError as exc:
        raise InvalidSelection() from exc
    chosen = list(dict.fromkeys(permissions))
    if not accounts or not chosen:
        raise NothingSelected(ticked_accounts=len(accounts), ticked_permissions=len(chosen))
    if not set(accounts) <= offered or not set(chosen) <= set(consent.permissions):
        raise InvalidSelection()
    granted = [p for p in consent.permissions if p in chosen]
    consents.authorise(session, row.consent_id, row.app_id, row.customer_id, accounts, granted, now)


# -- "my consents" --------------------------------------------------------------------------


def my_consents(session: Session, token: str | None, now: datetime) -> Outcome:
    """GET /me/consents: the list for a signed-in customer; otherwise the page of the step
    the browser is at, or a new sign-in."""
    row = _find(session, "self_service", token, now)
    if row is not None:
        return Outcome(_current_page(session, row, now))
    _forget_expired(session, now)
    token = secrets.token_urlsafe(32)
    row = models.AuthorizationSession(
        token_sha256=_digest(token),
        flow="self_service",
        step="sign_in",
        csrf_token=secrets.token_urlsafe(32),
        authorization_request_id=None,
        app_id=None,
        app_name=None,
        partner_name=None,
        sandbox=SELF_SERVICE_SANDBOX,
        scopes=[],
        consent_id=None,
        customer_id=None,
        otp_challenge_id=None,
        sandbox_code=None,
        created_at=now,
        expires_at=now + SELF_SERVICE_SIGN_IN_WINDOW,
    )
    session.add(row)
    session.flush()
    return Outcome(SignInPage("self_service", row.csrf_token, None), new_session=token)


def revoke(
    session: Session, token: str | None, csrf: str, consent_id: str, now: datetime
) -> Outcome:
    """The customer withdraws one of their consents; the app's tokens stop at their next call."""

    def work(row: models.AuthorizationSession) -> View:
        assert row.customer_id is not None
        try:
            wanted = uuid.UUID(consent_id)
        except ValueError as exc:
            raise ConsentNotFound() from exc
        consents.revoke_by_customer(session, wanted, row.customer_id, now)
        return Redirect(SELF_SERVICE_HOME)

    return _step(session, "self_service", token, csrf, "signed_in", now, work)


def sign_out(session: Session, token: str | None, csrf: str, now: datetime) -> Outcome:
    """End the self-service session (the cookie is cleared too)."""
    row = _find(session, "self_service", token, now)
    if row is None:
        return Outcome(Redirect(SELF_SERVICE_HOME), end_session=True)
    if not hmac.compare_digest(row.csrf_token.encode(), csrf.encode()):
        return Outcome(_current_page(session, row, now, CsrfInvalid()))
    session.delete(row)
    session.flush()
    return Outcome(Redirect(SELF_SERVICE_HOME), end_session=True)


# -- sessions and pages ---------------------------------------------------------------------


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _find(
    session: Session, flow: Flow, token: str | None, now: datetime
) -> models.AuthorizationSession | None:
    """The browser's live session of this flow, locked for this transaction, or None."""
    if not token:
        return None
    row = session.execute(
        select(models.AuthorizationSession)
        .where(models.AuthorizationSession.token_sha256 == _digest(token))
        .with_for_update()
    ).scalar_one_or_none()
    if row is None or row.flow != flow or row.expires_at <= now:
        return None
    return row


def _forget_expired(session: Session, now: datetime) -> None:
    session.execute(
        delete(models.AuthorizationSession).where(
            models.AuthorizationSession.expires_at < now - KEEP_EXPIRED
        )
    )


def _step(
    session: Session,
    flow: Flow,
    token: str | None,
    csrf: str,
    step: str,
    now: datetime,
    work: Callable[[models.AuthorizationSession], View],
) -> Outcome:
    """Run one form's work for the browser's session: the session must exist, the CSRF token
    match and the session be at `step`. A refusal answers the current page with the message;
    the work's writes are undone (a savepoint), the session's own state is kept."""
    row = _find(session, flow, token, now)
    if row is None:
        restart = SELF_SERVICE_HOME if flow == "self_service" else None
        return Outcome(_error_page(SessionMissing(), restart))
    if not csrf or not hmac.compare_digest(row.csrf_token.encode(), csrf.encode()):
        return Outcome(_current_page(session, row, now, CsrfInvalid()))
    if row.step != step:
        return Outcome(_current_page(session, row, now, WrongStep(step=row.step)))
    try:
        with session.begin_nested():
            view = work(row)
    except (InvalidAuthorizationRequest, otp.OtpDeliveryUnavailable) as exc:
        return Outcome(_error_page(exc))  # nothing the customer can do on this page
    except NothingSelected as exc:
        return Outcome(_current_page(session, row, now, exc, ticked=False))
    except DomainError as exc:
        return Outcome(_current_page(session, row, now, exc))
    if row.step != step:
        # The session moved up (signed in, code confirmed): a new cookie value, so a session
        # token planted in the browser before sign-in is worth nothing (session fixation).
        fresh = secrets.token_urlsafe(32)
        row.token_sha256 = _digest(fresh)
        return Outcome(view, new_session=fresh)
    return Outcome(view)


def _current_page(
    session: Session,
    row: models.AuthorizationSession,
    now: datetime,
    error: DomainError | None = None,
    ticked: bool = True,
) -> View:
    """The page of the step the session is at, with `error` shown on it."""
    notice = notice_for(error) if error is not None else None
    status = error.status if error is not None else 200
    flow: Flow = "self_service" if row.flow == "self_service" else "authorize"
    requester = _shown(row)
    if row.step == "sign_in":
        return SignInPage(flow, row.csrf_token, requester, "", notice, status)
    if row.step == "otp":
        return OtpPage(flow, row.csrf_token, requester, row.sandbox_code, notice, status)
    try:
        if row.step == "consent":
            return _consent_page(session, row, now, notice, status, ticked)
        if row.step == "signed_in":
            return _my_consents_page(session, row, now, notice, status)
    except DomainError as exc:  # the consent moved on meanwhile (expired, revoked...)
        return _error_page(exc)
    return _error_page(WrongStep("This authorization is already finished", step=row.step))


def _consent_page(
    session: Session,
    row: models.AuthorizationSession,
    now: datetime,
    error: Notice | None = None,
    status: int = 200,
    ticked: bool = True,
) -> ConsentPage:
    assert row.app_id is not None
    assert row.customer_id is not None
    consent: Consent | None = None
    accounts: list[AccountChoice] = []
    if row.consent_id is not None:
        consent = consents.for_authorization(session, row.consent_id, row.app_id, now)
        accounts = _offered_accounts(session, consent, row.customer_id)
    return ConsentPage(
        csrf=row.csrf_token,
        requester=_requester(row),
        scopes=list(row.scopes),
        consent=consent,
        accounts=accounts,
        ticked_accounts=frozenset(a.e_account_id for a in accounts) if ticked else frozenset(),
        ticked_permissions=frozenset(consent.permissions if consent and ticked else ()),
        error=error,
        status=status,
    )


def _offered_accounts(
    session: Session, consent: Consent, customer_id: uuid.UUID
) -> list[AccountChoice]:
    """The customer's accounts the consent may cover (a payment never from its payee's)."""
    payee = consent.payment.creditor_e_account_id if consent.payment is not None else None
    return [
        account
        for account in consents.accounts_to_choose(session, customer_id)
        if account.e_account_id != payee
    ]


def _my_consents_page(
    session: Session,
    row: models.AuthorizationSession,
    now: datetime,
    error: Notice | None = None,
    status: int = 200,
) -> MyConsentsPage:
    assert row.customer_id is not None
    labels = {
        a.e_account_id: a.masked_label
        for a in consents.accounts_to_choose(session, row.customer_id)
    }
    requesters: dict[uuid.UUID, Requester] = {}
    listed = []
    for consent in consents.list_for_customer(session, row.customer_id, now):
        if consent.app_id not in requesters:
            app = platform.get_app(session, consent.app_id)
            partner = platform.get_partner(session, app.partner_id)
            requesters[consent.app_id] = Requester(
                app.name, partner.legal_name, app.environment == "sandbox"
            )
        listed.append(
            MyConsent(
                consent=consent,
                requester=requesters[consent.app_id],
                account_labels=[
                    labels.get(e_account_id, f"电子账户 ··· {e_account_id.hex[-4:]}")
                    for e_account_id in consent.e_account_ids
                ],
            )
        )
    return MyConsentsPage(row.csrf_token, listed, error, status)


def _requester(row: models.AuthorizationSession) -> Requester:
    return Requester(row.app_name or "", row.partner_name or "", row.sandbox)


def _shown(row: models.AuthorizationSession) -> Requester | None:
    """The app a sign-in page names: the one asking (authorize), none on "my consents"."""
    return _requester(row) if row.flow == "authorize" else None


def notice_for(error: DomainError) -> Notice:
    """What a page says about `error`: Chinese first, the English detail under it."""
    if isinstance(error, SigninError):
        return Notice(error.zh, error.detail)
    return Notice(_ZH.get(error.code, "请求未能完成"), error.detail)


def _error_page(error: DomainError, restart_url: str | None = None) -> ErrorPage:
    return ErrorPage(notice_for(error), error.status, restart_url)
