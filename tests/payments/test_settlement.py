"""The daily settlement batch: T+N cutoff, exactly once, the net paid through the ledger, a
shortfall carried forward, fees at the merchant's tier, the settlement file and statement."""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from openbank.api import create_app
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.models import OutboxEvent
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.ledger import service as ledger
from openbank.payments import accounts, service, settlement
from openbank.payments.schemas import Merchant
from tests.conftest import AUTH, BASE_URL
from tests.payments.settlement_support import Acquiring


@pytest.fixture
def bank(db: Database, settings: Settings) -> Acquiring:
    return Acquiring(db, settings)


def backdate(bank: Acquiring, order_id: uuid.UUID, day: date) -> None:
    """Stamp the order's capture with an earlier business date: a payment of that day whose
    transaction committed only now, after a batch had read its day."""
    unit_of_work(
        bank.db,
        lambda s: s.execute(
            text("UPDATE payment_captures SET business_date = :day WHERE order_id = :id"),
            {"day": day, "id": order_id},
        ),
    )


# -- the cutoff -----------------------------------------------------------------------------


def test_todays_payments_are_not_settled_today(bank: Acquiring) -> None:
    shop = bank.merchant()
    bank.pay(shop.id, 10_000)
    run = bank.settle()
    assert (run.created, run.items) == (0, 0)
    assert bank.settlements_of(shop.id) == []


def test_yesterdays_payments_are_settled_today(bank: Acquiring) -> None:
    shop = bank.merchant()
    paid_on = bank.today
    bank.pay(shop.id, 10_000)
    bank.pay(shop.id, 5_000)
    bank.next_day()
    run = bank.settle()
    found = bank.settlement_of(shop.id)
    assert (run.created, run.items) == (1, 2)
    assert (found.settled_on, found.cutoff_date) == (bank.today, paid_on)
    assert (found.capture_count, found.captured) == (2, 15_000)


def test_a_t_plus_2_merchant_waits_a_day_more(bank: Acquiring) -> None:
    shop = bank.merchant(settlement_delay_days=2)
    bank.pay(shop.id, 10_000)
    bank.next_day()
    assert bank.settle().created == 0
    bank.next_day()
    run = bank.settle()
    assert (run.created, run.captured) == (1, 10_000)


def test_a_day_in_the_future_is_refused(bank: Acquiring) -> None:
    with pytest.raises(DomainError) as caught:
        bank.settle(day=bank.today + timedelta(days=1))
    assert caught.value.code == "invalid_settlement_date"


# -- exactly once ---------------------------------------------------------------------------


def test_running_the_batch_again_changes_nothing(bank: Acquiring) -> None:
    shop = bank.merchant()
    made = bank.pay(shop.id, 10_000)
    bank.refund(made.id, 2_000)
    bank.next_day()
    first = bank.settle()
    before = (bank.balance(shop.settlement_e_account_id), bank.clearing(shop.id), bank.fee_income())
    again = bank.settle()
    after = (bank.balance(shop.settlement_e_account_id), bank.clearing(shop.id), bank.fee_income())
    assert (first.created, again.created, again.existing) == (1, 0, 1)
    assert after == before
    assert len(bank.settlements_of(shop.id)) == 1


def test_every_capture_and_refund_lands_in_exactly_one_settlement(bank: Acquiring) -> None:
    shop = bank.merchant()
    for _ in range(3):
        for amount in (1_000, 2_500, 7_000):
            made = bank.pay(shop.id, amount)
            if amount == 2_500:
                bank.refund(made.id, 500)
        bank.next_day()
        bank.settle()
    bank.settle()
    bank.next_day()
    bank.settle()
    counts = bank.item_counts(shop.id)
    assert set(counts) == bank.captures_and_refunds(shop.id)
    assert set(counts.values()) == {1}
    assert len(bank.settlements_of(shop.id)) == 3


def test_a_capture_committed_after_the_batch_read_its_day_is_settled_next(
    bank: Acquiring,
) -> None:
    shop = bank.merchant()
    bank.pay(shop.id, 10_000)
    bank.next_day()
    bank.settle()
    # A payment stamped yesterday that committed only now (the batch had read its day).
    backdate(bank, bank.pay(shop.id, 3_000).id, bank.today - timedelta(days=1))
    assert bank.settle().created == 0  # today's settlement is made; the late one waits
    bank.next_day()
    run = bank.settle()
    assert (run.created, run.captured) == (1, 3_000)


