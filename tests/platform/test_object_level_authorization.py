"""Object-level authorization over EVERY partner-facing endpoint (/v1/open/... and the signed
gateway POST /v1/gateway), in one matrix.

The victim is a customer of partner A's app: e-accounts opened at the bank and one opened
through the signed gateway, an authorised account-access consent, a payment consent, and app
A's webhook endpoint with its deliveries. Two attackers call every endpoint with the victim's
ids (in the path, in the JSON body, or inside the gateway's biz_content):

- "other partner": partner B's app, with its client_credentials token, a customer token of its
  own customer (under that customer's own consents) and its own signed-gateway keys;
- "same app, other customer": partner A's same app, acting for another of A's customers (a
  customer token under that customer's own consent; on the gateway, that customer's consent).

Each call must be refused with 403 or 404 (a one-time code that is not the caller's: 401
otp_invalid, like any wrong code; never 2xx, never 5xx), the answer must hold none of the
victim's data, and nothing of the victim's may change (balances and movements, consents and
their statuses, app A's webhook endpoints, deliveries and events, the one-time code named,
partner A's merchant's orders, refunds and flow counters).
Endpoints that take no object id are called too, with the check that applies to them (the
caller sees only its own objects). `test_every_partner_endpoint_is_in_the_matrix` enumerates
the application's routes: a partner endpoint (or gateway method) added later without a row
here fails it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.platform.models import OneTimeCode
from openbank.platform.signed.service import METHODS
from tests.customers.helpers import card_number, resident_id
from tests.platform.consents.support import Bank
from tests.platform.matrix_support import (
    GATEWAY_BALANCE,
    VICTIM_BALANCE,
    Actor,
    World,
    Worlds,
    partner_routes,
    snapshot,
)
from tests.platform.signed import support as signed
from tests.platform.signed.support import new_phone

OTHER = "other partner"
SAME = "same app, other customer"
ATTACKERS = (OTHER, SAME)
REFUSED = (403, 404)
# A one-time code that is not the caller's is answered like any wrong code: 401 otp_invalid.
CODE_REFUSED = (401, 403, 404)

Body = Callable[[World, Actor], dict[str, Any]]

# A strict xfail marks a known hole: once closed, its case passes and fails the suite until
# the `gap` is removed. (One-time codes were not bound to the app that asked for them: partner
# B could redeem or burn a challenge of partner A's app. Closed: the code's purpose names the
# app.)


# -- what the attackers send ----------------------------------------------------------------


def _victims(world: World, name: str) -> str:
    """The victim's object named in a path parameter."""
    objects = {
        "access_consent": str(world.victim.access_consent),
        "payment_consent": str(world.victim.payment_consent),
        "e_account": str(world.victim.person.e_account_ids[0]),
        "endpoint": world.endpoint_id,
        "delivery": world.delivery_ids[0],
        "merchant": str(world.shop.merchant_id),
        "unpaid_order": str(world.shop.unpaid),
        "authorized_order": str(world.shop.authorized),
        "captured_order": str(world.shop.captured),
        "captured_out_trade_no": world.shop.out_trade_nos[2],
    }
    return objects[name]


def _amount(world: World, attacker: Actor) -> dict[str, Any]:
    return {"amount": 100}


def _victims_payment(world: World, attacker: Actor) -> dict[str, Any]:
    """The victim's payment consent and its exact terms."""
    return dict(world.victim.payment_request)


def _access_consent(world: World, attacker: Actor) -> dict[str, Any]:
    return {"permissions": ["accounts", "balances", "transactions"]}


def _payment_consent(world: World, attacker: Actor) -> dict[str, Any]:
    return {
        "amount": 100,
        "currency": "CNY",
        "creditor_e_account_id": str(world.payee.e_account_ids[0]),
        "reference": "矩阵 0001",
    }


