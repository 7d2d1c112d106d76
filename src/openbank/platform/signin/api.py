"""HTTP endpoints of the customer sign-in: the operator sets sandbox credentials; browsers get
server-rendered pages (the authorization flow under /oauth2/, "my consents" under /me/).

Each handler parses, calls one service function in one unit of work and renders the view it
gets back; the pages answer errors as pages (4xx), never as JSON."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Cookie, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    DatabaseDep,
    OperatorIdentity,
    SettingsDep,
    operator_with,
)
from openbank.core.settings import Settings
from openbank.platform.signin import pages, service
from openbank.platform.signin.schemas import Credentials, CredentialsSet, ErrorPage, Outcome

router = APIRouter()
CustomerSupport = Annotated[OperatorIdentity, operator_with("operations")]

AUTHORIZE_COOKIE = "openbank_authorize"
AUTHORIZE_PATH = "/oauth2/"
SELF_SERVICE_COOKIE = "openbank_me"
SELF_SERVICE_PATH = "/me/"

FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form(default_factory=list)]
AuthorizeCookie = Annotated[str | None, Cookie(alias=AUTHORIZE_COOKIE)]
SelfServiceCookie = Annotated[str | None, Cookie(alias=SELF_SERVICE_COOKIE)]
TAGS: list[str | Enum] = ["customer pages"]


def _respond(outcome: Outcome, settings: Settings, cookie: str, path: str) -> Response:
    response = pages.render(outcome.view, settings.tz)
    secure = settings.public_url.startswith("https://")
    if outcome.new_session is not None:
        response.set_cookie(
            cookie, outcome.new_session, path=path, httponly=True, samesite="lax", secure=secure
        )
    if outcome.end_session:
        response.delete_cookie(cookie, path=path, httponly=True, samesite="lax", secure=secure)
    return response


def _page_error(exc: DomainError, settings: Settings) -> Response:
    """A domain error the service did not turn into a page itself: still a page."""
    return pages.render(ErrorPage(service.notice_for(exc), exc.status), settings.tz)


def _page(
    db: Database,
    settings: Settings,
    cookie: str,
    path: str,
    step: Callable[[Session], Outcome],
) -> Response:
    """Run one step of a page flow in a unit of work and render what it answers."""
    try:
        outcome = unit_of_work(db, step)
    except DomainError as exc:
        return _page_error(exc, settings)
    return _respond(outcome, settings, cookie, path)


# -- operator -------------------------------------------------------------------------------


@router.post(
    "/v1/sandbox/customers/{customer_id}/credentials",
    tags=["sandbox"],
    responses=PROBLEM_RESPONSES,
)
def set_credentials(
    customer_id: uuid.UUID,
    body: CredentialsSet,
    _: CustomerSupport,
    db: DatabaseDep,
    clock: ClockDep,
) -> Credentials:
    """Set a customer's sign-in password for the consent pages (login: their mobile phone)."""
    return unit_of_work(
        db, lambda s: service.set_credentials(s, customer_id, body.password, clock.now())
    )


# -- the authorization flow -----------------------------------------------------------------


@router.get("/oauth2/authorize", response_class=HTMLResponse, tags=TAGS)
def authorize(
    request: Request, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """Start of the customer's authorization: only `client_id` and `request_uri` (from
    /oauth2/par) are accepted. Answers the sign-in page; an invalid request is an error page
    (400), never a redirect."""
    parameters = list(request.query_params.multi_items())
    return _page(
        db,
        settings,
        AUTHORIZE_COOKIE,
        AUTHORIZE_PATH,
        lambda s: service.start_authorization(s, parameters, clock.now()),
    )


@router.post("/oauth2/authorize/sign-in", response_class=HTMLResponse, tags=TAGS)
def authorize_sign_in(
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: AuthorizeCookie = None,
    phone: FormText = "",
    password: FormText = "",
    csrf: FormText = "",
) -> Response:
    """Phone and password; answers the one-time-code step."""
    return _page(
        db,
        settings,
        AUTHORIZE_COOKIE,
        AUTHORIZE_PATH,
        lambda s: service.sign_in(s, "authorize", token, csrf, phone, password, clock.now()),
    )


@router.post("/oauth2/authorize/verify", response_class=HTMLResponse, tags=TAGS)
def authorize_verify(
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: AuthorizeCookie = None,
    code: FormText = "",
    csrf: FormText = "",
) -> Response:
    """The one-time code; answers the consent page."""
    return _page(
        db,
        settings,
        AUTHORIZE_COOKIE,
        AUTHORIZE_PATH,
        lambda s: service.verify_code(s, "authorize", token, csrf, code, clock.now()),
    )


@router.post("/oauth2/authorize/decision", response_class=HTMLResponse, tags=TAGS)
def authorize_decision(
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    e_account_ids: FormList,
    permissions: FormList,
    token: AuthorizeCookie = None,
    decision: FormText = "",
    csrf: FormText = "",
) -> Response:
    """Approve (with the ticked accounts and permissions) or refuse: 303 to the app's
    redirect URI with the authorization response."""
    return _page(
        db,
        settings,
        AUTHORIZE_COOKIE,
        AUTHORIZE_PATH,
        lambda s: service.decide(s, token, csrf, decision, e_account_ids, permissions, clock.now()),
    )


# -- "my consents" --------------------------------------------------------------------------


@router.get("/me/consents", response_class=HTMLResponse, tags=TAGS)
def my_consents(
    db: DatabaseDep, clock: ClockDep, settings: SettingsDep, token: SelfServiceCookie = None
) -> Response:
    """The customer's consents, with a Revoke button; a sign-in first."""
    return _page(
        db,
        settings,
        SELF_SERVICE_COOKIE,
        SELF_SERVICE_PATH,
        lambda s: service.my_consents(s, token, clock.now()),
    )


@router.post("/me/sign-in", response_class=HTMLResponse, tags=TAGS)
def me_sign_in(
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: SelfServiceCookie = None,
    phone: FormText = "",
    password: FormText = "",
    csrf: FormText = "",
) -> Response:
    return _page(
        db,
        settings,
        SELF_SERVICE_COOKIE,
        SELF_SERVICE_PATH,
        lambda s: service.sign_in(s, "self_service", token, csrf, phone, password, clock.now()),
    )


@router.post("/me/verify", response_class=HTMLResponse, tags=TAGS)
def me_verify(
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: SelfServiceCookie = None,
    code: FormText = "",
    csrf: FormText = "",
) -> Response:
    return _page(
        db,
        settings,
        SELF_SERVICE_COOKIE,
        SELF_SERVICE_PATH,
        lambda s: service.verify_code(s, "self_service", token, csrf, code, clock.now()),
    )


@router.post("/me/consents/{consent_id}/revoke", response_class=HTMLResponse, tags=TAGS)
def me_revoke(
    consent_id: str,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: SelfServiceCookie = None,
    csrf: FormText = "",
) -> Response:
    """Revoke one of the customer's consents; back to the list (303)."""
    return _page(
        db,
        settings,
        SELF_SERVICE_COOKIE,
        SELF_SERVICE_PATH,
        lambda s: service.revoke(s, token, csrf, consent_id, clock.now()),
    )


@router.post("/me/sign-out", response_class=HTMLResponse, tags=TAGS)
def me_sign_out(
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: SelfServiceCookie = None,
    csrf: FormText = "",
) -> Response:
    return _page(
        db,
        settings,
        SELF_SERVICE_COOKIE,
        SELF_SERVICE_PATH,
        lambda s: service.sign_out(s, token, csrf, clock.now()),
    )