def test_what_a_settlement_takes_is_marked_with_it(bank: Acquiring) -> None:
    shop = bank.merchant()
    made = bank.pay(shop.id, 10_000)
    refund = bank.refund(made.id, 2_000)
    bank.next_day()
    waiting = bank.pay(shop.id, 1_000)  # today's: not due yet
    bank.settle()
    found = bank.settlement_of(shop.id)
    assert bank.marked(bank.capture_id(made.id)) == found.id
    assert bank.marked(refund.id) == found.id
    assert bank.marked(bank.capture_id(waiting.id)) is None


def test_a_capture_settled_in_an_earlier_batch_is_not_read_again(bank: Acquiring) -> None:
    shop = bank.merchant()
    first = bank.capture_id(bank.pay(shop.id, 10_000).id)
    bank.next_day()
    bank.settle()
    earlier = bank.settlement_of(shop.id)
    second = bank.capture_id(bank.pay(shop.id, 3_000).id)
    bank.next_day()
    run = bank.settle()
    later = bank.settlement_of(shop.id)
    assert (run.created, run.items, run.captured) == (1, 1, 3_000)
    assert [line.item_id for line in later.lines] == [second]
    assert (bank.marked(first), bank.marked(second)) == (earlier.id, later.id)


def test_a_refund_waits_unmarked_until_its_capture_is_settled(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000))
    made = bank.pay(shop.id, 10_000)
    refund = bank.refund(made.id, 4_000)
    # The refund stamped yesterday: due today, while its capture (today's) is not.
    bank.sql(
        "UPDATE payment_refunds SET business_date = :d WHERE id = :id",
        d=bank.today - timedelta(days=1),
        id=refund.id,
    )
    run = bank.settle()
    assert (run.created, run.nothing_due) == (0, 1)
    assert bank.marked(refund.id) is None
    bank.next_day()
    bank.settle()
    found = bank.settlement_of(shop.id)
    assert (found.captured, found.refunded, found.fees) == (10_000, 4_000, 60 - 24)
    assert bank.marked(refund.id) == found.id


# The batch's and the reconciliation's reads of what is unsettled, and their parameters.
_READS = {
    "due captures": (
        settlement._INSERT_CAPTURES,
        ["ix_payment_captures_unsettled"],
        {"rate_ppm": 6000, "fixed_fee": 0, "min_fee": 0, "max_fee": None},
    ),
    "due refunds": (settlement._INSERT_REFUNDS, ["ix_payment_refunds_unsettled"], {}),
    "due merchants": (
        settlement._DUE_MERCHANTS,
        ["ix_payment_captures_unsettled", "ix_payment_refunds_unsettled"],
        {},
    ),
    "reconciliation's unsettled sums": (
        settlement._CLEARING_EXPECTED,
        ["ix_payment_captures_unsettled", "ix_payment_refunds_unsettled"],
        {},
    ),
    "reconciliation's unsettled payments": (
        settlement._ITEMS_TO_CHECK,
        ["ix_payment_captures_unsettled", "ix_payment_refunds_unsettled"],
        {},
    ),
}


@pytest.mark.parametrize("read", list(_READS))
def test_what_is_unsettled_is_read_through_the_partial_indexes(bank: Acquiring, read: str) -> None:
    """The partial indexes hold only what is unsettled, so a read they serve costs what is due,
    not the merchants' history: with sequential scans off, each read's plan uses them."""
    statement, indexes, extra = _READS[read]
    params = {
        "settlement_id": uuid.uuid4(),
        "merchant_id": uuid.uuid4(),
        "cutoff": bank.today,
        "settled_on": bank.today,
        **extra,
    }

    def plan(session: Session) -> str:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = session.execute(text(f"EXPLAIN {statement}"), params).scalars()
        return "\n".join(rows)

    explained = bank.work(plan)
    for index in indexes:
        assert index in explained, explained