def _payment_consent_to_the_victim(world: World, attacker: Actor) -> dict[str, Any]:
    return {
        **_payment_consent(world, attacker),
        "creditor_e_account_id": _victims(world, "e_account"),
    }


def _webhook_endpoint(world: World, attacker: Actor) -> dict[str, Any]:
    return {"url": f"http://127.0.0.1:9/hooks/{uuid.uuid4().hex}", "event_types": ["*"]}


def _victims_phone(world: World, attacker: Actor) -> dict[str, Any]:
    return {"phone": world.victim.person.phone}


def _challenge_of_the_victims_app(world: World) -> tuple[str, dict[str, Any]]:
    """A one-time code app A asked for (for a new user's phone): its code and an opening."""
    victim = world.victim
    phone = new_phone()
    sent = victim.partner.post(victim.app_token, "/v1/open/otp-challenges", {"phone": phone})
    assert sent.status_code == 201, sent.text
    code = str(sent.json()["sandbox_code"])
    return code, {
        "name": "诸葛新人",
        "id_number": resident_id(),
        "phone": phone,
        "otp_challenge_id": str(sent.json()["challenge_id"]),
        "otp_code": code,
        "bound_card": {"number": card_number(), "bank_name": "招商银行"},
    }


def _opening_with_the_victim_apps_code(world: World, attacker: Actor) -> dict[str, Any]:
    """The worst case: the attacker even knows the code app A's user received."""
    return _challenge_of_the_victims_app(world)[1]


def _opening_guessing_the_victim_apps_code(world: World, attacker: Actor) -> dict[str, Any]:
    code, body = _challenge_of_the_victims_app(world)
    return {**body, "otp_code": "000000" if code != "000000" else "111111"}


def _order(world: World, attacker: Actor) -> dict[str, Any]:
    return {
        "out_trade_no": f"M{uuid.uuid4().hex[:16]}",
        "amount": 100,
        "currency": "CNY",
        "description": "矩阵订单",
    }


def _capture(world: World, attacker: Actor) -> dict[str, Any]:
    return {}


def _refund(world: World, attacker: Actor) -> dict[str, Any]:
    return {"out_refund_no": f"M{uuid.uuid4().hex[:16]}", "amount": 100}


def _victims_gateway_consent(world: World, attacker: Actor) -> dict[str, Any]:
    victim = world.victim.person
    return {
        "consent_id": str(victim.gateway_consent),
        "e_account_id": str(victim.gateway_e_account),
    }


def _victims_oauth_consent(world: World, attacker: Actor) -> dict[str, Any]:
    return {
        "consent_id": str(world.victim.access_consent),
        "e_account_id": _victims(world, "e_account"),
    }


def _own_consent_victims_account(world: World, attacker: Actor) -> dict[str, Any]:
    return {
        "consent_id": str(attacker.gateway_consent),
        "e_account_id": str(world.victim.person.gateway_e_account),
    }


