"""The partner-facing endpoints through the whole partner path: private_key_jwt, DPoP-bound
tokens, consent checks, Idempotency-Key. Operators' endpoints at the end."""

from __future__ import annotations

import uuid
from datetime import timedelta

from openbank.customers import service as customers
from openbank.platform.consents import service
from tests.platform.consents.api_support import (
    Partner,
    account_token,
    customer_token,
    payment_body,
    payment_token,
)
from tests.platform.consents.support import Bank

CONSENTS = "/v1/open/account-access-consents"
PAYMENT_CONSENTS = "/v1/open/payment-consents"


def _partner(bank: Bank) -> Partner:
    return Partner(bank.client, bank.app())


# -- consents -------------------------------------------------------------------------------


def test_post_account_access_consent_is_201_awaiting_authorisation(bank: Bank) -> None:
    partner = _partner(bank)

    r = partner.post(partner.token(), CONSENTS, {"permissions": ["accounts", "balances"]})

    assert r.status_code == 201, r.text
    assert r.json()["status"] == "awaiting_authorisation"
    assert r.json()["app_id"] == partner.app.app_id


def test_post_account_access_consent_without_idempotency_key_is_400(bank: Bank) -> None:
    partner = _partner(bank)

    r = partner.post(partner.token(), CONSENTS, {"permissions": ["accounts"]}, key=None)

    assert r.status_code == 400, r.text


def test_post_account_access_consent_replays_for_the_same_key(bank: Bank) -> None:
    partner = _partner(bank)
    token = partner.token()

    first = partner.post(token, CONSENTS, {"permissions": ["accounts"]}, key="k-1")
    again = partner.post(token, CONSENTS, {"permissions": ["accounts"]}, key="k-1")

    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]


def test_post_account_access_consent_expiring_beyond_a_year_is_422(bank: Bank) -> None:
    partner = _partner(bank)
    expiration = (bank.now() + timedelta(days=400)).isoformat()

    r = partner.post(
        partner.token(), CONSENTS, {"permissions": ["accounts"], "expiration": expiration}
    )

    assert r.status_code == 422
    assert r.json()["code"] == "invalid_expiration"


def test_post_account_access_consent_with_an_unknown_permission_is_422(bank: Bank) -> None:
    partner = _partner(bank)

    r = partner.post(partner.token(), CONSENTS, {"permissions": ["everything"]})

    assert r.status_code == 422


def test_post_account_access_consent_needs_the_accounts_scope(bank: Bank) -> None:
    partner = _partner(bank)

    r = partner.post(partner.token("payments"), CONSENTS, {"permissions": ["accounts"]})

    assert r.status_code == 403


def test_get_account_access_consent_shows_its_status(bank: Bank) -> None:
    partner = _partner(bank)
    consent = bank.authorised(partner.app, bank.holder())

    r = partner.get(partner.token(), f"{CONSENTS}/{consent.id}")

    assert r.status_code == 200
    assert r.json()["status"] == "authorised"


def test_get_account_access_consent_of_another_app_is_404(bank: Bank) -> None:
    consent = bank.requested(bank.app())
    other = _partner(bank)

    r = other.get(other.token(), f"{CONSENTS}/{consent.id}")

    assert r.status_code == 404
    assert r.json()["code"] == "consent_not_found"


def test_delete_account_access_consent_revokes_it_as_the_partner(bank: Bank) -> None:
    partner = _partner(bank)
    consent = bank.authorised(partner.app, bank.holder())

    r = partner.delete(partner.token(), f"{CONSENTS}/{consent.id}")

    assert r.status_code == 204
    assert bank.status_of(consent.id).revoked_by == "partner"


def test_post_payment_consent_is_201_with_its_terms(bank: Bank) -> None:
    partner, creditor = _partner(bank), bank.holder(accounts=1)
    body = {
        "amount": 1999,
        "currency": "CNY",
        "creditor_e_account_id": str(creditor.e_account_ids[0]),
        "reference": "订单 42",
    }

    r = partner.post(partner.token(), PAYMENT_CONSENTS, body)

    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "payment"
    assert r.json()["payment"]["amount"] == 1999
    assert r.json()["permissions"] == ["payment"]


def test_post_payment_consent_in_another_currency_is_422(bank: Bank) -> None:
    partner, creditor = _partner(bank), bank.holder(accounts=1)
    body = {
        "amount": 1999,
        "currency": "USD",
        "creditor_e_account_id": str(creditor.e_account_ids[0]),
        "reference": "order 42",
    }

    r = partner.post(partner.token(), PAYMENT_CONSENTS, body)

    assert r.status_code == 422
    assert r.json()["code"] == "unsupported_currency"


