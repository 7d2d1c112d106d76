"""Revenue sharing (分润): a payment that came through a partner platform shares the fee plan's
part of its fee income with that partner, paid at settlement into the partner's e-account;
statements per partner per period."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from openbank.api import create_app
from openbank.core.database import Database
from openbank.core.errors import DomainError
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.payments import settlement
from tests.conftest import AUTH, BASE_URL
from tests.payments.settlement_support import Acquiring


@pytest.fixture
def bank(db: Database, settings: Settings) -> Acquiring:
    return Acquiring(db, settings)


def test_the_partners_share_is_paid_into_its_e_account(bank: Acquiring) -> None:
    partner = bank.partner()
    account = bank.partner_account(partner)
    shop = bank.merchant(bank.plan(rate_ppm=6000, revenue_share_ppm=250_000))
    bank.pay(shop.id, 100_000, partner_id=partner)  # fee 600, share 150
    bank.pay(shop.id, 33_333, partner_id=partner)  # fee 200, share 50
    bank.pay(shop.id, 50_000)  # not through the partner: fee 300, no share
    bank.next_day()
    income = bank.fee_income()
    run = bank.settle()
    assert run.revenue_shares_paid == 200
    assert bank.balance(account.id) == 200
    assert bank.fee_income() == income + 1_100 - 200
    (share,) = bank.settlement_of(shop.id).revenue_shares
    assert (share.partner_id, share.fee_income, share.amount, share.status) == (
        partner,
        800,
        200,
        "paid",
    )


def test_the_share_is_rounded_down(bank: Acquiring) -> None:
    partner = bank.partner()
    account = bank.partner_account(partner)
    shop = bank.merchant(bank.plan(rate_ppm=6000, revenue_share_ppm=333_333))
    bank.pay(shop.id, 10_000, partner_id=partner)  # fee 60: 19.99998
    bank.next_day()
    bank.settle()
    assert bank.balance(account.id) == 19


def test_payments_of_a_merchant_that_came_through_a_partner_share_with_it(
    bank: Acquiring,
) -> None:
    partner = bank.partner()
    account = bank.partner_account(partner)
    shop = bank.merchant(bank.plan(rate_ppm=10_000, revenue_share_ppm=500_000), partner_id=partner)
    bank.pay(shop.id, 10_000)
    bank.next_day()
    bank.settle()
    assert bank.balance(account.id) == 50


def test_a_partner_without_an_agreement_is_recorded_unpaid_and_the_merchant_is_paid(
    bank: Acquiring,
) -> None:
    partner = bank.partner()
    shop = bank.merchant(bank.plan(rate_ppm=6000, revenue_share_ppm=500_000))
    bank.pay(shop.id, 100_000, partner_id=partner)
    bank.next_day()
    run = bank.settle()
    assert (run.created, run.revenue_shares_unpaid) == (1, 300)
    found = bank.settlement_of(shop.id)
    (share,) = found.revenue_shares
    assert (share.amount, share.ledger_transfer_id, share.status) == (300, None, "unpaid")
    assert bank.balance(shop.settlement_e_account_id) == 100_000 - 600


def test_a_frozen_payout_e_account_leaves_the_share_unpaid(bank: Acquiring) -> None:
    partner = bank.partner()
    account = bank.partner_account(partner)
    shop = bank.merchant(bank.plan(rate_ppm=6000, revenue_share_ppm=500_000))
    bank.pay(shop.id, 100_000, partner_id=partner)
    bank.next_day()
    bank.work(lambda s: customers.freeze_e_account(s, account.id))
    run = bank.settle()
    assert (run.created, run.revenue_shares_paid, run.revenue_shares_unpaid) == (1, 0, 300)
    assert bank.balance(shop.settlement_e_account_id) == 100_000 - 600


def test_refunds_that_return_more_fee_than_came_in_leave_nothing_due(bank: Acquiring) -> None:
    partner = bank.partner()
    account = bank.partner_account(partner)
    shop = bank.merchant(bank.plan(rate_ppm=6000, revenue_share_ppm=500_000))
    made = bank.pay(shop.id, 100_000, partner_id=partner)
    bank.next_day()
    bank.settle()
    bank.refund(made.id, 100_000)
    bank.next_day()
    bank.settle()
    share = bank.settlement_of(shop.id).revenue_shares[0]
    assert (share.fee_income, share.amount, share.status) == (-600, 0, "nothing_due")
    assert bank.balance(account.id) == 300


def test_the_partner_statement_adds_up_the_period(bank: Acquiring) -> None:
    partner = bank.partner()
    bank.partner_account(partner)
    plan = bank.plan(rate_ppm=6000, revenue_share_ppm=500_000)
    one, two = bank.merchant(plan), bank.merchant(plan)
    start = bank.today + timedelta(days=1)
    for amount in (10_000, 20_000):
        bank.pay(one.id, amount, partner_id=partner)
        bank.pay(two.id, amount, partner_id=partner)
        bank.next_day()
        bank.settle()
    statement = bank.work(lambda s: settlement.partner_statement(s, partner, start, bank.today))
    totals = statement.totals
    assert (totals.settlements, totals.fee_income, totals.share) == (4, 360, 180)
    assert (totals.paid, totals.unpaid) == (180, 0)
    assert [s.settled_on for s in statement.shares] == [start, start, bank.today, bank.today]
    outside = bank.work(
        lambda s: settlement.partner_statement(
            s, partner, start - timedelta(days=30), start - timedelta(days=1)
        )
    )
    assert outside.shares == []


def test_an_agreement_for_an_unknown_partner_is_refused(bank: Acquiring) -> None:
    account = bank.payer(0)
    body = settlement.RevenueShareAgreementSet(payout_e_account_id=account.id)
    with pytest.raises(DomainError) as caught:
        bank.work(lambda s: settlement.set_revenue_share_agreement(s, uuid.uuid4(), body, bank.now))
    assert caught.value.code == "partner_not_found"


def test_an_agreement_paying_into_a_frozen_e_account_is_refused(bank: Acquiring) -> None:
    partner = bank.partner()
    account = bank.payer(0)
    bank.work(lambda s: customers.freeze_e_account(s, account.id))
    body = settlement.RevenueShareAgreementSet(payout_e_account_id=account.id)
    with pytest.raises(DomainError) as caught:
        bank.work(lambda s: settlement.set_revenue_share_agreement(s, partner, body, bank.now))
    assert caught.value.code == "payout_e_account_not_usable"
    with pytest.raises(DomainError) as missing:
        bank.work(lambda s: settlement.get_revenue_share_agreement(s, partner))
    assert missing.value.code == "revenue_share_agreement_not_found"


def test_an_agreement_names_a_new_payout_e_account(bank: Acquiring) -> None:
    partner = bank.partner()
    first = bank.partner_account(partner)
    second = bank.partner_account(partner)
    agreement = bank.work(lambda s: settlement.get_revenue_share_agreement(s, partner))
    assert agreement.payout_e_account_id == second.id != first.id


def test_a_statement_period_ending_before_it_starts_is_refused(bank: Acquiring) -> None:
    partner = bank.partner()
    with pytest.raises(DomainError) as caught:
        bank.work(
            lambda s: settlement.partner_statement(
                s, partner, bank.today, bank.today - timedelta(days=1)
            )
        )
    assert caught.value.code == "invalid_period"


# -- the API --------------------------------------------------------------------------------


@pytest.fixture
def api(bank: Acquiring) -> Iterator[TestClient]:
    app = create_app(bank.settings, bank.clock)
    with TestClient(app, headers=AUTH, base_url=BASE_URL) as client:
        yield client


def test_the_api_sets_an_agreement_and_shows_the_partner_statement(
    bank: Acquiring, api: TestClient
) -> None:
    partner = bank.partner()
    account = bank.payer(0)
    put = api.put(
        f"/v1/partners/{partner}/revenue-share", json={"payout_e_account_id": str(account.id)}
    )
    assert put.status_code == 200
    assert put.json()["payout_e_account_id"] == str(account.id)
    shop = bank.merchant(bank.plan(rate_ppm=6000, revenue_share_ppm=500_000))
    bank.pay(shop.id, 100_000, partner_id=partner)
    bank.next_day()
    bank.settle()
    day = bank.today.isoformat()
    statement = api.get(
        f"/v1/partners/{partner}/revenue-share/statement", params={"from": day, "to": day}
    )
    assert statement.status_code == 200
    assert statement.json()["totals"] == {
        "settlements": 1,
        "fee_income": 600,
        "share": 300,
        "paid": 300,
        "unpaid": 0,
    }
    assert bank.balance(account.id) == 300


def test_the_api_refuses_an_agreement_for_an_unknown_partner_and_writes_nothing(
    bank: Acquiring, api: TestClient
) -> None:
    account = bank.payer(0)
    partner = uuid.uuid4()
    put = api.put(
        f"/v1/partners/{partner}/revenue-share", json={"payout_e_account_id": str(account.id)}
    )
    assert (put.status_code, put.json()["code"]) == (404, "partner_not_found")
    got = api.get(f"/v1/partners/{partner}/revenue-share")
    assert (got.status_code, got.json()["code"]) == (404, "revenue_share_agreement_not_found")


def test_the_api_refuses_an_unknown_payout_e_account(bank: Acquiring, api: TestClient) -> None:
    partner = bank.partner()
    put = api.put(
        f"/v1/partners/{partner}/revenue-share", json={"payout_e_account_id": str(uuid.uuid4())}
    )
    assert (put.status_code, put.json()["code"]) == (404, "e_account_not_found")


def test_the_api_refuses_a_statement_with_a_bad_period(bank: Acquiring, api: TestClient) -> None:
    partner = bank.partner()
    url = f"/v1/partners/{partner}/revenue-share/statement"
    backwards = api.get(url, params={"from": "2026-03-02", "to": "2026-03-01"})
    assert (backwards.status_code, backwards.json()["code"]) == (422, "invalid_period")
    not_a_date = api.get(url, params={"from": "March", "to": "2026-03-01"})
    assert (not_a_date.status_code, not_a_date.json()["code"]) == (422, "validation_error")
    missing = api.get(url, params={"from": "2026-03-01"})
    assert missing.status_code == 422
    unknown = api.get(
        f"/v1/partners/{uuid.uuid4()}/revenue-share/statement",
        params={"from": "2026-03-01", "to": "2026-03-02"},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "partner_not_found")