def test_a_settled_capture_marked_unsettled_again_is_not_settled_twice(bank: Acquiring) -> None:
    shop = bank.merchant()
    first = bank.capture_id(bank.pay(shop.id, 10_000).id)
    bank.next_day()
    bank.settle()
    bank.sql("UPDATE payment_captures SET settlement_id = NULL WHERE id = :id", id=first)
    bank.pay(shop.id, 3_000)
    bank.next_day()
    before = (bank.balance(shop.settlement_e_account_id), bank.clearing(shop.id))
    run = bank.settle()
    assert [(f.merchant_id, f.code) for f in run.failed] == [(shop.id, "settlement_item_conflict")]
    assert str(first) in (run.failed[0].detail or "")
    assert (bank.balance(shop.settlement_e_account_id), bank.clearing(shop.id)) == before
    assert len(bank.settlements_of(shop.id)) == 1
    assert set(bank.item_counts(shop.id).values()) == {1}


# -- money ----------------------------------------------------------------------------------


def test_the_net_is_paid_to_the_settlement_e_account_through_the_ledger(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000, fixed_fee=10))
    made = bank.pay(shop.id, 100_000)
    bank.pay(shop.id, 50_000)
    bank.refund(made.id, 20_000)
    bank.next_day()
    bank.settle()
    found = bank.settlement_of(shop.id)
    fee = (600 + 10) + (300 + 10) - 122  # 610 * 20000 / 100000 = 122 returned
    assert found.fees == fee
    assert found.net == 150_000 - 20_000 - fee
    assert bank.balance(shop.settlement_e_account_id) == found.net
    assert bank.clearing(shop.id) == 0
    payout = unit_of_work(bank.db, lambda s: ledger.get_transfer(s, found.payout_transfer_id))
    assert (payout.amount, payout.debit_account_id) == (
        found.net,
        accounts.clearing_account_id(shop.id, 0),
    )


def test_fees_go_to_the_fee_income_account(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=10_000))
    bank.pay(shop.id, 100_000)
    bank.next_day()
    income = bank.fee_income()
    bank.settle()
    assert bank.fee_income() == income + 1_000


def test_a_negative_net_is_carried_forward_then_recovered(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=0, fixed_fee=100))
    made = bank.pay(shop.id, 10_000)
    bank.next_day()
    bank.settle()
    assert bank.balance(shop.settlement_e_account_id) == 9_900
    # The next day: a full refund of yesterday's payment and a small sale.
    bank.refund(made.id, 10_000)
    bank.pay(shop.id, 1_000)
    bank.next_day()
    bank.settle()
    short = bank.settlement_of(shop.id)
    # -10000 refunded, +100 fee returned, +1000 captured, -100 fee: -9000
    assert (short.net, short.paid_out, short.carried_out) == (-9_000, 0, -9_000)
    assert short.payout_transfer_id is None
    assert bank.balance(shop.settlement_e_account_id) == 9_900
    bank.pay(shop.id, 20_000)
    bank.next_day()
    bank.settle()
    recovered = bank.settlement_of(shop.id)
    assert recovered.carried_in == -9_000
    assert (recovered.net, recovered.carried_out) == (20_000 - 100 - 9_000, 0)
    assert bank.balance(shop.settlement_e_account_id) == 9_900 + 10_900
    assert bank.clearing(shop.id) == 0


def test_a_refund_settled_after_its_capture_returns_its_share_of_the_fee(
    bank: Acquiring,
) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000))
    made = bank.pay(shop.id, 10_000)  # fee 60
    bank.next_day()
    bank.settle()
    bank.refund(made.id, 2_500)  # 15 back
    bank.refund(made.id, 2_500)  # 30 in all: 15 back
    bank.next_day()
    bank.settle()
    bank.refund(made.id, 5_000)  # the rest: 30 back
    bank.next_day()
    bank.settle()
    returned = [s.fees for s in bank.settlements_of(shop.id)]
    assert returned == [60, -30, -30]


def test_a_frozen_merchant_is_still_settled(bank: Acquiring) -> None:
    shop = bank.merchant()
    bank.pay(shop.id, 10_000)
    bank.next_day()
    bank.work(lambda s: service.set_merchant_status(s, shop.id, "frozen"))
    run = bank.settle()
    assert (run.created, run.captured) == (1, 10_000)


def test_a_frozen_settlement_e_account_fails_only_its_merchant(bank: Acquiring) -> None:
    frozen, fine = bank.merchant(), bank.merchant()
    bank.pay(frozen.id, 10_000)
    bank.pay(fine.id, 10_000)
    bank.next_day()
    bank.work(lambda s: customers.freeze_e_account(s, frozen.settlement_e_account_id))
    run = bank.settle()
    assert run.created == 1
    assert [(f.merchant_id, f.code) for f in run.failed] == [(frozen.id, "e_account_frozen")]
    assert bank.settlements_of(frozen.id) == []
    assert bank.clearing(frozen.id) == 10_000
    bank.work(lambda s: customers.unfreeze_e_account(s, frozen.settlement_e_account_id))
    assert bank.settle().created == 1


