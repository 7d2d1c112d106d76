"""/me/consents: the customer signs in (password, one-time code), lists and revokes."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.platform.consents import service as consents
from openbank.platform.consents.schemas import Consent
from tests.platform.signin.support import (
    SandboxCustomer,
    account_consent,
    consent_now,
    csrf_of,
    sandbox_code_of,
    sandbox_customer,
)
from tests.platform.support import PartnerApp, create_app

HOME = "/me/consents"


@pytest.fixture
def app(signin_client: TestClient) -> PartnerApp:
    return create_app(signin_client)


def _authorised(
    db: Database, app: PartnerApp, customer: SandboxCustomer, clock: ShiftedClock
) -> Consent:
    consent = account_consent(db, app, clock.now())
    return unit_of_work(
        db,
        lambda s: consents.authorise(
            s,
            consent.id,
            uuid.UUID(app.app_id),
            uuid.UUID(customer.id),
            [uuid.UUID(customer.e_account_ids[0])],
            ["accounts", "balances"],
            clock.now(),
        ),
    )


def _signed_in(web: TestClient, customer: SandboxCustomer) -> str:
    """Sign in on /me/ with password and code; the list page's HTML."""
    csrf = csrf_of(web.get(HOME).text)
    code_page = web.post(
        "/me/sign-in", data={"phone": customer.phone, "password": customer.password, "csrf": csrf}
    )
    assert code_page.status_code == 200, code_page.text
    verified = web.post("/me/verify", data={"code": sandbox_code_of(code_page.text), "csrf": csrf})
    assert verified.status_code == 303
    assert verified.headers["location"] == HOME
    listed = web.get(HOME)
    assert listed.status_code == 200
    return str(listed.text)


def test_my_consents_starts_with_a_sign_in_and_a_cookie_on_me(web: TestClient) -> None:
    response = web.get(HOME)

    assert response.status_code == 200
    assert 'action="/me/sign-in"' in response.text
    cookie = response.headers["set-cookie"].lower()
    assert "path=/me/" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_my_consents_needs_the_one_time_code_after_the_password(
    signin_client: TestClient, web: TestClient
) -> None:
    customer = sandbox_customer(signin_client)
    csrf = csrf_of(web.get(HOME).text)
    web.post(
        "/me/sign-in", data={"phone": customer.phone, "password": customer.password, "csrf": csrf}
    )

    response = web.get(HOME)

    assert response.status_code == 200
    assert 'action="/me/verify"' in response.text
    assert 'class="who"' not in response.text  # no app is asking here
    assert "撤销授权" not in response.text


def test_my_consents_lists_the_customers_consents(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client, accounts=2)
    consent = _authorised(db, app, customer, clock)
    other = sandbox_customer(signin_client)
    not_theirs = _authorised(db, app, other, clock)

    html = _signed_in(web, customer)

    assert f'id="consent-{consent.id}"' in html
    assert f'id="consent-{not_theirs.id}"' not in html
    assert "测试应用" in html
    assert "测试电商平台有限公司" in html
    assert "查看账户余额" in html
    assert "查看交易明细" not in html  # narrowed away when authorised
    assert customer.e_account_ids[0].replace("-", "")[-4:] in html
    assert "已授权" in html
    assert f'action="/me/consents/{consent.id}/revoke"' in html


def test_revoke_withdraws_the_consent(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    consent = _authorised(db, app, customer, clock)
    csrf = csrf_of(_signed_in(web, customer))

    response = web.post(f"/me/consents/{consent.id}/revoke", data={"csrf": csrf})

    assert response.status_code == 303
    assert response.headers["location"] == HOME
    assert consent_now(db, app, consent, clock.now()).status == "revoked"
    listed = web.get(HOME).text
    assert "已撤销" in listed
    assert f'action="/me/consents/{consent.id}/revoke"' not in listed


def test_revoke_without_the_csrf_token_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    consent = _authorised(db, app, customer, clock)
    _signed_in(web, customer)

    response = web.post(f"/me/consents/{consent.id}/revoke", data={})

    assert response.status_code == 403
    assert consent_now(db, app, consent, clock.now()).status == "authorised"


def test_revoking_another_customers_consent_is_not_found(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    other = sandbox_customer(signin_client)
    theirs = _authorised(db, app, other, clock)
    csrf = csrf_of(_signed_in(web, customer))

    response = web.post(f"/me/consents/{theirs.id}/revoke", data={"csrf": csrf})

    assert response.status_code == 404
    assert consent_now(db, app, theirs, clock.now()).status == "authorised"


def test_revoke_before_signing_in_is_refused(web: TestClient) -> None:
    csrf = csrf_of(web.get(HOME).text)

    response = web.post(f"/me/consents/{uuid.uuid4()}/revoke", data={"csrf": csrf})

    assert response.status_code == 409
    assert 'action="/me/sign-in"' in response.text


def test_sign_out_ends_the_session(signin_client: TestClient, web: TestClient) -> None:
    customer = sandbox_customer(signin_client)
    csrf = csrf_of(_signed_in(web, customer))

    response = web.post("/me/sign-out", data={"csrf": csrf})

    assert response.status_code == 303
    assert 'action="/me/sign-in"' in web.get(HOME).text