def test_post_payment_consent_to_an_unknown_creditor_is_422(bank: Bank) -> None:
    partner = _partner(bank)
    body = {
        "amount": 1999,
        "currency": "CNY",
        "creditor_e_account_id": str(uuid.uuid4()),
        "reference": "order 42",
    }

    r = partner.post(partner.token(), PAYMENT_CONSENTS, body)

    assert r.status_code == 422
    assert r.json()["code"] == "creditor_account_invalid"


def test_post_payment_consent_of_zero_fen_is_422(bank: Bank) -> None:
    partner, creditor = _partner(bank), bank.holder(accounts=1)
    body = {
        "amount": 0,
        "currency": "CNY",
        "creditor_e_account_id": str(creditor.e_account_ids[0]),
        "reference": "order 42",
    }

    r = partner.post(partner.token(), PAYMENT_CONSENTS, body)

    assert r.status_code == 422


def test_get_payment_consent_shows_its_status(bank: Bank) -> None:
    partner, creditor = _partner(bank), bank.holder(accounts=1)
    consent = bank.payment_requested(partner.app, creditor.e_account_ids[0])

    r = partner.get(partner.token(), f"{PAYMENT_CONSENTS}/{consent.id}")

    assert r.status_code == 200
    assert r.json()["status"] == "awaiting_authorisation"


def test_an_account_access_consent_is_not_found_as_a_payment_consent(bank: Bank) -> None:
    partner = _partner(bank)
    consent = bank.requested(partner.app)

    r = partner.get(partner.token(), f"{PAYMENT_CONSENTS}/{consent.id}")

    assert r.status_code == 404


# -- accounts -------------------------------------------------------------------------------


def test_get_accounts_lists_the_consents_accounts(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=2)
    _, token = account_token(bank, partner.app, holder)

    r = partner.get(token, "/v1/open/accounts")

    assert r.status_code == 200
    assert [a["id"] for a in r.json()["data"]] == [str(i) for i in holder.e_account_ids]
    assert "ledger_account_id" not in r.text


