"""The partner-facing acquiring API, through the real HTTP app with real tokens (private_key_jwt,
DPoP): a partner's app works with the orders of the merchants that came through it, and with
nobody else's."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from openbank.core.models import OutboxEvent
from openbank.payments import service as payments
from openbank.payments.errors import OrderClosed
from openbank.payments.schemas import Merchant, PaymentCreate, PaymentOrder
from tests.platform.acquiring.support import (
    PREFIX,
    Acquirer,
    acquirer,
    balances,
    merchant_state,
    order_body,
    paid_order,
    partner_merchant,
    payer,
    unpaid_order,
)
from tests.platform.consents.api_support import payment_token
from tests.platform.consents.support import Bank


@dataclass
class Shop:
    """A partner's app, a merchant that came through it, a payer, and one order of each
    kind: unpaid, authorized (manual capture) and captured."""

    acquirer: Acquirer
    merchant: Merchant
    payer: uuid.UUID
    unpaid: PaymentOrder
    authorized: PaymentOrder
    captured: PaymentOrder


def open_shop(bank: Bank, app: Acquirer | None = None, sandbox: bool = True) -> Shop:
    app = app or acquirer(bank)
    merchant = partner_merchant(bank, app.app, sandbox=sandbox)
    account = payer(bank)
    return Shop(
        acquirer=app,
        merchant=merchant,
        payer=account,
        unpaid=unpaid_order(bank, merchant.id),
        authorized=paid_order(bank, merchant.id, account, 2_000, manual=True),
        captured=paid_order(bank, merchant.id, account, 3_000),
    )


@pytest.fixture
def shop(bank: Bank) -> Shop:
    return open_shop(bank)


def url(path: str) -> str:
    return PREFIX + path


# -- the partner's own merchant -------------------------------------------------------------


def test_a_partner_creates_an_order_for_its_merchant(bank: Bank, shop: Shop) -> None:
    body = order_body(2599)

    response = shop.acquirer.post(url(f"/merchants/{shop.merchant.id}/payment-orders"), body)

    assert response.status_code == 201, response.text
    made = response.json()
    assert made["merchant_id"] == str(shop.merchant.id)
    assert made["out_trade_no"] == body["out_trade_no"]
    assert (made["amount"], made["currency"], made["status"]) == (2599, "CNY", "created")
    assert made["checkout_url"].endswith(f"/checkout/{made['id']}")


def test_an_order_is_stamped_with_the_calling_app_and_its_partner(bank: Bank, shop: Shop) -> None:
    """The merchant came through the partner's first app; a second app of the same partner
    makes the order: revenue sharing and webhooks follow the app that made it."""
    second = acquirer(bank, shop.acquirer.app.partner_id)

    response = second.post(url(f"/merchants/{shop.merchant.id}/payment-orders"), order_body())

    assert response.status_code == 201, response.text
    made = response.json()
    assert made["app_id"] == str(second.app_id) != str(shop.merchant.app_id)
    assert made["partner_id"] == str(shop.acquirer.partner_id)
    events = bank.run(
        lambda s: s.execute(
            select(OutboxEvent.event_type, OutboxEvent.app_id).where(
                OutboxEvent.subject == f"payment-orders/{made['id']}"
            )
        ).all()
    )
    assert [tuple(e) for e in events] == [("payment_order.created", second.app_id)]


def test_the_same_out_trade_no_again_answers_200_with_the_first_order(shop: Shop) -> None:
    path = url(f"/merchants/{shop.merchant.id}/payment-orders")
    body = order_body()
    first = shop.acquirer.post(path, body)

    again = shop.acquirer.post(path, body)  # a new Idempotency-Key

    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in again.headers


def test_the_same_idempotency_key_replays_the_first_answer(shop: Shop) -> None:
    path = url(f"/merchants/{shop.merchant.id}/payment-orders")
    body = order_body()
    first = shop.acquirer.post(path, body, key="order-key-1")

    again = shop.acquirer.post(path, body, key="order-key-1")

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_another_request_with_a_used_out_trade_no_is_refused(bank: Bank, shop: Shop) -> None:
    path = url(f"/merchants/{shop.merchant.id}/payment-orders")
    body = order_body(1000)
    assert shop.acquirer.post(path, body).status_code == 201

    response = shop.acquirer.post(path, {**body, "amount": 1001})

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "out_trade_no_reused"


def test_a_partner_reads_its_order_by_id_and_by_out_trade_no(shop: Shop) -> None:
    by_id = shop.acquirer.get(url(f"/payment-orders/{shop.captured.id}"))
    by_number = shop.acquirer.get(
        url(
            f"/merchants/{shop.merchant.id}/payment-orders"
            f"?out_trade_no={shop.captured.out_trade_no}"
        )
    )

    assert by_id.status_code == by_number.status_code == 200, by_id.text + by_number.text
    assert by_id.json() == by_number.json()
    assert by_id.json()["id"] == str(shop.captured.id)
    assert by_id.json()["status"] == "captured"


def test_a_partner_never_learns_which_e_account_paid(bank: Bank, shop: Shop) -> None:
    order = shop.acquirer.get(url(f"/payment-orders/{shop.captured.id}")).json()
    events = bank.run(
        lambda s: (
            s.execute(
                select(OutboxEvent.payload).where(
                    OutboxEvent.subject == f"payment-orders/{shop.captured.id}"
                )
            )
            .scalars()
            .all()
        )
    )
    assert order["payer_kind"] == "e_account"
    assert "payer_e_account_id" not in order
    assert events
    assert all("payer_e_account_id" not in event["order"] for event in events)
    assert str(shop.payer) not in str(events)


def test_an_unknown_out_trade_no_is_404(shop: Shop) -> None:
    response = shop.acquirer.get(
        url(f"/merchants/{shop.merchant.id}/payment-orders?out_trade_no=NOPE-1")
    )

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "payment_order_not_found"


def test_a_partner_captures_part_of_an_authorization(bank: Bank, shop: Shop) -> None:
    before = balances(bank, shop.payer)

    response = shop.acquirer.post(
        url(f"/payment-orders/{shop.authorized.id}/capture"), {"amount": 1_500}
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "captured"
    assert response.json()["captured_amount"] == 1_500
    # The hold of 2,000 becomes a debit of 1,500; the other 500 is free again.
    balance, available = before
    assert balances(bank, shop.payer) == (balance - 1_500, available + 500)


def test_a_partner_voids_an_authorization(bank: Bank, shop: Shop) -> None:
    balance, available = balances(bank, shop.payer)

    response = shop.acquirer.post(url(f"/payment-orders/{shop.authorized.id}/void"))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "voided"
    assert balances(bank, shop.payer) == (balance, available + 2_000)


def test_a_partner_refunds_in_parts_never_more_than_captured(bank: Bank, shop: Shop) -> None:
    refunds = url(f"/payment-orders/{shop.captured.id}/refunds")
    balance, _ = balances(bank, shop.payer)

    first = shop.acquirer.post(refunds, {"out_refund_no": "R1", "amount": 1_000})
    again = shop.acquirer.post(refunds, {"out_refund_no": "R1", "amount": 1_000})
    second = shop.acquirer.post(refunds, {"out_refund_no": "R2", "amount": 2_000})
    too_much = shop.acquirer.post(refunds, {"out_refund_no": "R3", "amount": 1})

    assert (first.status_code, again.status_code, second.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert too_much.status_code == 409, too_much.text
    assert too_much.json()["code"] == "refund_exceeds_captured"
    assert balances(bank, shop.payer)[0] == balance + 3_000
    order = shop.acquirer.get(url(f"/payment-orders/{shop.captured.id}")).json()
    assert (order["status"], order["refunded_amount"]) == ("refunded", 3_000)


def test_a_partner_closes_an_unpaid_order_and_it_can_no_longer_be_paid(
    bank: Bank, shop: Shop
) -> None:
    response = shop.acquirer.post(url(f"/payment-orders/{shop.unpaid.id}/close"))

    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["close_reason"]) == (
        "closed",
        "closed_by_merchant",
    )
    spec = PaymentCreate(e_account_id=shop.payer)
    with pytest.raises(OrderClosed):
        bank.run(lambda s: payments.pay(s, shop.unpaid.id, spec, bank.now(), bank.settings))


def test_a_paid_order_does_not_close(shop: Shop) -> None:
    response = shop.acquirer.post(url(f"/payment-orders/{shop.captured.id}/close"))

    assert response.status_code == 409, response.text
    assert response.json()["code"] == "payment_order_state_conflict"


def test_bad_input_is_refused_and_makes_no_order(bank: Bank, shop: Shop) -> None:
    before = merchant_state(bank, shop.merchant.id)
    path = url(f"/merchants/{shop.merchant.id}/payment-orders")

    zero = shop.acquirer.post(path, order_body(0))
    dollars = shop.acquirer.post(path, order_body(currency="USD"))

    assert zero.status_code == 422, zero.text
    assert dollars.status_code == 422, dollars.text
    assert dollars.json()["code"] == "currency_not_supported"
    assert merchant_state(bank, shop.merchant.id) == before


# -- everyone else: the same answer as an unknown id, and nothing changed -------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # under PREFIX, formatted with the shop's objects
    body: Callable[[], dict[str, Any]] | None = None

    def url(self, shop: Shop, **objects: Any) -> str:
        values = {
            "merchant": shop.merchant.id,
            "unpaid": shop.unpaid.id,
            "authorized": shop.authorized.id,
            "captured": shop.captured.id,
            "out_trade_no": shop.captured.out_trade_no,
            **objects,
        }
        return url(self.path.format(**values))

    def call(self, caller: Acquirer, target: str, key: str | None = "new") -> Any:
        if self.method == "GET":
            return caller.get(target)
        return caller.post(target, self.body() if self.body else None, key)


ROUTES = [
    Route("POST", "/merchants/{merchant}/payment-orders", order_body),
    Route("GET", "/merchants/{merchant}/payment-orders?out_trade_no={out_trade_no}"),
    Route("GET", "/payment-orders/{captured}"),
    Route("POST", "/payment-orders/{authorized}/capture", dict),
    Route("POST", "/payment-orders/{authorized}/void"),
    Route("POST", "/payment-orders/{unpaid}/close"),
    Route("POST", "/payment-orders/{captured}/refunds",
          lambda: {"out_refund_no": "X1", "amount": 100}),
]  # fmt: skip
POSTS = [route for route in ROUTES if route.method == "POST"]


def _route_id(route: Route) -> str:
    return f"{route.method} {route.path}"


def _everything(bank: Bank, shop: Shop) -> dict[str, Any]:
    return {**merchant_state(bank, shop.merchant.id), "payer": balances(bank, shop.payer)}


def _unknown_ids(route: Route, shop: Shop) -> tuple[str, str]:
    """The same call naming an id that exists nowhere (as the merchant or the order), and
    that id."""
    unknown = uuid.uuid4()
    objects = dict.fromkeys(("merchant", "unpaid", "authorized", "captured"), unknown)
    return route.url(shop, **objects), str(unknown)


def _problem_without(text: dict[str, Any], *ids: str) -> dict[str, Any]:
    """A problem body with the ids the caller itself sent blanked out."""
    found = dict(text)
    for key in ("detail", "instance"):
        if key in found:
            for value in ids:
                found[key] = str(found[key]).replace(value, "<id>")
    return found


def _victim_id(route: Route, shop: Shop) -> str:
    for name, value in (
        ("{merchant}", shop.merchant.id),
        ("{unpaid}", shop.unpaid.id),
        ("{authorized}", shop.authorized.id),
        ("{captured}", shop.captured.id),
    ):
        if name in route.path:
            return str(value)
    raise AssertionError(route.path)


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_another_partners_app_gets_404_like_an_unknown_id_and_nothing_changes(
    bank: Bank, shop: Shop, route: Route
) -> None:
    intruder = acquirer(bank)  # another partner, sandbox, subscribed to payments
    before = _everything(bank, shop)

    response = route.call(intruder, route.url(shop))

    assert response.status_code == 404, response.text
    assert _everything(bank, shop) == before
    unknown_url, unknown = _unknown_ids(route, shop)
    baseline = route.call(intruder, unknown_url)
    assert baseline.status_code == 404, baseline.text
    assert _problem_without(response.json(), _victim_id(route, shop)) == _problem_without(
        baseline.json(), unknown
    )
    for secret in (
        shop.merchant.legal_name,
        shop.merchant.unified_social_credit_code,
        str(shop.payer),
    ):
        assert secret not in response.text


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_a_production_app_of_the_same_partner_does_not_reach_sandbox_merchants(
    bank: Bank, shop: Shop, route: Route
) -> None:
    production = acquirer(bank, shop.acquirer.app.partner_id, environment="production")
    before = _everything(bank, shop)

    response = route.call(production, route.url(shop))

    assert response.status_code == 404, response.text
    assert _everything(bank, shop) == before


def test_a_sandbox_app_does_not_reach_its_partners_production_merchants(bank: Bank) -> None:
    production = acquirer(bank, environment="production")
    sandbox = acquirer(bank, production.app.partner_id)
    merchant = partner_merchant(bank, production.app, sandbox=False)
    order = unpaid_order(bank, merchant.id)

    made = sandbox.post(url(f"/merchants/{merchant.id}/payment-orders"), order_body())
    read = sandbox.get(url(f"/payment-orders/{order.id}"))
    own = production.get(url(f"/payment-orders/{order.id}"))

    assert (made.status_code, read.status_code) == (404, 404), made.text + read.text
    assert own.status_code == 200, own.text


def test_a_merchant_of_no_partner_is_unknown_to_partners(bank: Bank) -> None:
    caller = acquirer(bank)
    merchant = partner_merchant(bank, None)
    order = unpaid_order(bank, merchant.id)

    made = caller.post(url(f"/merchants/{merchant.id}/payment-orders"), order_body())
    read = caller.get(url(f"/payment-orders/{order.id}"))

    assert (made.status_code, read.status_code) == (404, 404), made.text + read.text


# -- tokens and headers ---------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_a_token_without_scope_payments_is_403(bank: Bank, shop: Shop, route: Route) -> None:
    """Another app of the same partner, subscribed to payments too, asked only for
    `accounts`."""
    narrow = acquirer(
        bank, shop.acquirer.app.partner_id, products=("e_accounts", "payments"), scope="accounts"
    )
    before = _everything(bank, shop)

    response = route.call(narrow, route.url(shop))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "insufficient_scope"
    assert _everything(bank, shop) == before


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_a_customer_token_of_the_merchants_own_app_is_403(
    bank: Bank, shop: Shop, route: Route
) -> None:
    """A token bound to a customer's payment consent acts for that customer, not for the
    partner's merchants."""
    holder = bank.holder(accounts=1, funded=10_000)
    _, customer_token = payment_token(
        bank, shop.acquirer.app, holder, shop.merchant.settlement_e_account_id
    )
    as_customer = Acquirer(shop.acquirer.partner, customer_token)
    before = _everything(bank, shop)

    response = route.call(as_customer, route.url(shop))

    assert response.status_code == 403, response.text
    assert response.json()["code"] == "partner_token_required"
    assert _everything(bank, shop) == before


@pytest.mark.parametrize("route", POSTS, ids=_route_id)
def test_a_post_without_idempotency_key_is_400(bank: Bank, shop: Shop, route: Route) -> None:
    before = _everything(bank, shop)

    response = route.call(shop.acquirer, route.url(shop), key=None)

    assert response.status_code == 400, response.text
    assert response.json()["code"] == "idempotency_key_required"
    assert _everything(bank, shop) == before
