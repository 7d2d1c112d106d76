"""GET /oauth2/authorize and the customer's way through sign-in, one-time code and consent."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.platform.consents.schemas import Consent
from openbank.platform.signin.api import AUTHORIZE_COOKIE
from tests.conftest import AUTH, BASE_URL
from tests.platform.signin.conftest import signin_app
from tests.platform.signin.support import (
    account_consent,
    checkbox_values,
    consent_now,
    csrf_of,
    open_authorize,
    payment_consent,
    push,
    sandbox_code_of,
    sandbox_customer,
    to_consent_page,
)
from tests.platform.support import REDIRECT_URI, PartnerApp, create_app


@pytest.fixture
def app(signin_client: TestClient) -> PartnerApp:
    return create_app(signin_client, products=("e_accounts", "payments", "lending"))


def _pushed(
    signin_client: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> tuple[str, str, Consent]:
    consent = account_consent(db, app, clock.now())
    request_uri, state = push(signin_client, app, settings, clock.now(), consent_id=consent.id)
    return request_uri, state, consent


# -- GET /oauth2/authorize ------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"response_type": "code"},
        {"redirect_uri": REDIRECT_URI},
        {"scope": "accounts"},
        {"code_challenge": "x" * 43},
        {"state": "abc"},
    ],
)
def test_authorize_with_any_other_parameter_is_refused_because_par_is_required(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
    extra: dict[str, str],
) -> None:
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)

    response = web.get(
        "/oauth2/authorize",
        params={"client_id": app.client_id, "request_uri": request_uri, **extra},
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert "/oauth2/par" in response.text
    assert "openbank_authorize" not in response.headers.get("set-cookie", "")


def test_authorize_without_request_uri_is_refused(web: TestClient, app: PartnerApp) -> None:
    response = web.get("/oauth2/authorize", params={"client_id": app.client_id})

    assert response.status_code == 400
    assert "location" not in response.headers


def test_unknown_request_uri_is_an_error_page_without_redirect(
    web: TestClient, app: PartnerApp
) -> None:
    response = web.get(
        "/oauth2/authorize",
        params={
            "client_id": app.client_id,
            "request_uri": "urn:ietf:params:oauth:request_uri:unknown",
        },
    )

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "授权请求无效" in response.text
    assert REDIRECT_URI not in response.text


def test_expired_request_uri_is_an_error_page_without_redirect(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    clock.advance(timedelta(seconds=settings.oauth_request_uri_seconds + 1))

    response = web.get(
        "/oauth2/authorize", params={"client_id": app.client_id, "request_uri": request_uri}
    )

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "expired" in response.text


def test_request_uri_of_another_client_is_an_error_page(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    other = create_app(signin_client)

    response = web.get(
        "/oauth2/authorize", params={"client_id": other.client_id, "request_uri": request_uri}
    )

    assert response.status_code == 400
    assert "location" not in response.headers


def test_sign_in_page_names_the_app_and_partner_and_sets_a_strict_cookie(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)

    response = open_authorize(web, app, request_uri)

    assert "测试应用" in response.text
    assert "测试电商平台有限公司" in response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/oauth2/" in cookie
    assert "secure" not in cookie  # the issuer here is http://127.0.0.1
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


# -- CSRF and steps -------------------------------------------------------------------------


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"])
def test_sign_in_without_the_right_csrf_token_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
    csrf: str | None,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    open_authorize(web, app, request_uri)
    form = {"phone": customer.phone, "password": customer.password}
    if csrf is not None:
        form["csrf"] = csrf

    response = web.post("/oauth2/authorize/sign-in", data=form)

    assert response.status_code == 403
    assert "表单已失效" in response.text
    assert 'id="sandbox-code"' not in response.text


def test_decision_with_a_wrong_csrf_token_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)
    to_consent_page(web, app, request_uri, customer)

    response = web.post(
        "/oauth2/authorize/decision",
        data={
            "decision": "approve",
            "e_account_ids": customer.e_account_ids,
            "permissions": ["accounts"],
            "csrf": "forged",
        },
    )

    assert response.status_code == 403
    assert "location" not in response.headers
    assert consent_now(db, app, consent, clock.now()).status == "awaiting_authorisation"


def test_decision_without_a_session_cookie_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)
    web.cookies.clear()

    response = web.post(
        "/oauth2/authorize/decision",
        data={"decision": "approve", "e_account_ids": customer.e_account_ids, "csrf": csrf},
    )

    assert response.status_code == 400
    assert "location" not in response.headers


def test_decision_before_the_one_time_code_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)
    csrf = csrf_of(open_authorize(web, app, request_uri).text)
    signed_in = web.post(
        "/oauth2/authorize/sign-in",
        data={"phone": customer.phone, "password": customer.password, "csrf": csrf},
    )
    assert signed_in.status_code == 200

    response = web.post(
        "/oauth2/authorize/decision",
        data={
            "decision": "approve",
            "e_account_ids": customer.e_account_ids,
            "permissions": ["accounts"],
            "csrf": csrf,
        },
    )

    assert response.status_code == 409
    assert "location" not in response.headers
    assert "输入验证码" in response.text  # the code step is shown again
    assert consent_now(db, app, consent, clock.now()).status == "awaiting_authorisation"


def test_decision_right_after_opening_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    csrf = csrf_of(open_authorize(web, app, request_uri).text)

    response = web.post("/oauth2/authorize/decision", data={"decision": "approve", "csrf": csrf})

    assert response.status_code == 409
    assert "location" not in response.headers


def test_a_wrong_one_time_code_is_refused_and_the_right_one_still_works(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    csrf = csrf_of(open_authorize(web, app, request_uri).text)
    signed_in = web.post(
        "/oauth2/authorize/sign-in",
        data={"phone": customer.phone, "password": customer.password, "csrf": csrf},
    )
    code = sandbox_code_of(signed_in.text)
    wrong = "000000" if code != "000000" else "111111"

    refused = web.post("/oauth2/authorize/verify", data={"code": wrong, "csrf": csrf})
    accepted = web.post("/oauth2/authorize/verify", data={"code": code, "csrf": csrf})

    assert refused.status_code == 401
    assert "验证码错误" in refused.text
    assert accepted.status_code == 200
    assert "授权确认" in accepted.text


def test_five_wrong_one_time_codes_use_the_code_up(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    csrf = csrf_of(open_authorize(web, app, request_uri).text)
    signed_in = web.post(
        "/oauth2/authorize/sign-in",
        data={"phone": customer.phone, "password": customer.password, "csrf": csrf},
    )
    code = sandbox_code_of(signed_in.text)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert (
            web.post("/oauth2/authorize/verify", data={"code": wrong, "csrf": csrf}).status_code
            == 401
        )

    response = web.post("/oauth2/authorize/verify", data={"code": code, "csrf": csrf})

    assert response.status_code == 401
    assert "授权确认" not in response.text


def test_a_production_app_without_an_sms_gateway_gets_a_503_page(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    app = create_app(signin_client, environment="production")
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    csrf = csrf_of(open_authorize(web, app, request_uri).text)

    response = web.post(
        "/oauth2/authorize/sign-in",
        data={"phone": customer.phone, "password": customer.password, "csrf": csrf},
    )

    assert response.status_code == 503
    assert "短信验证码" in response.text
    assert 'id="sandbox-code"' not in response.text


# -- the consent page and the decision ------------------------------------------------------


def test_consent_page_lists_the_permissions_accounts_and_expiry(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client, accounts=2)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)

    page, _ = to_consent_page(web, app, request_uri, customer)

    assert "查看账户余额" in page.text
    assert "See your transactions" in page.text
    assert sorted(checkbox_values(page.text, "e_account_ids")) == sorted(customer.e_account_ids)
    assert sorted(checkbox_values(page.text, "permissions")) == sorted(consent.permissions)
    assert consent.expires_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M") in page.text


def test_payment_consent_page_shows_amount_payee_and_reference(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    payee = sandbox_customer(signin_client)
    consent = payment_consent(
        db, app, clock.now(), payee.e_account_ids[0], 123456, "订单 20261125-0001"
    )
    request_uri, _ = push(
        signin_client, app, settings, clock.now(), scope="payments", consent_id=consent.id
    )

    page, _ = to_consent_page(web, app, request_uri, customer)

    assert "¥1,234.56" in page.text
    assert "订单 20261125-0001" in page.text
    assert "*三" in page.text  # the payee, a person, masked
    assert checkbox_values(page.text, "e_account_ids") == customer.e_account_ids


def test_approve_redirects_to_the_app_with_code_state_and_iss(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, state, consent = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)

    response = web.post(
        "/oauth2/authorize/decision",
        data={
            "decision": "approve",
            "e_account_ids": customer.e_account_ids,
            "permissions": list(consent.permissions),
            "csrf": csrf,
        },
    )

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    query = parse_qs(location.query)
    assert query["code"][0]
    assert query["state"] == [state]
    assert query["iss"] == [settings.public_url]
    assert consent_now(db, app, consent, clock.now()).status == "authorised"


def test_narrowing_to_one_of_two_accounts_covers_only_that_account(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client, accounts=2)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)
    kept = customer.e_account_ids[1]

    response = web.post(
        "/oauth2/authorize/decision",
        data={
            "decision": "approve",
            "e_account_ids": [kept],
            "permissions": ["accounts", "balances"],
            "csrf": csrf,
        },
    )

    assert response.status_code == 303
    stored = consent_now(db, app, consent, clock.now())
    assert [str(e) for e in stored.e_account_ids] == [kept]
    assert stored.permissions == ["accounts", "balances"]


def test_ticking_nothing_shows_the_page_again_with_an_error(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)

    response = web.post(
        "/oauth2/authorize/decision",
        data={"decision": "approve", "permissions": ["accounts"], "csrf": csrf},
    )

    assert response.status_code == 422
    assert "请至少勾选一个账户" in response.text
    assert "授权确认" in response.text
    assert consent_now(db, app, consent, clock.now()).status == "awaiting_authorisation"


def test_an_account_of_another_customer_is_refused(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    stranger = sandbox_customer(signin_client)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)

    response = web.post(
        "/oauth2/authorize/decision",
        data={
            "decision": "approve",
            "e_account_ids": [stranger.e_account_ids[0]],
            "permissions": ["accounts"],
            "csrf": csrf,
        },
    )

    assert response.status_code == 422
    assert "location" not in response.headers
    assert consent_now(db, app, consent, clock.now()).status == "awaiting_authorisation"


def test_refuse_redirects_with_access_denied_and_rejects_the_consent(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, state, consent = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)

    response = web.post("/oauth2/authorize/decision", data={"decision": "refuse", "csrf": csrf})

    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]
    assert query["iss"] == [settings.public_url]
    assert "code" not in query
    assert consent_now(db, app, consent, clock.now()).status == "rejected"


def test_refusing_a_consent_that_expired_meanwhile_still_answers_access_denied(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    consent = account_consent(db, app, clock.now(), expiration=clock.now() + timedelta(seconds=30))
    request_uri, state = push(signin_client, app, settings, clock.now(), consent_id=consent.id)
    _, csrf = to_consent_page(web, app, request_uri, customer)
    clock.advance(timedelta(seconds=31))

    response = web.post("/oauth2/authorize/decision", data={"decision": "refuse", "csrf": csrf})

    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [state]


def test_the_session_ends_with_the_authorization_request(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, consent = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)
    clock.advance(timedelta(seconds=settings.oauth_request_uri_seconds + 1))

    response = web.post(
        "/oauth2/authorize/decision",
        data={
            "decision": "approve",
            "e_account_ids": customer.e_account_ids,
            "permissions": ["accounts"],
            "csrf": csrf,
        },
    )

    assert response.status_code == 400
    assert "location" not in response.headers
    assert "登录会话已结束" in response.text
    assert consent_now(db, app, consent, clock.now()).status == "awaiting_authorisation"


def test_the_session_cannot_decide_twice(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)
    form = {
        "decision": "approve",
        "e_account_ids": customer.e_account_ids,
        "permissions": ["accounts"],
        "csrf": csrf,
    }
    assert web.post("/oauth2/authorize/decision", data=form).status_code == 303

    again = web.post("/oauth2/authorize/decision", data=form)

    assert again.status_code == 409
    assert "location" not in again.headers


def test_a_used_request_uri_cannot_start_again(
    signin_client: TestClient,
    web: TestClient,
    db: Database,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, _, _ = _pushed(signin_client, db, app, settings, clock)
    _, csrf = to_consent_page(web, app, request_uri, customer)
    web.post("/oauth2/authorize/decision", data={"decision": "refuse", "csrf": csrf})

    response = web.get(
        "/oauth2/authorize", params={"client_id": app.client_id, "request_uri": request_uri}
    )

    assert response.status_code == 400
    assert "location" not in response.headers


def test_scope_only_authorization_shows_the_scopes_and_approves(
    signin_client: TestClient,
    web: TestClient,
    app: PartnerApp,
    settings: Settings,
    clock: ShiftedClock,
) -> None:
    customer = sandbox_customer(signin_client)
    request_uri, state = push(signin_client, app, settings, clock.now(), scope="lending")
    page, csrf = to_consent_page(web, app, request_uri, customer)
    assert "办理贷款业务" in page.text
    assert checkbox_values(page.text, "e_account_ids") == []

    response = web.post("/oauth2/authorize/decision", data={"decision": "approve", "csrf": csrf})

    assert response.status_code == 303
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["code"][0]
    assert query["state"] == [state]


def test_a_session_cookie_planted_before_sign_in_cannot_decide_afterwards(
    db: Database, settings: Settings, client: TestClient
) -> None:
    """Session fixation: the cookie value changes when the customer signs in and again when
    the code is confirmed, so whoever planted the first value holds nothing."""
    clock = client.app.state.clock  # type: ignore[attr-defined]
    with (
        TestClient(
            signin_app(settings, clock), headers=AUTH, base_url=BASE_URL, follow_redirects=False
        ) as attacker,
        TestClient(
            signin_app(settings, clock), headers=AUTH, base_url=BASE_URL, follow_redirects=False
        ) as victim,
    ):
        app = create_app(attacker, products=("e_accounts",))
        customer = sandbox_customer(attacker)
        consent = account_consent(db, app, clock.now())
        request_uri, _ = push(attacker, app, settings, clock.now(), consent_id=consent.id)
        page = open_authorize(attacker, app, request_uri)
        planted = attacker.cookies.get(AUTHORIZE_COOKIE)
        csrf = csrf_of(page.text)
        victim.cookies.set(AUTHORIZE_COOKIE, planted, path="/oauth2/")
        signed_in = victim.post(
            "/oauth2/authorize/sign-in",
            data={"phone": customer.phone, "password": customer.password, "csrf": csrf},
        )
        confirmed = victim.post(
            "/oauth2/authorize/verify",
            data={"code": sandbox_code_of(signed_in.text), "csrf": csrf},
        )
        accounts = checkbox_values(confirmed.text, "e_account_ids")

        response = attacker.post(
            "/oauth2/authorize/decision",
            data={"decision": "approve", "csrf": csrf, "e_account_ids": accounts,
                  "permissions": ["accounts"]},
        )  # fmt: skip

    assert response.status_code != 303
    assert "code=" not in response.headers.get("location", "")