def test_get_account_shows_one_covered_account(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    _, token = account_token(bank, partner.app, holder)

    r = partner.get(token, f"/v1/open/accounts/{holder.e_account_ids[0]}")

    assert r.status_code == 200
    assert r.json()["account_class"] == "II"


def test_get_balances_reads_the_ledger(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1, funded=8_800)
    _, token = account_token(bank, partner.app, holder)

    r = partner.get(token, f"/v1/open/accounts/{holder.e_account_ids[0]}/balances")

    assert r.status_code == 200
    assert (r.json()["balance"], r.json()["available"]) == (8_800, 8_800)


def test_get_transactions_pages_with_a_next_link(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1, funded=100)
    e_account_id = holder.e_account_ids[0]
    bank.run(lambda s: customers.top_up(s, e_account_id, 200, bank.now(), bank.settings))
    _, token = account_token(bank, partner.app, holder)
    url = f"/v1/open/accounts/{e_account_id}/transactions"

    first = partner.get(token, f"{url}?limit=1")
    second = partner.get(token, first.json()["next"].removeprefix("http://testserver"))

    assert first.status_code == 200, first.text
    assert [t["amount"] for t in first.json()["data"] + second.json()["data"]] == [100, 200]
    assert second.json()["next"] is None


def test_an_account_outside_the_consent_is_404_account_not_found(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    _, token = account_token(bank, partner.app, holder)
    stranger = bank.holder(accounts=1)

    r = partner.get(token, f"/v1/open/accounts/{stranger.e_account_ids[0]}/balances")

    assert r.status_code == 404
    assert r.json()["code"] == "account_not_found"


def test_a_permission_not_granted_is_403_permission_not_granted(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    _, token = account_token(bank, partner.app, holder, permissions=("accounts",))

    r = partner.get(token, f"/v1/open/accounts/{holder.e_account_ids[0]}/transactions")

    assert r.status_code == 403
    assert r.json()["code"] == "permission_not_granted"


def test_a_partner_level_token_cannot_read_accounts(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    account_token(bank, partner.app, holder)

    r = partner.get(partner.token("accounts"), "/v1/open/accounts")

    assert r.status_code == 403
    assert r.json()["code"] == "consent_required"


def test_a_revoked_consent_stops_the_token_at_the_next_call(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    consent, token = account_token(bank, partner.app, holder)
    assert partner.get(token, "/v1/open/accounts").status_code == 200
    bank.run(lambda s: service.revoke_by_customer(s, consent.id, holder.customer_id, bank.now()))

    r = partner.get(token, "/v1/open/accounts")

    assert r.status_code == 403
    assert r.json()["code"] == "consent_revoked"


def test_an_expired_consent_is_403_consent_expired(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    consent = bank.requested(partner.app, expiration=bank.later(120))
    token = customer_token(bank, partner.app, holder, consent, "accounts")
    bank.clock.advance(timedelta(seconds=121))

    r = partner.get(token, "/v1/open/accounts")

    assert r.status_code == 403, r.text
    assert r.json()["code"] == "consent_expired"
    assert bank.status(consent.id) == "expired"


# -- funds ----------------------------------------------------------------------------------


def test_post_top_up_moves_money_from_the_bound_card(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    _, token = account_token(bank, partner.app, holder)
    e_account_id = holder.e_account_ids[0]

    r = partner.post(token, f"/v1/open/accounts/{e_account_id}/top-ups", {"amount": 3_000})

    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "top_up"
    assert bank.run(lambda s: customers.get_e_account(s, e_account_id).balance) == 3_000


def test_post_top_up_replays_for_the_same_key_and_moves_money_once(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    _, token = account_token(bank, partner.app, holder)
    e_account_id = holder.e_account_ids[0]
    url = f"/v1/open/accounts/{e_account_id}/top-ups"

    first = partner.post(token, url, {"amount": 3_000}, key="top-up-1")
    again = partner.post(token, url, {"amount": 3_000}, key="top-up-1")

    assert again.json()["id"] == first.json()["id"]
    assert bank.run(lambda s: customers.get_e_account(s, e_account_id).balance) == 3_000


def test_post_withdrawal_moves_money_to_the_bound_card(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1, funded=1_000)
    _, token = account_token(bank, partner.app, holder)
    e_account_id = holder.e_account_ids[0]

    r = partner.post(token, f"/v1/open/accounts/{e_account_id}/withdrawals", {"amount": 400})

    assert r.status_code == 201, r.text
    assert bank.run(lambda s: customers.get_e_account(s, e_account_id).balance) == 600


def test_post_top_up_needs_the_e_accounts_scope(bank: Bank) -> None:
    partner, holder = _partner(bank), bank.holder(accounts=1)
    _, token = account_token(bank, partner.app, holder, scope="accounts")

    r = partner.post(token, f"/v1/open/accounts/{holder.e_account_ids[0]}/top-ups", {"amount": 100})

    assert r.status_code == 403


# -- payments -------------------------------------------------------------------------------


def test_post_payment_pays_the_consents_terms_and_consumes_it(bank: Bank) -> None:
    partner = _partner(bank)
    payer, payee = bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent, token = payment_token(bank, partner.app, payer, payee.e_account_ids[0])

    r = partner.post(token, "/v1/open/payments", payment_body(consent))

    assert r.status_code == 201, r.text
    assert r.json()["status"] == "completed"
    assert bank.run(lambda s: customers.get_e_account(s, payee.e_account_ids[0]).balance) == 1999
    assert bank.status(consent.id) == "consumed"


def test_a_second_payment_on_one_consent_is_409(bank: Bank) -> None:
    partner = _partner(bank)
    payer, payee = bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent, token = payment_token(bank, partner.app, payer, payee.e_account_ids[0])
    partner.post(token, "/v1/open/payments", payment_body(consent))

    r = partner.post(token, "/v1/open/payments", payment_body(consent))

    assert r.status_code == 409
    assert r.json()["code"] == "consent_consumed"
    assert bank.run(lambda s: customers.get_e_account(s, payee.e_account_ids[0]).balance) == 1999


def test_a_payment_of_another_amount_is_422(bank: Bank) -> None:
    partner = _partner(bank)
    payer, payee = bank.holder(accounts=1, funded=5_000), bank.holder(accounts=1)
    consent, token = payment_token(bank, partner.app, payer, payee.e_account_ids[0])

    r = partner.post(token, "/v1/open/payments", {**payment_body(consent), "amount": 2_000})

    assert r.status_code == 422
    assert r.json()["code"] == "payment_does_not_match_consent"


# -- operators ------------------------------------------------------------------------------


def test_operators_list_a_customers_consents(bank: Bank) -> None:
    holder = bank.holder()
    consent = bank.authorised(bank.app(), holder)

    r = bank.client.get(f"/v1/customers/{holder.customer_id}/consents")

    assert r.status_code == 200
    assert [c["id"] for c in r.json()["data"]] == [str(consent.id)]


def test_operators_revoke_a_consent(bank: Bank) -> None:
    consent = bank.authorised(bank.app(), bank.holder())

    r = bank.client.post(f"/v1/consents/{consent.id}/revoke")

    assert r.status_code == 200, r.text
    assert r.json()["revoked_by"] == "operator"


def test_operator_endpoints_need_an_operator(bank: Bank) -> None:
    consent = bank.authorised(bank.app(), bank.holder())

    r = bank.client.post(f"/v1/consents/{consent.id}/revoke", headers={"Authorization": ""})

    assert r.status_code == 401
