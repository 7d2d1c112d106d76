"""Object-level authorization: every partner-facing endpoint, called with the ids of one
customer's consents and accounts by (a) another partner's app and (b) the same app acting for
another customer, answers 403 or 404, shows none of that customer's data, and changes
nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database
from openbank.core.settings import Settings
from openbank.customers import service as customers
from tests.platform.consents.api_support import (
    Partner,
    account_token,
    payment_body,
    payment_token,
)
from tests.platform.consents.support import Bank, Holder
from tests.platform.tokens import Token

VICTIM_BALANCE = 777_777  # distinctive, to spot it in any body


@dataclass
class Attacker:
    partner: Partner
    consent_reader: Token  # reads consents: partner-level (a) or a customer's own token (b)
    payment_consent_reader: Token
    accounts: Token  # a customer token under the attacker's own account-access consent
    payments: Token  # a customer token under the attacker's own payment consent


@dataclass
class World:
    bank: Bank
    victim: Holder
    access_consent: uuid.UUID
    payment_consent: uuid.UUID
    payment_request: dict[str, Any]
    attackers: dict[str, Attacker]

    def secrets(self) -> list[str]:
        return [
            str(self.victim.customer_id),
            *map(str, self.victim.e_account_ids),
            str(self.access_consent),
            str(self.payment_consent),
            str(VICTIM_BALANCE),
        ]


@pytest.fixture(scope="module")
def world(db: Database, settings: Settings, clock: ShiftedClock, client: TestClient) -> World:
    bank = Bank(db, settings, clock, client)
    app = bank.app()
    victim = bank.holder(accounts=2, funded=VICTIM_BALANCE)
    payee = bank.holder(accounts=1)
    access, _ = account_token(bank, app, victim)
    payment, _ = payment_token(bank, app, victim, payee.e_account_ids[0])

    other_app = bank.app()
    intruder = bank.holder(accounts=1, funded=100)
    other = Partner(client, other_app)
    _, other_accounts = account_token(bank, other_app, intruder)
    _, other_payments = payment_token(bank, other_app, intruder, payee.e_account_ids[0])
    partner_level = other.token("accounts payments")

    same = Partner(client, app)
    neighbour = bank.holder(accounts=1, funded=100)
    _, same_accounts = account_token(bank, app, neighbour)
    _, same_payments = payment_token(bank, app, neighbour, payee.e_account_ids[0])

    return World(
        bank=bank,
        victim=victim,
        access_consent=access.id,
        payment_consent=payment.id,
        payment_request=payment_body(payment),
        attackers={
            "another_partner": Attacker(
                other, partner_level, partner_level, other_accounts, other_payments
            ),
            "same_app_other_customer": Attacker(
                same, same_accounts, same_payments, same_accounts, same_payments
            ),
        },
    )


# (name, method, url, body, which of the attacker's tokens)
ENDPOINTS: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
    ("get account-access consent", "GET", "/v1/open/account-access-consents/{access}", None,
     "consent_reader"),
    ("delete account-access consent", "DELETE", "/v1/open/account-access-consents/{access}",
     None, "consent_reader"),
    ("get payment consent", "GET", "/v1/open/payment-consents/{payment}", None,
     "payment_consent_reader"),
    ("get account", "GET", "/v1/open/accounts/{account}", None, "accounts"),
    ("get balances", "GET", "/v1/open/accounts/{account}/balances", None, "accounts"),
    ("get transactions", "GET", "/v1/open/accounts/{account}/transactions", None, "accounts"),
    ("post top-up", "POST", "/v1/open/accounts/{account}/top-ups", {"amount": 100}, "accounts"),
    ("post withdrawal", "POST", "/v1/open/accounts/{account}/withdrawals", {"amount": 100},
     "accounts"),
    ("post payment", "POST", "/v1/open/payments", {"payment": True}, "payments"),
]  # fmt: skip


def _call(world: World, attacker: Attacker, method: str, url: str, body: Any, token: Token) -> Any:
    url = url.format(
        access=world.access_consent,
        payment=world.payment_consent,
        account=world.victim.e_account_ids[1],
    )
    if body == {"payment": True}:
        body = world.payment_request
    if method == "GET":
        return url, body, attacker.partner.get(token, url)
    if method == "DELETE":
        return url, body, attacker.partner.delete(token, url)
    return url, body, attacker.partner.post(token, url, body)


def _untouched(world: World) -> None:
    bank = world.bank
    balances = bank.run(
        lambda s: [customers.get_e_account(s, i).balance for i in world.victim.e_account_ids]
    )
    assert balances == [VICTIM_BALANCE] * len(world.victim.e_account_ids)
    assert bank.status(world.access_consent) == "authorised"
    assert bank.status(world.payment_consent) == "authorised"


@pytest.mark.parametrize("attacker_kind", ["another_partner", "same_app_other_customer"])
@pytest.mark.parametrize(
    ("method", "url", "body", "token_kind"),
    [endpoint[1:] for endpoint in ENDPOINTS],
    ids=[endpoint[0] for endpoint in ENDPOINTS],
)
def test_someone_elses_ids_are_refused_without_leaking(
    world: World,
    attacker_kind: str,
    method: str,
    url: str,
    body: dict[str, Any] | None,
    token_kind: str,
) -> None:
    attacker = world.attackers[attacker_kind]
    sent_url, sent_body, response = _call(
        world, attacker, method, url, body, getattr(attacker, token_kind)
    )

    assert response.status_code in (403, 404), response.text
    sent = sent_url + repr(sent_body)
    for secret in world.secrets():
        if secret not in sent:
            assert secret not in response.text
    _untouched(world)


@pytest.mark.parametrize("attacker_kind", ["another_partner", "same_app_other_customer"])
def test_the_account_list_shows_only_the_callers_own_accounts(
    world: World, attacker_kind: str
) -> None:
    attacker = world.attackers[attacker_kind]

    response = attacker.partner.get(attacker.accounts, "/v1/open/accounts")

    assert response.status_code == 200
    for secret in world.secrets():
        assert secret not in response.text