# -- the matrix -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One call of the matrix: `attacker` calls `method path` with its `token`, naming the
    victim's objects (`params`: path parameter -> victim's object; `body`), and expects one
    of `expect`. For the gateway, `gateway` is the signed method and `body` its biz_content.
    `own` rows take no object of the victim's: the call may succeed but must show nothing
    of the victim's (the caller's own objects only)."""

    method: str
    path: str
    attacker: str
    token: str = "app"  # app (client_credentials) | accounts | payments | signed
    expect: tuple[int, ...] = REFUSED
    params: tuple[tuple[str, str], ...] = ()
    body: Body | None = None
    gateway: str = ""
    variant: str = ""
    gap: str = ""  # a known hole: the case is a strict xfail with this description
    query: tuple[tuple[str, str], ...] = ()  # query parameter -> victim's object

    @property
    def route(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def id(self) -> str:
        name = f"{self.method} {self.path}" + (f" {self.gateway}" if self.gateway else "")
        return name + f" as {self.attacker}" + (f" ({self.variant})" if self.variant else "")


def _both(
    method: str,
    path: str,
    tokens: tuple[str, str],
    *,
    params: tuple[tuple[str, str], ...] = (),
    body: Body | None = None,
    expect: tuple[int, ...] = REFUSED,
    variant: str = "",
    query: tuple[tuple[str, str], ...] = (),
) -> list[Case]:
    """The same call by both attackers, with their tokens (other partner's, same app's)."""
    return [
        Case(method, path, who, token, expect, params, body, variant=variant, query=query)
        for who, token in zip(ATTACKERS, tokens, strict=True)
    ]


ACCESS = (("consent_id", "access_consent"),)
PAYMENT = (("consent_id", "payment_consent"),)
ACCOUNT = (("e_account_id", "e_account"),)
MERCHANT = (("merchant_id", "merchant"),)
ACQUIRING = "/v1/open/acquiring"
BY_ID: list[Case] = [
    # consents: B's partner-level token; A's token for another customer (its own consent).
    *_both("GET", "/v1/open/account-access-consents/{consent_id}", ("app", "accounts"),
           params=ACCESS),
    *_both("DELETE", "/v1/open/account-access-consents/{consent_id}", ("app", "accounts"),
           params=ACCESS),
    *_both("GET", "/v1/open/payment-consents/{consent_id}", ("app", "payments"),
           params=PAYMENT),
    # accounts: customer tokens under the attacker's own account-access consent.
    *_both("GET", "/v1/open/accounts/{e_account_id}", ("accounts", "accounts"), params=ACCOUNT),
    *_both("GET", "/v1/open/accounts/{e_account_id}/balances", ("accounts", "accounts"),
           params=ACCOUNT),
    *_both("GET", "/v1/open/accounts/{e_account_id}/transactions", ("accounts", "accounts"),
           params=ACCOUNT),
    *_both("POST", "/v1/open/accounts/{e_account_id}/top-ups", ("accounts", "accounts"),
           params=ACCOUNT, body=_amount),
    *_both("POST", "/v1/open/accounts/{e_account_id}/withdrawals", ("accounts", "accounts"),
           params=ACCOUNT, body=_amount),
    # payments: the victim's payment consent and terms in the body, the attacker's own
    # payment-consent token.
    *_both("POST", "/v1/open/payments", ("payments", "payments"), body=_victims_payment),
    # webhooks: app A's endpoint and delivery. They are the app's, not a customer's: A's
    # own tokens may manage them, so only another partner is an attacker here.
    Case("GET", "/v1/open/webhook-deliveries/{delivery_id}", OTHER,
         params=(("delivery_id", "delivery"),)),
    Case("DELETE", "/v1/open/webhook-endpoints/{endpoint_id}", OTHER,
         params=(("endpoint_id", "endpoint"),)),
    # remote opening: a one-time code app A asked for, redeemed by another partner.
    Case("POST", "/v1/open/e-accounts", OTHER, expect=CODE_REFUSED,
         body=_opening_with_the_victim_apps_code, variant="app A's challenge and its code"),
    Case("POST", "/v1/open/e-accounts", OTHER, expect=CODE_REFUSED,
         body=_opening_guessing_the_victim_apps_code,
         variant="app A's challenge, a guessed code"),
    # webhooks, same app: app A's own (app-level) delivery, read with a token A holds for
    # another customer: allowed; a delivery carries no customer data.
    Case("GET", "/v1/open/webhook-deliveries/{delivery_id}", SAME, "accounts", (200,),
         params=(("delivery_id", "delivery"),), variant="app A's own delivery"),
    # acquiring: partner A's merchant and its orders (paid by the victim). Another partner's
    # client_credentials token gets 404; A's own app, with a token bound to another
    # customer's payment consent, gets 403 (acquiring is the partner's own business).
    *_both("POST", f"{ACQUIRING}/merchants/{{merchant_id}}/payment-orders",
           ("app", "payments"), params=MERCHANT, body=_order),
    *_both("GET", f"{ACQUIRING}/merchants/{{merchant_id}}/payment-orders", ("app", "payments"),
           params=MERCHANT, query=(("out_trade_no", "captured_out_trade_no"),)),
    *_both("GET", f"{ACQUIRING}/payment-orders/{{order_id}}", ("app", "payments"),
           params=(("order_id", "captured_order"),)),
    *_both("POST", f"{ACQUIRING}/payment-orders/{{order_id}}/capture", ("app", "payments"),
           params=(("order_id", "authorized_order"),), body=_capture),
    *_both("POST", f"{ACQUIRING}/payment-orders/{{order_id}}/void", ("app", "payments"),
           params=(("order_id", "authorized_order"),)),
    *_both("POST", f"{ACQUIRING}/payment-orders/{{order_id}}/close", ("app", "payments"),
           params=(("order_id", "unpaid_order"),)),
    *_both("POST", f"{ACQUIRING}/payment-orders/{{order_id}}/refunds", ("app", "payments"),
           params=(("order_id", "captured_order"),), body=_refund),
]  # fmt: skip

OWN: list[Case] = [
    # No object id: the caller gets its own objects only, nothing of the victim's.
    *_both("GET", "/v1/open/accounts", ("accounts", "accounts"), expect=(200,)),
    *_both("POST", "/v1/open/account-access-consents", ("app", "accounts"), expect=(201,),
           body=_access_consent),
    *_both("POST", "/v1/open/payment-consents", ("app", "payments"), expect=(201,),
           body=_payment_consent),
    # A payee is anyone's e-account by design (a merchant's): allowed, and the answer shows
    # nothing of the payee but the id the caller sent.
    *_both("POST", "/v1/open/payment-consents", ("app", "payments"), expect=(201,),
           body=_payment_consent_to_the_victim, variant="the victim's e-account as payee"),
    *_both("POST", "/v1/open/otp-challenges", ("app", "accounts"), expect=(201,),
           body=_victims_phone, variant="to the victim's phone"),
    *_both("GET", "/v1/open/webhook-endpoints", ("app", "accounts"), expect=(200,)),
    *_both("GET", "/v1/open/webhook-deliveries", ("app", "accounts"), expect=(200,)),
    Case("POST", "/v1/open/webhook-endpoints", OTHER, expect=(201,), body=_webhook_endpoint),
]  # fmt: skip

# (route, attacker) pairs the matrix deliberately does not call, and why.
NOT_AN_ATTACK: dict[tuple[str, str, str], str] = {
    ("DELETE", "/v1/open/webhook-endpoints/{endpoint_id}", SAME):
        "app-level object: app A's own endpoint (deleting it would be A's own business)",
    ("POST", "/v1/open/webhook-endpoints", SAME): "app-level: app A registering its own endpoint",
    ("POST", "/v1/open/e-accounts", SAME):
        "a one-time code app A asked for is app A's to redeem, whichever user it is for",
}  # fmt: skip

# -- the signed gateway: the victim's ids inside biz_content -----------------------------------

GATEWAY_PATH = "/v1/gateway"
READS = ("openbank.eaccount.balance.query", "openbank.eaccount.transactions.query")
WRITES = ("openbank.eaccount.topup", "openbank.eaccount.withdraw")


def _gateway(method: str, attacker: str, biz: Body, variant: str) -> Case:
    return Case("POST", GATEWAY_PATH, attacker, "signed", REFUSED, (), biz, method, variant)


GATEWAY_CASES: list[Case] = [
    *(
        case
        for method in READS + WRITES
        for case in (
            _gateway(method, OTHER, _victims_gateway_consent, "the victim's consent"),
            _gateway(method, OTHER, _victims_oauth_consent, "the victim's OAuth consent"),
            _gateway(method, OTHER, _own_consent_victims_account,
                     "own consent, the victim's e-account"),
            _gateway(method, SAME, _own_consent_victims_account,
                     "own customer's consent, the victim's e-account"),
        )
    ),
    Case("POST", GATEWAY_PATH, OTHER, "signed", CODE_REFUSED, (),
         _opening_with_the_victim_apps_code, "openbank.eaccount.open",
         "app A's challenge and its code"),
    Case("POST", GATEWAY_PATH, OTHER, "signed", CODE_REFUSED, (),
         _opening_guessing_the_victim_apps_code, "openbank.eaccount.open",
         "app A's challenge, a guessed code"),
]  # fmt: skip
GATEWAY_OWN: list[Case] = [
    Case(
        "POST",
        GATEWAY_PATH,
        who,
        "signed",
        (200,),
        (),
        _victims_phone,
        "openbank.otp.send",
        "to the victim's phone",
    )
    for who in ATTACKERS
]

ALL_CASES = BY_ID + OWN + GATEWAY_CASES + GATEWAY_OWN


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(
            case,
            id=case.id,
            marks=[pytest.mark.xfail(strict=True, reason=case.gap)] if case.gap else [],
        )
        for case in cases
    ]


# -- fixtures and checks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def worlds(db: Database, settings: Settings, clock: ShiftedClock, client: TestClient) -> Worlds:
    return Worlds(Bank(db, settings, clock, client))


@pytest.fixture
def world(worlds: Worlds) -> World:
    return worlds.get()


def _known(world: World, attacker: Actor) -> set[str]:
    """What the attacker may legitimately see in an answer anyway: its own e-accounts' masked
    cards (which could share digits with the victim's)."""
    own = attacker.person.e_account_ids
    return {
        a.bound_card.masked_number
        for a in world.bank.run(lambda s: [customers.get_e_account(s, i) for i in own])
    }


BALANCE_FIELD = re.compile(r'"(balance|available|amount)"\s*:\s*"?(\d+)')


def _assert_nothing_leaked(world: World, case: Case, attacker: Actor, sent: str, text: str) -> None:
    secrets = world.customer_secrets()
    if case.attacker == OTHER:
        secrets += world.app_secrets()
    shown = [s for s in secrets if s not in sent and s not in _known(world, attacker) and s in text]
    assert not shown, f"{case.id} showed the victim's {shown}: {text}"
    victims = {VICTIM_BALANCE, GATEWAY_BALANCE}
    balances = {int(value) for _, value in BALANCE_FIELD.findall(text)}
    assert not balances & victims, f"{case.id} showed the victim's balance: {text}"


def _challenge_state(world: World, body: dict[str, Any] | None) -> tuple[int, Any] | None:
    """Tries and consumption of the one-time code the body names, if it names one."""
    if body is None or "otp_challenge_id" not in body:
        return None
    challenge = uuid.UUID(body["otp_challenge_id"])

    def read(session: Session) -> tuple[int, Any]:
        row = session.get(OneTimeCode, challenge, populate_existing=True)
        assert row is not None
        return row.attempts, row.consumed_at

    return world.bank.run(read)


def _call(
    world: World, case: Case, attacker: Actor, body: dict[str, Any] | None
) -> tuple[str, httpx.Response]:
    if case.gateway:
        assert body is not None
        return GATEWAY_PATH, signed.call(world.bank.client, attacker.sapp, case.gateway, body)
    url = case.path.format(**{name: _victims(world, what) for name, what in case.params})
    if case.query:
        url += "?" + urlencode({name: _victims(world, what) for name, what in case.query})
    token = attacker.token(case.token)
    partner = attacker.partner
    if case.method == "GET":
        return url, partner.get(token, url)
    if case.method == "DELETE":
        return url, partner.delete(token, url)
    return url, partner.post(token, url, body)  # a fresh Idempotency-Key each time


def _run(world: World, case: Case) -> None:
    attacker = world.attackers[case.attacker]
    body = case.body(world, attacker) if case.body is not None else None
    if case.gateway in WRITES:
        assert body is not None
        body = {**body, "amount": 100, "out_request_no": uuid.uuid4().hex}
    challenge = _challenge_state(world, body)

    url, response = _call(world, case, attacker, body)

    assert response.status_code in case.expect, f"{case.id}: {response.status_code} {response.text}"
    _assert_nothing_leaked(
        world, case, attacker, url + json.dumps(body, ensure_ascii=False), response.text
    )
    assert _challenge_state(world, body) == challenge, f"{case.id} used app A's one-time code"
    assert snapshot(world) == world.before, f"{case.id} changed something of the victim's"


# -- the tests ------------------------------------------------------------------------------


def test_every_partner_endpoint_is_in_the_matrix(client: TestClient) -> None:
    routes = partner_routes(client.app)  # type: ignore[arg-type]
    assert ("GET", "/v1/open/accounts/{e_account_id}/balances") in routes, "enumeration broke"
    assert ("POST", GATEWAY_PATH) in routes, "enumeration broke"

    missing = []
    for method, path in sorted(routes, key=lambda r: (r[1], r[0])):
        for attacker in ATTACKERS:
            covered = any(c.route == (method, path) and c.attacker == attacker for c in ALL_CASES)
            if not covered and (method, path, attacker) not in NOT_AN_ATTACK:
                missing.append(f"{method} {path} as {attacker}")
    assert not missing, (
        "partner-facing endpoints without a row in the object-level authorization matrix "
        "(tests/platform/test_object_level_authorization.py): " + "; ".join(missing)
    )


def test_every_matrix_row_names_a_real_endpoint(client: TestClient) -> None:
    routes = partner_routes(client.app)  # type: ignore[arg-type]
    named = {c.route for c in ALL_CASES} | {(m, p) for m, p, _ in NOT_AN_ATTACK}
    assert named <= routes, f"rows for endpoints that no longer exist: {sorted(named - routes)}"


def test_every_gateway_method_is_in_the_matrix() -> None:
    covered = {c.gateway for c in GATEWAY_CASES + GATEWAY_OWN}
    assert set(METHODS) <= covered, (
        f"signed-gateway methods without a matrix row: {sorted(set(METHODS) - covered)}"
    )
    for name, method in METHODS.items():
        if method.for_customer:
            attacked = {c.attacker for c in GATEWAY_CASES if c.gateway == name}
            assert attacked == set(ATTACKERS), f"{name} is not called by both attackers"


@pytest.mark.parametrize("case", _params(BY_ID))
def test_the_victims_ids_are_refused_without_leaking(world: World, case: Case) -> None:
    _run(world, case)


@pytest.mark.parametrize("case", _params(GATEWAY_CASES))
def test_the_victims_ids_in_biz_content_are_refused_without_leaking(
    world: World, case: Case
) -> None:
    _run(world, case)


@pytest.mark.parametrize("case", _params(OWN + GATEWAY_OWN))
def test_calls_without_an_id_show_only_the_callers_own(world: World, case: Case) -> None:
    _run(world, case)


def test_nothing_of_the_victims_changed_after_the_whole_matrix(world: World) -> None:
    assert snapshot(world) == world.before


def test_the_leak_check_sees_the_victims_own_view(world: World) -> None:
    """The checks are not vacuous: what the victim's own token reads is flagged as a leak."""
    victim = world.victim
    url = f"/v1/open/accounts/{world.victim.person.e_account_ids[0]}/balances"
    response = victim.partner.get(victim.accounts, url)
    assert response.status_code == 200, response.text
    case = Case("GET", url, OTHER)

    with pytest.raises(AssertionError, match="showed the victim's"):
        _assert_nothing_leaked(world, case, world.attackers[OTHER], "", response.text)