def test_an_earlier_date_after_a_later_one_is_refused(bank: Acquiring) -> None:
    shop = bank.merchant()
    bank.pay(shop.id, 1_000)
    bank.next_day(2)
    bank.settle()
    backdate(bank, bank.pay(shop.id, 1_000).id, bank.today - timedelta(days=2))
    run = bank.settle(day=bank.today - timedelta(days=1))
    assert [f.code for f in run.failed] == ["settlement_out_of_order"]


def test_settlement_is_announced_to_the_merchant(bank: Acquiring) -> None:
    shop = bank.merchant()
    bank.pay(shop.id, 10_000)
    bank.next_day()
    bank.settle()
    found = bank.settlement_of(shop.id)
    events = bank.work(
        lambda s: s.execute(
            select(func.count()).where(
                OutboxEvent.event_type == "settlement.completed",
                OutboxEvent.subject == f"settlements/{found.id}",
            )
        ).scalar_one()
    )
    assert events == 1


# -- the fee tier ---------------------------------------------------------------------------


def test_a_merchant_with_deposits_here_pays_the_lower_rate(bank: Acquiring) -> None:
    tiers = [{"name": "gold", "min_average_deposit_balance": 1_000_000, "rate_reduction_ppm": 2000}]
    plan = bank.plan(rate_ppm=6000, tiers=tiers)
    rich, plain = bank.merchant(plan), bank.merchant(plan)
    bank.work(
        lambda s: customers.top_up(
            s, rich.settlement_e_account_id, 2_000_000, bank.now, bank.settings
        )
    )
    bank.next_day(31)  # the whole deposit window behind the balance
    bank.pay(rich.id, 100_000)
    bank.pay(plain.id, 100_000)
    bank.next_day()
    bank.settle()
    rich_one, plain_one = bank.settlement_of(rich.id), bank.settlement_of(plain.id)
    assert (rich_one.fees, plain_one.fees) == (400, 600)
    explanation = rich_one.fee_explanation
    assert explanation["tier"] == "gold"
    assert explanation["effective_rate_ppm"] == 4000
    assert explanation["contribution"]["average_deposit_balance"] == 2_000_000
    assert plain_one.fee_explanation["tier"] is None


def test_a_deposit_made_within_the_window_counts_for_its_days_only(bank: Acquiring) -> None:
    shop = bank.merchant()
    bank.next_day(20)
    bank.work(
        lambda s: customers.top_up(
            s, shop.settlement_e_account_id, 3_000_000, bank.now, bank.settings
        )
    )
    bank.next_day(10)
    bank.pay(shop.id, 1_000)
    bank.next_day()
    bank.settle()
    found = bank.settlement_of(shop.id)
    # The window is the 30 days ending with the cutoff (the day of the payment): eleven of its
    # end-of-day balances hold the deposit (the top-up day and the ten after it).
    assert found.fee_explanation["contribution"]["average_deposit_balance"] == 1_100_000


def test_every_fee_the_batch_charges_is_the_one_the_python_rules_explain(
    bank: Acquiring,
) -> None:
    rng = random.Random(5)
    tiers = [{"name": "gold", "min_average_deposit_balance": 0, "rate_reduction_ppm": 1234}]
    plan = bank.plan(rate_ppm=5_555, fixed_fee=7, min_fee=25, max_fee=900, tiers=tiers)
    shop = bank.merchant(plan)
    payer = bank.payer(50_000_000)
    orders = [bank.pay(shop.id, rng.randint(1, 400_000), payer) for _ in range(15)]
    for made in orders[:5]:
        bank.refund(made.id, rng.randint(1, made.amount))
    bank.next_day()
    bank.settle()
    lines = bank.settlement_of(shop.id).lines
    assert len(lines) == 20
    for line in lines:
        if line.capture_fee is not None:
            assert line.fee == line.capture_fee.fee
        else:
            assert line.refund_fee is not None
            assert line.fee == -line.refund_fee.fee_returned


# -- the file and the statement -------------------------------------------------------------


def test_the_settlement_file_lists_every_item_and_the_totals(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000, min_fee=50))
    made = bank.pay(shop.id, 100_000)
    small = bank.pay(shop.id, 1_000)
    bank.refund(made.id, 50_000)
    bank.next_day()
    bank.settle()
    content = bank.work(lambda s: settlement.settlement_file(s, shop.id, bank.today))
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0]) == list(settlement.CSV_COLUMNS)
    by_order = {(r["kind"], r["out_trade_no"]): r for r in rows}
    big_line = by_order[("capture", made.out_trade_no)]
    small_line = by_order[("capture", small.out_trade_no)]
    refund_line = by_order[("refund", made.out_trade_no)]
    assert (big_line["amount"], big_line["fee"], big_line["percentage_part"]) == (
        "100000",
        "600",
        "600",
    )
    assert (small_line["fee"], small_line["minimum_applied"]) == ("50", "true")
    assert (refund_line["amount"], refund_line["fee"], refund_line["fee_charged"]) == (
        "50000",
        "-300",
        "600",
    )
    total = rows[-1]
    assert (total["kind"], total["amount"], total["fee"]) == ("total", "51000", "350")
    assert len(rows) == 4


def test_the_settlement_shows_each_line_explained(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000, max_fee=100))
    bank.pay(shop.id, 1_000_000)
    bank.next_day()
    bank.settle()
    (line,) = bank.settlement_of(shop.id).lines
    assert line.capture_fee is not None
    assert (line.fee, line.capture_fee.cap_applied, line.capture_fee.percentage_part) == (
        100,
        True,
        6000,
    )
    assert line.explanation.endswith("capped at 100 = fee 100")


def test_the_merchant_statement_adds_up_its_settlements(bank: Acquiring) -> None:
    shop = bank.merchant(bank.plan(rate_ppm=6000))
    start = bank.today
    for _ in range(3):
        bank.pay(shop.id, 10_000)
        bank.next_day()
        bank.settle()
    statement = bank.work(lambda s: settlement.merchant_statement(s, shop.id, start, bank.today))
    assert len(statement.settlements) == 3
    assert (statement.captured, statement.fees, statement.paid_out) == (30_000, 180, 29_820)
    assert all(len(s.lines) == 1 for s in statement.settlements)


def test_a_settlement_file_of_an_unknown_merchant_is_refused(bank: Acquiring) -> None:
    with pytest.raises(DomainError) as caught:
        bank.work(lambda s: settlement.settlement_file(s, uuid.uuid4(), bank.today))
    assert caught.value.code == "merchant_not_found"


# -- the API --------------------------------------------------------------------------------


@pytest.fixture
def api_bank(fresh_db: Database) -> Acquiring:
    """A bank with a database of its own: the API's batch settles every merchant."""
    return Acquiring(fresh_db, fresh_db.settings)


@pytest.fixture
def api(api_bank: Acquiring) -> Iterator[TestClient]:
    app = create_app(api_bank.settings, api_bank.clock)
    with TestClient(app, headers=AUTH, base_url=BASE_URL) as client:
        yield client


RUN = "/v1/payments/settlements/run"


def settled_day(bank: Acquiring, api: TestClient) -> Merchant:
    shop = bank.merchant(bank.plan(rate_ppm=6000))
    made = bank.pay(shop.id, 100_000)
    bank.refund(made.id, 10_000)
    bank.next_day()
    assert api.post(RUN).status_code == 200
    return shop


def test_the_api_runs_the_batch_and_a_rerun_changes_nothing(
    api_bank: Acquiring, api: TestClient
) -> None:
    shop = api_bank.merchant()
    api_bank.pay(shop.id, 10_000)
    api_bank.next_day()
    first = api.post(RUN)
    again = api.post(RUN, json={"settled_on": api_bank.today.isoformat()})
    assert (first.status_code, again.status_code) == (200, 200)
    assert (first.json()["created"], first.json()["items"]) == (1, 1)
    assert (again.json()["created"], again.json()["existing"]) == (0, 1)


def test_the_api_needs_an_operator(api: TestClient) -> None:
    response = api.post(RUN, headers={"Authorization": "Bearer wrong"})
    assert (response.status_code, response.json()["code"]) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "code"),
    [({"settled_on": "2024-13-01"}, "validation_error"), ({"settled_on": 20240101}, None)],
)
def test_the_api_refuses_a_bad_batch_date(
    api: TestClient, body: dict[str, object], code: str | None
) -> None:
    response = api.post(RUN, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    if code:
        assert response.json()["code"] == code


def test_the_api_refuses_a_day_that_has_not_begun_and_writes_nothing(
    api_bank: Acquiring, api: TestClient
) -> None:
    shop = api_bank.merchant()
    api_bank.pay(shop.id, 10_000)
    api_bank.next_day()
    tomorrow = (api_bank.today + timedelta(days=1)).isoformat()
    response = api.post(RUN, json={"settled_on": tomorrow})
    assert (response.status_code, response.json()["code"]) == (422, "invalid_settlement_date")
    assert api.get("/v1/payments/settlements").json()["data"] == []


def test_the_api_lists_settlements_by_merchant_and_date_a_page_at_a_time(
    api_bank: Acquiring, api: TestClient
) -> None:
    one, two = api_bank.merchant(), api_bank.merchant()
    api_bank.pay(one.id, 1_000)
    api_bank.pay(two.id, 2_000)
    api_bank.next_day()
    api.post(RUN)
    mine = api.get("/v1/payments/settlements", params={"merchant_id": str(one.id)}).json()
    assert [s["merchant_id"] for s in mine["data"]] == [str(one.id)]
    day = api_bank.today.isoformat()
    first = api.get("/v1/payments/settlements", params={"settled_on": day, "limit": 1}).json()
    assert len(first["data"]) == 1
    assert first["next"]
    second = api.get(first["next"]).json()
    assert len(second["data"]) == 1
    assert second["next"] is None
    assert {first["data"][0]["id"], second["data"][0]["id"]} == {
        s["id"] for s in api.get("/v1/payments/settlements").json()["data"]
    }


def test_the_api_shows_a_settlement_with_its_lines_explained(
    api_bank: Acquiring, api: TestClient
) -> None:
    shop = settled_day(api_bank, api)
    (listed,) = api.get("/v1/payments/settlements", params={"merchant_id": str(shop.id)}).json()[
        "data"
    ]
    detail = api.get(f"/v1/payments/settlements/{listed['id']}").json()
    assert (detail["captured"], detail["refunded"], detail["fees"]) == (100_000, 10_000, 540)
    kinds = sorted((line["kind"], line["fee"]) for line in detail["lines"])
    assert kinds == [("capture", 600), ("refund", -60)]
    assert all(line["explanation"] for line in detail["lines"])


def test_the_api_serves_the_settlement_file_as_csv(api_bank: Acquiring, api: TestClient) -> None:
    shop = settled_day(api_bank, api)
    (listed,) = api.get("/v1/payments/settlements", params={"merchant_id": str(shop.id)}).json()[
        "data"
    ]
    response = api.get(f"/v1/payments/settlements/{listed['id']}/file.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["kind"] for r in rows] == ["capture", "refund", "total"]


def test_the_api_answers_404_for_an_unknown_settlement(api: TestClient) -> None:
    response = api.get(f"/v1/payments/settlements/{uuid.uuid4()}")
    assert (response.status_code, response.json()["code"]) == (404, "settlement_not_found")
    file = api.get(f"/v1/payments/settlements/{uuid.uuid4()}/file.csv")
    assert (file.status_code, file.json()["code"]) == (404, "settlement_not_found")
    bad = api.get("/v1/payments/settlements/not-an-id")
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


def test_the_api_reconciles_a_batch_date(api_bank: Acquiring, api: TestClient) -> None:
    settled_day(api_bank, api)
    clean = api.get("/v1/payments/reconciliation", params={"settled_on": api_bank.today})
    assert clean.status_code == 200
    assert (clean.json()["ok"], clean.json()["breaks"], clean.json()["settlements"]) == (
        True,
        [],
        1,
    )
    bad = api.get("/v1/payments/reconciliation", params={"settled_on": "yesterday"})
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")


def test_the_api_documents_every_route_and_its_errors(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path, method in [
        (RUN, "post"),
        ("/v1/payments/settlements", "get"),
        ("/v1/payments/settlements/{settlement_id}", "get"),
        ("/v1/payments/settlements/{settlement_id}/file.csv", "get"),
        ("/v1/payments/reconciliation", "get"),
        ("/v1/partners/{partner_id}/revenue-share", "put"),
        ("/v1/partners/{partner_id}/revenue-share/statement", "get"),
    ]:
        responses = paths[path][method]["responses"]
        assert {"401", "404", "422"} <= set(responses), path
