"""Settlement, revenue sharing (分润) and reconciliation of acquiring.

The daily batch (`run_settlement`) settles each merchant in one transaction of its own
(`settle_merchant`): every capture and refund not yet settled whose business date is on or
before the batch date less the merchant's delay (T+1 by default) becomes an item of one new
settlement, its fee computed set-based in SQL by the same rules as `fees.py`; captured minus
refunded minus fees, plus any shortfall carried from before, is paid from the merchant's
clearing to its settlement e-account through the ledger, and each partner platform the items
came through is paid its share of their fee income. A negative net is carried forward.

Exactly once. An item's primary key is the capture's or refund's id, so each lands in one
settlement; a merchant has one settlement per batch date (unique), so running the batch again
that day reports the settlement made and changes nothing. One that commits after the batch read
its day is still unsettled, and the next batch takes it. The statement that inserts the items
also sets `settlement_id` on the captures and refunds they settle: the batch finds what is due
by `settlement_id IS NULL` through partial indexes, so it reads what is due and never the
settled history. Should the column ever say unsettled of something settled, the primary key
refuses the second item and the merchant's settlement fails (`settlement_item_conflict`);
reconciliation lists every capture or refund whose column and item disagree.

Locks. A merchant's transaction takes an advisory lock on the merchant (two batches never
settle it at once), reads and inserts its own rows, then locks the e-accounts it pays (the
settlement e-account and the partners' payout e-accounts) before any ledger transfer: the order
customers.service keeps (e-account locks before ledger locks), so settlement never deadlocks
with payments and refunds. The batch settles `WORKERS` merchants at once; they all move money
through the one fee income account, so each takes it last (payout first, then the fee and the
shares) and holds it only until its commit.

Speed. Items and fees are written set-based (INSERT ... SELECT), never row by row in Python:
a merchant's settlement is a fixed couple of dozen statements however many payments it
covers, and its cost follows what is due, not the merchant's history. Measured in
bench/settlement_bench.py (`--history` for a batch after a settled one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as day_start
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openbank.core import outbox
from openbank.core.clock import business_date
from openbank.core.database import Database
from openbank.core.errors import DomainError, InvalidCursor, NotFound
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.ledger import service as ledger
from openbank.ledger.schemas import Transfer, TransferCreate
from openbank.lending import service as lending
from openbank.payments import accounts, fees, models
from openbank.payments.errors import MerchantNotFound, PaymentsError
from openbank.payments.schemas import FeePlan
from openbank.platform import service as platform

DbWork = Callable[[Callable[[Session], Any]], Any]

# Contribution windows (module constants rather than settings: a change of them is a change of
# the fee plans' terms). Both end with the cutoff date, the last business day settled.
DEPOSIT_WINDOW_DAYS = 30  # average daily balance of the settlement e-account
INTEREST_WINDOW_DAYS = 365  # loan interest the merchant's customer paid
FEE_CODE = "acquiring_fee"
FEE_RETURN_CODE = "acquiring_fee_return"
# Merchants settled at once by the batch (each in a transaction, and a connection, of its own).
WORKERS = 4
# Reconciliation reads ledger transfers in slices of this many ids.
TRANSFER_SLICE = 50_000


# -- errors ---------------------------------------------------------------------------------


class SettlementNotFound(NotFound):
    code = "settlement_not_found"
    title = "Settlement not found"


class InvalidSettlementDate(PaymentsError):
    code = "invalid_settlement_date"
    title = "Settlement runs for a business date that has begun"


class SettlementOutOfOrder(PaymentsError):
    code = "settlement_out_of_order"
    status = 409
    title = "A later batch date was already settled"


class SettlementItemConflict(PaymentsError):
    code = "settlement_item_conflict"
    status = 409
    title = "A capture or refund not marked settled is already in a settlement"


class InvalidPeriod(PaymentsError):
    code = "invalid_period"
    title = "The period must not end before it starts, nor span more than 400 days"


class RevenueShareAgreementNotFound(NotFound):
    code = "revenue_share_agreement_not_found"
    title = "The partner has no revenue share agreement"


class PayoutAccountNotUsable(PaymentsError):
    code = "payout_e_account_not_usable"
    status = 409
    title = "The payout e-account must be an active class I e-account"


# -- schemas --------------------------------------------------------------------------------


class Settlement(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    settled_on: date = Field(description="The batch's business date")
    cutoff_date: date = Field(description="Captures and refunds up to this business date")
    currency: str
    capture_count: int
    captured: int
    refund_count: int
    refunded: int
    fees: int = Field(description="Fees charged less fees returned with refunds, fen")
    carried_in: int = Field(description="Shortfall carried from the last settlement (<= 0)")
    net: int
    paid_out: int
    carried_out: int = Field(description="Shortfall carried to the next settlement (<= 0)")
    fee_explanation: dict[str, Any]
    fee_transfer_id: uuid.UUID | None
    payout_transfer_id: uuid.UUID | None
    created_at: datetime


SettlementItemKind = Literal["capture", "refund"]


class SettlementLine(BaseModel):
    item_id: uuid.UUID
    kind: SettlementItemKind
    order_id: uuid.UUID
    out_trade_no: str
    business_date: date
    partner_id: uuid.UUID | None
    amount: int
    fee: int = Field(description="Charged (positive) or returned with a refund (negative)")
    capture_fee: fees.FeeExplanation | None = None
    refund_fee: fees.RefundFeeExplanation | None = None
    explanation: str


RevenueShareStatus = Literal["paid", "unpaid", "nothing_due"]


class RevenueShare(BaseModel):
    id: uuid.UUID
    settlement_id: uuid.UUID
    partner_id: uuid.UUID
    merchant_id: uuid.UUID
    settled_on: date
    fee_income: int = Field(description="Net fee income of the partner's items, fen")
    share_ppm: int
    amount: int
    ledger_transfer_id: uuid.UUID | None
    status: RevenueShareStatus = Field(
        description="paid; unpaid (no agreement, or its e-account refused it); nothing_due"
    )
    created_at: datetime


class SettlementDetail(Settlement):
    lines: list[SettlementLine]
    revenue_shares: list[RevenueShare]


class SettlementPage(BaseModel):
    data: list[Settlement]
    next_cursor: str | None
    next: str | None = None


MerchantOutcomeStatus = Literal["created", "existing", "nothing_due", "failed"]


class MerchantOutcome(BaseModel):
    merchant_id: uuid.UUID
    status: MerchantOutcomeStatus
    settlement_id: uuid.UUID | None = None
    items: int = 0
    captured: int = 0
    refunded: int = 0
    fees: int = 0
    paid_out: int = 0
    carried_out: int = 0
    revenue_shares_paid: int = 0
    revenue_shares_unpaid: int = 0
    code: str | None = None
    detail: str | None = None


class SettlementRun(BaseModel):
    settled_on: date
    merchants: int = Field(description="Merchants with something due or settled this date")
    created: int
    existing: int
    nothing_due: int
    failed: list[MerchantOutcome]
    items: int
    captured: int
    refunded: int
    fees: int
    paid_out: int
    carried_out: int
    revenue_shares_paid: int
    revenue_shares_unpaid: int
    seconds: float


class SettlementRunRequest(BaseModel):
    settled_on: date | None = Field(
        default=None, description="The batch's business date; default: today in bank time"
    )


class RevenueShareAgreementSet(BaseModel):
    payout_e_account_id: uuid.UUID = Field(
        description="The partner's active class I e-account at this bank"
    )


class RevenueShareAgreement(BaseModel):
    partner_id: uuid.UUID
    payout_e_account_id: uuid.UUID
    created_at: datetime


class PartnerStatementTotals(BaseModel):
    settlements: int
    fee_income: int
    share: int
    paid: int
    unpaid: int


class PartnerStatement(BaseModel):
    partner_id: uuid.UUID
    start: date
    end: date
    agreement: RevenueShareAgreement | None
    shares: list[RevenueShare]
    totals: PartnerStatementTotals


class MerchantStatement(BaseModel):
    merchant_id: uuid.UUID
    start: date
    end: date
    settlements: list[SettlementDetail]
    captured: int
    refunded: int
    fees: int
    paid_out: int
    carried_out: int = Field(description="What the last settlement of the period carried on")


class ReconciliationBreak(BaseModel):
    kind: str
    subject: str
    merchant_id: uuid.UUID | None = None
    detail: str


class ReconciliationReport(BaseModel):
    settled_on: date
    ok: bool
    settlements: int
    captures_checked: int
    refunds_checked: int
    revenue_shares_checked: int
    merchants_checked: int
    breaks: list[ReconciliationBreak]
    seconds: float


# -- fees in SQL ----------------------------------------------------------------------------
# The rules of `fees.py` in SQL integer arithmetic (numeric, so no product overflows); a
# test holds both equal on many random cases. `div` truncates, which is floor for the
# non-negative numbers here: div(2n + d, 2d) is n / d rounded half up.


def capture_fee_sql(amount: str) -> str:
    """The fee of a capture of `amount` at the rate in the statement's parameters :rate_ppm,
    :fixed_fee, :min_fee, :max_fee (NULL: no cap; LEAST ignores NULL)."""
    return (
        f"LEAST(GREATEST(div(2 * ({amount})::numeric * :rate_ppm + 1000000, 2000000)"
        " + :fixed_fee, :min_fee), CAST(:max_fee AS bigint))::bigint"
    )


def returned_in_all_sql(fee: str, captured: str, refunded: str) -> str:
    """`fees.returned_in_all` in SQL."""
    return (
        f"div(2 * ({fee})::numeric * LEAST(({refunded})::numeric, ({captured})::numeric)"
        f" + ({captured})::numeric, 2 * ({captured})::numeric)"
    )


def fee_returned_sql(fee: str, captured: str, refunded_before: str, amount: str) -> str:
    """`fees.fee_returned` in SQL."""
    after = returned_in_all_sql(fee, captured, f"({refunded_before})::numeric + ({amount})")
    before = returned_in_all_sql(fee, captured, refunded_before)
    return f"({after} - {before})::bigint"


# What is unsettled is found by `settlement_id IS NULL` (the column the batch sets on what it
# settles), which the partial indexes ix_payment_{captures,refunds}_unsettled serve: a batch
# reads what is due, never the merchant's settled history. The items' primary key stays the
# guarantee of exactly once: an item inserted twice fails the merchant's transaction.

# Both statements insert the items, mark what they settle in the same statement, and return
# the items' sums per partner (NULL: none). Captures are marked first and their items made from
# what the UPDATE returns: one pass over the partial index.
_INSERT_CAPTURES = f"""
WITH marked AS (
    UPDATE payment_captures AS c SET settlement_id = :settlement_id
    WHERE c.merchant_id = :merchant_id AND c.business_date <= :cutoff
      AND c.settlement_id IS NULL
    RETURNING c.id, c.order_id, c.partner_id, c.amount
), inserted AS (
    INSERT INTO payment_settlement_items
        (item_id, settlement_id, kind, order_id, partner_id, amount, fee)
    SELECT id, :settlement_id, 'capture', order_id, partner_id, amount,
           {capture_fee_sql("amount")}
    FROM marked
    RETURNING partner_id, amount, fee
)
SELECT partner_id, count(*), sum(amount)::bigint, sum(fee)::bigint
FROM inserted GROUP BY partner_id
"""

# A refund waits until its order's capture is settled (it can only be the same day or later).
# Its fee return counts the refunds of the order settled before it, then the batch's own in
# time order, so the returns add up to the fee's part for all refunded so far. The fee charged
# and the refunds settled before are read from the items: they are what was paid.
_INSERT_REFUNDS = f"""
WITH due AS (
    SELECT r.id, r.order_id, r.partner_id, r.amount, r.refunded_at
    FROM payment_refunds AS r
    WHERE r.merchant_id = :merchant_id AND r.business_date <= :cutoff
      AND r.settlement_id IS NULL
), charged AS (
    SELECT c.order_id, c.amount AS captured, i.fee AS fee_charged
    FROM payment_captures AS c JOIN payment_settlement_items AS i ON i.item_id = c.id
    WHERE c.order_id IN (SELECT order_id FROM due)
), settled_before AS (
    SELECT r.order_id, sum(r.amount) AS refunded
    FROM payment_refunds AS r JOIN payment_settlement_items AS i ON i.item_id = r.id
    WHERE r.order_id IN (SELECT order_id FROM due)
    GROUP BY r.order_id
), running AS (
    SELECT due.id, due.order_id, due.partner_id, due.amount, charged.captured,
           charged.fee_charged,
           COALESCE(settled_before.refunded, 0) + sum(due.amount) OVER (
               PARTITION BY due.order_id ORDER BY due.refunded_at, due.id
           ) - due.amount AS refunded_before
    FROM due JOIN charged USING (order_id) LEFT JOIN settled_before USING (order_id)
), inserted AS (
    INSERT INTO payment_settlement_items
        (item_id, settlement_id, kind, order_id, partner_id, amount, fee)
    SELECT id, :settlement_id, 'refund', order_id, partner_id, amount,
           -{fee_returned_sql("fee_charged", "captured", "refunded_before", "amount")}
    FROM running
    RETURNING item_id, partner_id, amount, fee
), marked AS (
    UPDATE payment_refunds AS r SET settlement_id = :settlement_id
    FROM inserted WHERE r.id = inserted.item_id
)
SELECT partner_id, count(*), sum(amount)::bigint, sum(fee)::bigint
FROM inserted GROUP BY partner_id
"""

_DUE_MERCHANTS = """
SELECT m.id FROM merchants AS m
WHERE (EXISTS (
        SELECT 1 FROM payment_captures AS c
        WHERE c.merchant_id = m.id
          AND c.business_date <= CAST(:settled_on AS date) - m.settlement_delay_days::int
          AND c.settlement_id IS NULL)
   OR EXISTS (
        SELECT 1 FROM payment_refunds AS r
        WHERE r.merchant_id = m.id
          AND r.business_date <= CAST(:settled_on AS date) - m.settlement_delay_days::int
          AND r.settlement_id IS NULL)
   OR EXISTS (
        SELECT 1 FROM payment_settlements AS s
        WHERE s.merchant_id = m.id AND s.settled_on = :settled_on))
ORDER BY m.id
"""


# -- contribution ---------------------------------------------------------------------------


def _midnight(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, day_start(0), tzinfo=settings.tz)


def contribution_of(
    session: Session,
    settlement_ledger_account_id: uuid.UUID,
    customer_id: uuid.UUID,
    cutoff: date,
    settings: Settings,
) -> tuple[fees.Contribution, dict[str, str]]:
    """A merchant's contribution to the bank up to the cutoff date, and the windows read:
    the average daily balance of its settlement e-account (its ledger account) over the
    `DEPOSIT_WINDOW_DAYS` days ending with the cutoff, and the loan interest its customer paid
    in the `INTEREST_WINDOW_DAYS` days ending with it."""
    deposit_from = cutoff - timedelta(days=DEPOSIT_WINDOW_DAYS - 1)
    interest_from = cutoff - timedelta(days=INTEREST_WINDOW_DAYS - 1)
    balance = ledger.average_daily_balance(
        session,
        settlement_ledger_account_id,
        _midnight(deposit_from, settings),
        _midnight(cutoff + timedelta(days=1), settings),
    )
    interest = lending.interest_paid(session, customer_id, interest_from, cutoff)
    windows = {
        "deposit_from": deposit_from.isoformat(),
        "interest_from": interest_from.isoformat(),
        "to": cutoff.isoformat(),
    }
    return fees.Contribution(average_deposit_balance=balance, loan_interest_paid=interest), windows


# -- the batch ------------------------------------------------------------------------------


def _merchant_lock_key(merchant_id: uuid.UUID) -> int:
    digest = hashlib.blake2b(b"settlement:" + merchant_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _settlement_out(row: models.Settlement) -> Settlement:
    return Settlement.model_validate(row, from_attributes=True)


@dataclass
class _Sums:
    count: int = 0
    amount: int = 0
    fee: int = 0


_ITEMS_PRIMARY_KEY = "payment_settlement_items_pkey"


def _insert_items(
    session: Session, sql: str, params: dict[str, Any], by_partner: dict[uuid.UUID, int]
) -> _Sums:
    sums = _Sums()
    try:
        rows = session.execute(text(sql), params).all()
    except IntegrityError as exc:
        diag = getattr(exc.orig, "diag", None)
        if getattr(diag, "constraint_name", None) != _ITEMS_PRIMARY_KEY:
            raise
        # The column said unsettled of something settled: the key kept it from a second
        # settlement; the merchant waits until its column is put right (reconciliation names it).
        raise SettlementItemConflict(
            f"merchant {params['merchant_id']}: {getattr(diag, 'message_detail', None)}"
        ) from exc
    for partner_id, count, amount, fee in rows:
        sums.count += int(count)
        sums.amount += int(amount)
        sums.fee += int(fee)
        if partner_id is not None:
            by_partner[partner_id] = by_partner.get(partner_id, 0) + int(fee)
    return sums


def _transfer(
    session: Session,
    debit: uuid.UUID,
    credit: uuid.UUID,
    amount: int,
    code: str,
    metadata: dict[str, str],
    now: datetime,
) -> uuid.UUID:
    spec = TransferCreate(
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        currency=accounts.CURRENCY,
        code=code,
        metadata=metadata,
    )
    return ledger.transfer(session, ledger.transfer_command(spec), now).id


_MERCHANT = """
SELECT m.customer_id, m.settlement_e_account_id, m.settlement_ledger_account_id,
       m.settlement_delay_days, m.app_id,
       p.code, p.name, p.rate_ppm, p.fixed_fee, p.min_fee, p.max_fee, p.tiers,
       p.revenue_share_ppm, p.created_at,
       (SELECT s.id FROM payment_settlements AS s
         WHERE s.merchant_id = m.id AND s.settled_on = :settled_on),
       (SELECT max(s.settled_on) FROM payment_settlements AS s WHERE s.merchant_id = m.id),
       (SELECT s.carried_out FROM payment_settlements AS s
         WHERE s.merchant_id = m.id AND s.settled_on < :settled_on
         ORDER BY s.settled_on DESC LIMIT 1)
FROM merchants AS m JOIN payment_fee_plans AS p ON p.code = m.fee_plan_code
WHERE m.id = :merchant_id
"""


@dataclass(frozen=True)
class _Merchant:
    """What settling a merchant reads first, by one statement."""

    id: uuid.UUID
    customer_id: uuid.UUID
    settlement_e_account_id: uuid.UUID
    settlement_ledger_account_id: uuid.UUID
    settlement_delay_days: int
    app_id: uuid.UUID | None
    plan: FeePlan
    existing: uuid.UUID | None  # its settlement of the batch date
    latest: date | None  # its latest settlement's batch date
    carried_in: int  # what its last settlement before the batch date carried on


def _merchant_for(session: Session, merchant_id: uuid.UUID, settled_on: date) -> _Merchant:
    row = session.execute(
        text(_MERCHANT), {"merchant_id": merchant_id, "settled_on": settled_on}
    ).one_or_none()
    if row is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    plan = FeePlan(
        code=row[5],
        name=row[6],
        rate_ppm=row[7],
        fixed_fee=row[8],
        min_fee=row[9],
        max_fee=row[10],
        tiers=row[11],
        revenue_share_ppm=row[12],
        created_at=row[13],
    )
    return _Merchant(
        id=merchant_id,
        customer_id=row[0],
        settlement_e_account_id=row[1],
        settlement_ledger_account_id=row[2],
        settlement_delay_days=row[3],
        app_id=row[4],
        plan=plan,
        existing=row[14],
        latest=row[15],
        carried_in=int(row[16] or 0),
    )


def settle_merchant(
    session: Session,
    merchant_id: uuid.UUID,
    settled_on: date,
    now: datetime,
    settings: Settings,
    *,
    fee_income_account_id: uuid.UUID | None = None,
) -> MerchantOutcome:
    """Settle one merchant for the batch date, in the caller's transaction (see the module's
    docstring). A settlement already made for the date is reported, not made again. The
    fee income account is created here unless the caller did (`fee_income_account_id`)."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _merchant_lock_key(merchant_id)}
    )
    merchant = _merchant_for(session, merchant_id, settled_on)
    if merchant.existing is not None:
        return MerchantOutcome(
            merchant_id=merchant_id, status="existing", settlement_id=merchant.existing
        )
    if merchant.latest is not None and merchant.latest > settled_on:
        # A shortfall is carried from one settlement to the next in date order.
        raise SettlementOutOfOrder(
            f"merchant {merchant_id} was settled for {merchant.latest}, after {settled_on}",
            latest=merchant.latest.isoformat(),
        )

    cutoff = settled_on - timedelta(days=merchant.settlement_delay_days)
    contribution, windows = contribution_of(
        session, merchant.settlement_ledger_account_id, merchant.customer_id, cutoff, settings
    )
    rate = fees.rate_for(merchant.plan, contribution)
    settlement_id = new_id()
    session.execute(
        insert(models.Settlement).values(
            id=settlement_id,
            merchant_id=merchant_id,
            settled_on=settled_on,
            cutoff_date=cutoff,
            currency=accounts.CURRENCY,
            capture_count=0,
            captured=0,
            refund_count=0,
            refunded=0,
            fees=0,
            carried_in=merchant.carried_in,
            net=0,
            paid_out=0,
            carried_out=0,
            fee_explanation={
                **rate.model_dump(mode="json"),
                "revenue_share_ppm": merchant.plan.revenue_share_ppm,
                "windows": windows,
            },
            created_at=now,
        )
    )
    params: dict[str, Any] = {
        "settlement_id": settlement_id,
        "merchant_id": merchant_id,
        "cutoff": cutoff,
        "rate_ppm": rate.effective_rate_ppm,
        "fixed_fee": rate.fixed_fee,
        "min_fee": rate.min_fee,
        "max_fee": rate.max_fee,
    }
    by_partner: dict[uuid.UUID, int] = {}
    captures = _insert_items(session, _INSERT_CAPTURES, params, by_partner)
    refunds = _insert_items(session, _INSERT_REFUNDS, params, by_partner)
    if captures.count + refunds.count == 0:
        # Only refunds waiting for their capture: no settlement today.
        session.execute(delete(models.Settlement).where(models.Settlement.id == settlement_id))
        return MerchantOutcome(merchant_id=merchant_id, status="nothing_due")

    total_fees = captures.fee + refunds.fee
    net = captures.amount - refunds.amount - total_fees + merchant.carried_in
    paid_out, carried_out = max(net, 0), min(net, 0)
    agreements: dict[uuid.UUID, uuid.UUID] = {}
    if by_partner:
        a = models.RevenueShareAgreement
        rows = session.execute(
            select(a.partner_id, a.payout_e_account_id).where(a.partner_id.in_(list(by_partner)))
        )
        agreements = {row[0]: row[1] for row in rows}
    # E-account locks first, then ledger locks (see the module's docstring).
    customers.lock_e_accounts(session, [merchant.settlement_e_account_id, *agreements.values()])
    fee_income = fee_income_account_id or accounts.fee_income_account(session, now)
    clearing = accounts.clearing_account_id(merchant_id, 0)
    payout_transfer_id: uuid.UUID | None = None
    fee_transfer_id: uuid.UUID | None = None
    if paid_out > 0:
        payout_transfer_id = customers.credit_from_acquiring(
            session,
            merchant.settlement_e_account_id,
            clearing,
            paid_out,
            "settlement",
            now,
            settings,
        ).ledger_transfer_id
    # The fee transfer comes after the payout: every merchant's settlement locks the one fee
    # income account, so it is held from here to the commit only.
    metadata = {"settlement_id": str(settlement_id), "merchant_id": str(merchant_id)}
    if total_fees > 0:
        fee_transfer_id = _transfer(
            session, clearing, fee_income, total_fees, FEE_CODE, metadata, now
        )
    elif total_fees < 0:
        fee_transfer_id = _transfer(
            session, fee_income, clearing, -total_fees, FEE_RETURN_CODE, metadata, now
        )
    outcome = MerchantOutcome(
        merchant_id=merchant_id,
        status="created",
        settlement_id=settlement_id,
        items=captures.count + refunds.count,
        captured=captures.amount,
        refunded=refunds.amount,
        fees=total_fees,
        paid_out=paid_out,
        carried_out=carried_out,
    )
    shares = []
    for partner_id, fee_income_of_partner in sorted(by_partner.items()):
        share = _share(
            session,
            settlement_id,
            merchant_id,
            settled_on,
            partner_id,
            fee_income_of_partner,
            merchant.plan.revenue_share_ppm,
            agreements.get(partner_id),
            fee_income,
            now,
            settings,
        )
        shares.append(share)
        if share["ledger_transfer_id"] is not None:
            outcome.revenue_shares_paid += share["amount"]
        else:
            outcome.revenue_shares_unpaid += share["amount"]
    if shares:
        session.execute(insert(models.RevenueSharePayment), shares)
    settled = session.execute(
        update(models.Settlement)
        .where(models.Settlement.id == settlement_id)
        .values(
            capture_count=captures.count,
            captured=captures.amount,
            refund_count=refunds.count,
            refunded=refunds.amount,
            fees=total_fees,
            net=net,
            paid_out=paid_out,
            carried_out=carried_out,
            fee_transfer_id=fee_transfer_id,
            payout_transfer_id=payout_transfer_id,
        )
        .returning(models.Settlement)
    ).scalar_one()
    outbox.emit(
        session,
        "settlement.completed",
        f"settlements/{settlement_id}",
        _settlement_out(settled).model_dump(mode="json"),
        now,
        merchant.app_id,
    )
    return outcome


def share_of(fee_income: int, share_ppm: int) -> int:
    """A partner's share of the fee income its payments brought (rounded down; nothing when
    refunds returned more fee than its payments brought in this settlement)."""
    return fee_income * share_ppm // fees.PPM if fee_income > 0 else 0


def _share(
    session: Session,
    settlement_id: uuid.UUID,
    merchant_id: uuid.UUID,
    settled_on: date,
    partner_id: uuid.UUID,
    fee_income: int,
    share_ppm: int,
    payout_e_account_id: uuid.UUID | None,
    fee_income_account: uuid.UUID,
    now: datetime,
    settings: Settings,
) -> dict[str, Any]:
    """One partner's share (a `payment_revenue_shares` row), paid when the partner has an
    agreement. A payout the partner's e-account refuses is rolled back to a savepoint and
    left unpaid: it never fails the merchant's settlement."""
    amount = share_of(fee_income, share_ppm)
    transfer_id: uuid.UUID | None = None
    if amount > 0 and payout_e_account_id is not None:
        try:
            with session.begin_nested():
                transfer_id = customers.credit_from_acquiring(
                    session,
                    payout_e_account_id,
                    fee_income_account,
                    amount,
                    "revenue_share",
                    now,
                    settings,
                ).ledger_transfer_id
        except DomainError:
            transfer_id = None
    return {
        "id": new_id(),
        "settlement_id": settlement_id,
        "partner_id": partner_id,
        "merchant_id": merchant_id,
        "settled_on": settled_on,
        "fee_income": fee_income,
        "share_ppm": share_ppm,
        "amount": amount,
        "ledger_transfer_id": transfer_id,
        "created_at": now,
    }


def _share_out(row: models.RevenueSharePayment) -> RevenueShare:
    status: RevenueShareStatus = (
        "paid" if row.ledger_transfer_id else ("unpaid" if row.amount else "nothing_due")
    )
    return RevenueShare(
        id=row.id,
        settlement_id=row.settlement_id,
        partner_id=row.partner_id,
        merchant_id=row.merchant_id,
        settled_on=row.settled_on,
        fee_income=row.fee_income,
        share_ppm=row.share_ppm,
        amount=row.amount,
        ledger_transfer_id=row.ledger_transfer_id,
        status=status,
        created_at=row.created_at,
    )


def due_merchants(
    session: Session, settled_on: date, merchant_ids: Sequence[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    """Merchants (of `merchant_ids`, or all) with captures or refunds due for the batch date,
    or settled on it already."""
    sql = _DUE_MERCHANTS
    params: dict[str, Any] = {"settled_on": settled_on}
    if merchant_ids is not None:
        sql = sql.replace("ORDER BY m.id", "AND m.id = ANY(:merchant_ids) ORDER BY m.id")
        params["merchant_ids"] = list(merchant_ids)
    return list(session.execute(text(sql), params).scalars())


def check_batch_date(settled_on: date, now: datetime, settings: Settings) -> None:
    """The batch runs for a business date that has begun."""
    today = business_date(now, settings.tz)
    if settled_on > today:
        raise InvalidSettlementDate(f"{settled_on} has not begun (today is {today})")


def run_settlement(
    db_work: DbWork,
    now: datetime,
    settings: Settings,
    *,
    settled_on: date | None = None,
    merchant_ids: Sequence[uuid.UUID] | None = None,
    workers: int = WORKERS,
    on_progress: Callable[[int, int], None] | None = None,
) -> SettlementRun:
    """The daily batch for `settled_on` (default: the business date of `now`): each due
    merchant (of `merchant_ids`, or all) settled in a transaction of its own (`db_work` runs a
    function in a unit of work; it must be safe to call from `workers` threads at once). A
    merchant whose settlement is refused (its e-account frozen, a later date already settled)
    is reported as failed and its items wait for the next batch; the others go on."""
    started = time.perf_counter()
    day = settled_on or business_date(now, settings.tz)
    check_batch_date(day, now, settings)
    due: list[uuid.UUID] = db_work(lambda s: due_merchants(s, day, merchant_ids))
    fee_income: uuid.UUID = db_work(lambda s: accounts.fee_income_account(s, now))
    work = partial(
        settle_merchant,
        settled_on=day,
        now=now,
        settings=settings,
        fee_income_account_id=fee_income,
    )

    def settle(merchant_id: uuid.UUID) -> MerchantOutcome:
        try:
            outcome: MerchantOutcome = db_work(partial(work, merchant_id=merchant_id))
        except DomainError as exc:
            outcome = MerchantOutcome(
                merchant_id=merchant_id, status="failed", code=exc.code, detail=exc.detail
            )
        return outcome

    outcomes: list[MerchantOutcome] = []
    if workers <= 1 or len(due) <= 1:
        for merchant_id in due:
            outcomes.append(settle(merchant_id))
            if on_progress is not None:
                on_progress(len(outcomes), len(due))
    else:
        # Merchants are independent: while one waits on the database, others go on.
        with ThreadPoolExecutor(workers, thread_name_prefix="settlement") as pool:
            for future in as_completed([pool.submit(settle, m) for m in due]):
                outcomes.append(future.result())
                if on_progress is not None:
                    on_progress(len(outcomes), len(due))
    outcomes.sort(key=lambda o: o.merchant_id)
    created = [o for o in outcomes if o.status == "created"]
    return SettlementRun(
        settled_on=day,
        merchants=len(outcomes),
        created=len(created),
        existing=sum(o.status == "existing" for o in outcomes),
        nothing_due=sum(o.status == "nothing_due" for o in outcomes),
        failed=[o for o in outcomes if o.status == "failed"],
        items=sum(o.items for o in created),
        captured=sum(o.captured for o in created),
        refunded=sum(o.refunded for o in created),
        fees=sum(o.fees for o in created),
        paid_out=sum(o.paid_out for o in created),
        carried_out=sum(o.carried_out for o in created),
        revenue_shares_paid=sum(o.revenue_shares_paid for o in created),
        revenue_shares_unpaid=sum(o.revenue_shares_unpaid for o in created),
        seconds=round(time.perf_counter() - started, 3),
    )


# -- reading settlements --------------------------------------------------------------------


def _settlement_row(session: Session, settlement_id: uuid.UUID) -> models.Settlement:
    row = session.get(models.Settlement, settlement_id)
    if row is None:
        raise SettlementNotFound(f"no settlement {settlement_id}")
    return row


def list_settlements(
    session: Session,
    merchant_id: uuid.UUID | None,
    settled_on: date | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Settlement], str | None]:
    """Settlements oldest first, `limit` after `cursor`, of one merchant and/or date."""
    s = models.Settlement
    query = select(s).order_by(s.id).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(s.merchant_id == merchant_id)
    if settled_on is not None:
        query = query.where(s.settled_on == settled_on)
    if cursor:
        try:
            query = query.where(s.id > uuid.UUID(cursor))
        except ValueError:
            raise InvalidCursor() from None
    rows = session.execute(query).scalars().all()
    page = [_settlement_out(r) for r in rows[:limit]]
    return page, (str(page[-1].id) if len(rows) > limit else None)


_LINES = """
SELECT i.item_id, i.kind, i.order_id, o.out_trade_no,
       COALESCE(c.business_date, r.business_date), i.partner_id, i.amount, i.fee,
       refunded_capture.amount, capture_item.fee,
       (SELECT COALESCE(sum(r2.amount), 0)
          FROM payment_refunds AS r2
          JOIN payment_settlement_items AS i2 ON i2.item_id = r2.id
          JOIN payment_settlements AS s2 ON s2.id = i2.settlement_id
         WHERE r.id IS NOT NULL AND r2.order_id = r.order_id
           AND (s2.settled_on, r2.refunded_at, r2.id) < (:settled_on, r.refunded_at, r.id))
FROM payment_settlement_items AS i
JOIN payment_orders AS o ON o.id = i.order_id
LEFT JOIN payment_captures AS c ON c.id = i.item_id
LEFT JOIN payment_refunds AS r ON r.id = i.item_id
LEFT JOIN payment_captures AS refunded_capture ON refunded_capture.order_id = r.order_id
LEFT JOIN payment_settlement_items AS capture_item ON capture_item.item_id = refunded_capture.id
WHERE i.settlement_id = :settlement_id
ORDER BY i.kind, COALESCE(c.captured_at, r.refunded_at), i.item_id
"""


def _rate_of(row: models.Settlement) -> fees.Rate:
    return fees.Rate.model_validate(row.fee_explanation)


def settlement_lines(session: Session, row: models.Settlement) -> list[SettlementLine]:
    """Every item of the settlement with its fee explained (captures first, in time order)."""
    rate = _rate_of(row)
    lines: list[SettlementLine] = []
    params = {"settlement_id": row.id, "settled_on": row.settled_on}
    for r in session.execute(text(_LINES), params):
        item_id, kind, order_id, out_trade_no, day, partner_id, amount, fee = r[:8]
        captured, fee_charged, refunded_before = r[8:]
        line: dict[str, Any] = {
            "item_id": item_id,
            "kind": kind,
            "order_id": order_id,
            "out_trade_no": out_trade_no,
            "business_date": day,
            "partner_id": partner_id,
            "amount": amount,
            "fee": fee,
        }
        if kind == "capture":
            explained = fees.explain_capture(amount, rate)
            line.update(capture_fee=explained, explanation=explained.text())
        else:
            refund = fees.explain_refund(
                int(fee_charged), int(captured), int(refunded_before), amount
            )
            line.update(refund_fee=refund, explanation=refund.text())
        lines.append(SettlementLine(**line))
    return lines


def _shares_of(session: Session, settlement_ids: Sequence[uuid.UUID]) -> list[RevenueShare]:
    p = models.RevenueSharePayment
    rows = session.execute(
        select(p).where(p.settlement_id.in_(list(settlement_ids))).order_by(p.id)
    ).scalars()
    return [_share_out(r) for r in rows]


def _detail(session: Session, row: models.Settlement) -> SettlementDetail:
    return SettlementDetail(
        **_settlement_out(row).model_dump(),
        lines=settlement_lines(session, row),
        revenue_shares=_shares_of(session, [row.id]),
    )


def get_settlement(session: Session, settlement_id: uuid.UUID) -> SettlementDetail:
    """A settlement with every line explained and its revenue shares."""
    return _detail(session, _settlement_row(session, settlement_id))


def find_settlement(session: Session, merchant_id: uuid.UUID, settled_on: date) -> Settlement:
    """The merchant's settlement of a batch date."""
    s = models.Settlement
    row = session.execute(
        select(s).where(s.merchant_id == merchant_id, s.settled_on == settled_on)
    ).scalar_one_or_none()
    if row is None:
        if session.get(models.Merchant, merchant_id) is None:
            raise MerchantNotFound(f"no merchant {merchant_id}")
        raise SettlementNotFound(f"merchant {merchant_id} has no settlement of {settled_on}")
    return _settlement_out(row)


CSV_COLUMNS = (
    "kind",
    "item_id",
    "order_id",
    "out_trade_no",
    "business_date",
    "amount",
    "fee",
    "base_rate_ppm",
    "tier",
    "rate_reduction_ppm",
    "effective_rate_ppm",
    "percentage_part",
    "fixed_part",
    "minimum_applied",
    "cap_applied",
    "fee_charged",
    "refunded_before",
    "explanation",
)


def settlement_csv(detail: SettlementDetail) -> str:
    """The settlement file: a header, one line per capture and refund (amounts in fen, the
    fee with the figures that explain it), and a totals line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in detail.lines:
        row: dict[str, Any] = {
            "kind": line.kind,
            "item_id": line.item_id,
            "order_id": line.order_id,
            "out_trade_no": line.out_trade_no,
            "business_date": line.business_date.isoformat(),
            "amount": line.amount,
            "fee": line.fee,
            "explanation": line.explanation,
        }
        if line.capture_fee is not None:
            c = line.capture_fee
            row.update(
                base_rate_ppm=c.base_rate_ppm,
                tier=c.tier or "",
                rate_reduction_ppm=c.rate_reduction_ppm,
                effective_rate_ppm=c.effective_rate_ppm,
                percentage_part=c.percentage_part,
                fixed_part=c.fixed_part,
                minimum_applied=str(c.minimum_applied).lower(),
                cap_applied=str(c.cap_applied).lower(),
            )
        if line.refund_fee is not None:
            row.update(
                fee_charged=line.refund_fee.fee_charged,
                refunded_before=line.refund_fee.refunded_before,
            )
        writer.writerow([row.get(column, "") for column in CSV_COLUMNS])
    totals = (
        f"{detail.capture_count} captures {detail.captured}, {detail.refund_count} refunds"
        f" {detail.refunded}, fees {detail.fees}, carried in {detail.carried_in}, net"
        f" {detail.net}, paid out {detail.paid_out}, carried out {detail.carried_out}"
    )
    total_row = {
        "kind": "total",
        "business_date": detail.cutoff_date.isoformat(),
        "amount": detail.captured - detail.refunded,
        "fee": detail.fees,
        "explanation": totals,
    }
    writer.writerow([total_row.get(column, "") for column in CSV_COLUMNS])
    return out.getvalue()


def settlement_file(session: Session, merchant_id: uuid.UUID, settled_on: date) -> str:
    """The merchant's settlement file (CSV) of a batch date."""
    found = find_settlement(session, merchant_id, settled_on)
    return settlement_csv(get_settlement(session, found.id))


def _check_period(start: date, end: date) -> None:
    if end < start or (end - start).days > 400:
        raise InvalidPeriod(f"{start} to {end}")


def merchant_statement(
    session: Session, merchant_id: uuid.UUID, start: date, end: date
) -> MerchantStatement:
    """The merchant's settlements of batch dates in [start, end], each line explained."""
    _check_period(start, end)
    if session.get(models.Merchant, merchant_id) is None:
        raise MerchantNotFound(f"no merchant {merchant_id}")
    s = models.Settlement
    rows = session.execute(
        select(s)
        .where(s.merchant_id == merchant_id, s.settled_on >= start, s.settled_on <= end)
        .order_by(s.settled_on)
    ).scalars()
    details = [_detail(session, row) for row in rows]
    return MerchantStatement(
        merchant_id=merchant_id,
        start=start,
        end=end,
        settlements=details,
        captured=sum(d.captured for d in details),
        refunded=sum(d.refunded for d in details),
        fees=sum(d.fees for d in details),
        paid_out=sum(d.paid_out for d in details),
        carried_out=details[-1].carried_out if details else 0,
    )


# -- revenue sharing ------------------------------------------------------------------------


def _agreement_out(row: models.RevenueShareAgreement) -> RevenueShareAgreement:
    return RevenueShareAgreement.model_validate(row, from_attributes=True)


def set_revenue_share_agreement(
    session: Session, partner_id: uuid.UUID, spec: RevenueShareAgreementSet, now: datetime
) -> RevenueShareAgreement:
    """Where the partner's share is paid from now on: its active class I e-account at this
    bank. Shares already left unpaid stay so (the statement lists them)."""
    platform.get_partner(session, partner_id)
    e_account = customers.get_e_account(session, spec.payout_e_account_id)
    if e_account.status != "active" or e_account.account_class != "I":
        raise PayoutAccountNotUsable(
            f"e-account {e_account.id} is a {e_account.status} class {e_account.account_class}"
            " e-account"
        )
    row = session.get(models.RevenueShareAgreement, partner_id, with_for_update=True)
    if row is None:
        row = models.RevenueShareAgreement(
            partner_id=partner_id, payout_e_account_id=e_account.id, created_at=now
        )
        session.add(row)
    else:
        row.payout_e_account_id = e_account.id
    session.flush()
    return _agreement_out(row)


def get_revenue_share_agreement(session: Session, partner_id: uuid.UUID) -> RevenueShareAgreement:
    row = session.get(models.RevenueShareAgreement, partner_id)
    if row is None:
        raise RevenueShareAgreementNotFound(f"partner {partner_id} has no agreement")
    return _agreement_out(row)


def partner_statement(
    session: Session, partner_id: uuid.UUID, start: date, end: date
) -> PartnerStatement:
    """The partner's shares of settlements with batch dates in [start, end], paid or not,
    with totals."""
    _check_period(start, end)
    platform.get_partner(session, partner_id)
    p = models.RevenueSharePayment
    rows = session.execute(
        select(p)
        .where(p.partner_id == partner_id, p.settled_on >= start, p.settled_on <= end)
        .order_by(p.settled_on, p.id)
    ).scalars()
    shares = [_share_out(r) for r in rows]
    agreement = session.get(models.RevenueShareAgreement, partner_id)
    return PartnerStatement(
        partner_id=partner_id,
        start=start,
        end=end,
        agreement=_agreement_out(agreement) if agreement else None,
        shares=shares,
        totals=PartnerStatementTotals(
            settlements=len({s.settlement_id for s in shares}),
            fee_income=sum(s.fee_income for s in shares),
            share=sum(s.amount for s in shares),
            paid=sum(s.amount for s in shares if s.status == "paid"),
            unpaid=sum(s.amount for s in shares if s.status == "unpaid"),
        ),
    )


# -- reconciliation -------------------------------------------------------------------------


class _Breaks:
    def __init__(self) -> None:
        self.found: list[ReconciliationBreak] = []

    def add(self, kind: str, subject: str, merchant_id: uuid.UUID | None, detail: str) -> None:
        self.found.append(
            ReconciliationBreak(kind=kind, subject=subject, merchant_id=merchant_id, detail=detail)
        )


def _transfers(session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Transfer]:
    found: dict[uuid.UUID, Transfer] = {}
    for offset in range(0, len(ids), TRANSFER_SLICE):
        for t in ledger.get_transfers(session, ids[offset : offset + TRANSFER_SLICE]):
            found[t.id] = t
    return found


def _check_transfer(
    breaks: _Breaks,
    transfers: dict[uuid.UUID, Transfer],
    kind: str,
    subject: str,
    merchant_id: uuid.UUID | None,
    transfer_id: uuid.UUID | None,
    amount: int,
    debit: set[uuid.UUID] | None,
    credit: set[uuid.UUID] | None,
) -> None:
    """The transfer must exist, be posted, in CNY, of `amount`, between the given accounts
    (None: any account)."""
    transfer = transfers.get(transfer_id) if transfer_id is not None else None
    if transfer is None:
        breaks.add(
            f"{kind}_transfer_missing", subject, merchant_id, f"no ledger transfer {transfer_id}"
        )
        return
    problems = []
    if transfer.state != "posted":
        problems.append(f"state {transfer.state}")
    if transfer.amount != amount or transfer.currency != accounts.CURRENCY:
        problems.append(f"{transfer.amount} {transfer.currency}, expected {amount}")
    if debit is not None and transfer.debit_account_id not in debit:
        problems.append(f"debits {transfer.debit_account_id}")
    if credit is not None and transfer.credit_account_id not in credit:
        problems.append(f"credits {transfer.credit_account_id}")
    if problems:
        breaks.add(
            f"{kind}_transfer_mismatch",
            subject,
            merchant_id,
            f"ledger transfer {transfer.id}: {', '.join(problems)}",
        )


# The captures and refunds a report checks, each as (kind, id, merchant, amount, ledger
# transfer, its item's amount and settlement, its settlement_id column, whether it exists):
# the items of the date's settlements, with what they settle (if it exists); and what is
# unsettled (the column NULL) from before the date, with any item it has all the same. A row
# whose column and item disagree may come from both parts (the reader keeps the first).
_ITEMS_TO_CHECK = """
SELECT i.kind, i.item_id, COALESCE(c.merchant_id, s.merchant_id), c.amount,
       c.ledger_transfer_id, i.amount, i.settlement_id, c.settlement_id, c.id IS NOT NULL
FROM payment_settlements AS s
JOIN payment_settlement_items AS i ON i.settlement_id = s.id AND i.kind = 'capture'
LEFT JOIN payment_captures AS c ON c.id = i.item_id
WHERE s.settled_on = :settled_on
UNION ALL
SELECT i.kind, i.item_id, COALESCE(r.merchant_id, s.merchant_id), r.amount,
       r.ledger_transfer_id, i.amount, i.settlement_id, r.settlement_id, r.id IS NOT NULL
FROM payment_settlements AS s
JOIN payment_settlement_items AS i ON i.settlement_id = s.id AND i.kind = 'refund'
LEFT JOIN payment_refunds AS r ON r.id = i.item_id
WHERE s.settled_on = :settled_on
UNION ALL
SELECT 'capture', c.id, c.merchant_id, c.amount, c.ledger_transfer_id, i.amount,
       i.settlement_id, c.settlement_id, true
FROM payment_captures AS c LEFT JOIN payment_settlement_items AS i ON i.item_id = c.id
WHERE c.settlement_id IS NULL AND c.business_date <= :settled_on
UNION ALL
SELECT 'refund', r.id, r.merchant_id, r.amount, r.ledger_transfer_id, i.amount,
       i.settlement_id, r.settlement_id, true
FROM payment_refunds AS r LEFT JOIN payment_settlement_items AS i ON i.item_id = r.id
WHERE r.settlement_id IS NULL AND r.business_date <= :settled_on
"""

# How many captures and refunds the column says each settlement of the date took. Where that is
# more than its items that agree, some were marked without an item there: `_MARKED_ELSEWHERE`
# finds them. Nothing indexes the column's values, so this counts over all captures and refunds
# (a cheap scan; an index on settlement_id WHERE settlement_id IS NOT NULL would make it read
# only the date's).
_MARKED_COUNTS = """
SELECT settlement_id, count(*) FROM (
    SELECT c.settlement_id FROM payment_captures AS c
    WHERE c.settlement_id IS NOT NULL
      AND c.settlement_id IN (SELECT id FROM payment_settlements WHERE settled_on = :settled_on)
    UNION ALL
    SELECT r.settlement_id FROM payment_refunds AS r
    WHERE r.settlement_id IS NOT NULL
      AND r.settlement_id IN (SELECT id FROM payment_settlements WHERE settled_on = :settled_on)
) AS marked
GROUP BY settlement_id
"""

_MARKED_ELSEWHERE = """
SELECT 'capture', c.id, c.merchant_id, c.amount, c.ledger_transfer_id, i.amount,
       i.settlement_id, c.settlement_id, true
FROM payment_captures AS c LEFT JOIN payment_settlement_items AS i ON i.item_id = c.id
WHERE c.settlement_id IS NOT NULL AND c.settlement_id = ANY(:ids)
  AND i.settlement_id IS DISTINCT FROM c.settlement_id
UNION ALL
SELECT 'refund', r.id, r.merchant_id, r.amount, r.ledger_transfer_id, i.amount,
       i.settlement_id, r.settlement_id, true
FROM payment_refunds AS r LEFT JOIN payment_settlement_items AS i ON i.item_id = r.id
WHERE r.settlement_id IS NOT NULL AND r.settlement_id = ANY(:ids)
  AND i.settlement_id IS DISTINCT FROM r.settlement_id
"""

_SETTLEMENT_SUMS = """
SELECT s.id,
       count(*) FILTER (WHERE i.kind = 'capture'),
       COALESCE(sum(i.amount) FILTER (WHERE i.kind = 'capture'), 0)::bigint,
       count(*) FILTER (WHERE i.kind = 'refund'),
       COALESCE(sum(i.amount) FILTER (WHERE i.kind = 'refund'), 0)::bigint,
       COALESCE(sum(i.fee), 0)::bigint,
       (SELECT p.carried_out FROM payment_settlements AS p
         WHERE p.merchant_id = s.merchant_id AND p.settled_on < s.settled_on
         ORDER BY p.settled_on DESC LIMIT 1)
FROM payment_settlements AS s
LEFT JOIN payment_settlement_items AS i ON i.settlement_id = s.id
WHERE s.settled_on = :settled_on
GROUP BY s.id
"""

_PARTNER_FEES = """
SELECT i.settlement_id, i.partner_id, sum(i.fee)::bigint
FROM payment_settlement_items AS i
JOIN payment_settlements AS s ON s.id = i.settlement_id
WHERE s.settled_on = :settled_on AND i.partner_id IS NOT NULL
GROUP BY i.settlement_id, i.partner_id
"""

# Per merchant: what its clearing must hold (unsettled captures less unsettled refunds, plus
# the shortfall its last settlement carried on).
_CLEARING_EXPECTED = """
SELECT m.id, m.clearing_shards,
       COALESCE((SELECT sum(c.amount) FROM payment_captures AS c
                  WHERE c.merchant_id = m.id AND c.settlement_id IS NULL), 0)::bigint
     - COALESCE((SELECT sum(r.amount) FROM payment_refunds AS r
                  WHERE r.merchant_id = m.id AND r.settlement_id IS NULL), 0)::bigint
     + COALESCE((SELECT s.carried_out FROM payment_settlements AS s
                  WHERE s.merchant_id = m.id ORDER BY s.settled_on DESC LIMIT 1), 0)
FROM merchants AS m
ORDER BY m.id
"""


def _column_mismatch(
    kind: str, item_settlement: uuid.UUID | None, marked: uuid.UUID | None, exists: bool
) -> str:
    if not exists:
        return f"an item of settlement {item_settlement}, and no such {kind}"
    if item_settlement is None:
        return f"marked settled by {marked}, which has no item for it"
    if marked is None:
        return f"an item of settlement {item_settlement}, the {kind} is not marked settled"
    return f"an item of settlement {item_settlement}, the {kind} is marked settled by {marked}"


def reconcile(session: Session, settled_on: date) -> ReconciliationReport:
    """Tie the batch date's payments, refunds, fees, settlements and revenue shares to the
    ledger, and list every break:

    * each capture and refund settled on the date, or still unsettled from before it: its
      ledger transfer exists, is posted, of its amount, into (out of) the merchant's clearing;
      a settled one's item has its amount;
    * its `settlement_id` column and its item agree: an item of the date's settlements whose
      capture or refund is missing, or marked with another settlement or none; an unsettled
      one (the column NULL) that has an item; one the column says a settlement of the date
      took, with no item there;
    * each settlement of the date: its totals are the sums of its items; net, paid out and
      carried are consistent; it carried in what the merchant's previous one carried out;
      its fee and payout transfers exist and match; each partner among its items has its
      share recorded at the right amount, and a paid one its transfer;
    * each merchant, as of now: its clearing shards hold unsettled captures less unsettled
      refunds plus the shortfall carried by its last settlement;
    * the fee income account holds all settlements' fees less the shares paid out of it.

    Run it in one snapshot (`reconciliation_report`) so that payments committing meanwhile
    do not show as breaks."""
    started = time.perf_counter()
    breaks = _Breaks()
    merchants = {m.id: m for m in session.execute(select(models.Merchant)).scalars()}
    clearing: dict[uuid.UUID, set[uuid.UUID]] = {
        m.id: set(accounts.clearing_account_ids(m.id, m.clearing_shards))
        for m in merchants.values()
    }
    fee_income = accounts.fee_income_account_id()

    # Captures and refunds.
    day = {"settled_on": settled_on}
    items = list(session.execute(text(_ITEMS_TO_CHECK), day).all())
    agreeing = Counter(r[6] for r in items if r[6] is not None and r[6] == r[7])
    marked_more = [
        sid for sid, count in session.execute(text(_MARKED_COUNTS), day) if count != agreeing[sid]
    ]
    if marked_more:
        items += session.execute(text(_MARKED_ELSEWHERE), {"ids": marked_more}).all()
    transfers = _transfers(session, [r[4] for r in items if r[4] is not None])
    captures_checked = refunds_checked = 0
    mismatched: set[uuid.UUID] = set()
    for checked in items:
        kind, item_id, merchant_id, amount, transfer_id, item_amount = checked[:6]
        item_settlement, marked, exists = checked[6:]
        subject = f"{kind} {item_id}"
        if item_settlement != marked:
            if item_id in mismatched:
                continue  # only a disagreeing row comes from two parts of the query
            mismatched.add(item_id)
            breaks.add(
                "settlement_column_mismatch",
                subject,
                merchant_id,
                _column_mismatch(kind, item_settlement, marked, exists),
            )
        if not exists:
            continue
        shards = clearing.get(merchant_id, set())
        if kind == "capture":
            captures_checked += 1
            _check_transfer(
                breaks, transfers, kind, subject, merchant_id, transfer_id, amount, None, shards
            )
        else:
            refunds_checked += 1
            _check_transfer(
                breaks, transfers, kind, subject, merchant_id, transfer_id, amount, shards, None
            )
        if item_amount is not None and item_amount != amount:
            breaks.add(
                "item_amount_mismatch",
                subject,
                merchant_id,
                f"settled as {item_amount}, the {kind} is {amount}",
            )

    # Settlements of the date.
    s = models.Settlement
    settlements = {
        row.id: row
        for row in session.execute(select(s).where(s.settled_on == settled_on)).scalars()
    }
    sums = {
        r[0]: r[1:] for r in session.execute(text(_SETTLEMENT_SUMS), {"settled_on": settled_on})
    }
    money = [
        t for row in settlements.values() for t in (row.fee_transfer_id, row.payout_transfer_id)
    ]
    shares = _shares_of(session, list(settlements))
    money += [sh.ledger_transfer_id for sh in shares]
    settlement_transfers = _transfers(session, [t for t in money if t is not None])
    for row in settlements.values():
        subject = f"settlement {row.id}"
        merchant = merchants[row.merchant_id]
        capture_count, captured, refund_count, refunded, fee_sum, previous = sums[row.id]
        recorded = (row.capture_count, row.captured, row.refund_count, row.refunded, row.fees)
        summed = (capture_count, captured, refund_count, refunded, fee_sum)
        if recorded != summed:
            breaks.add(
                "settlement_totals_mismatch",
                subject,
                row.merchant_id,
                f"recorded (captures, captured, refunds, refunded, fees) {recorded},"
                f" its items sum to {summed}",
            )
        net = row.captured - row.refunded - row.fees + row.carried_in
        if (row.net, row.paid_out, row.carried_out) != (net, max(net, 0), min(net, 0)):
            breaks.add(
                "settlement_net_mismatch",
                subject,
                row.merchant_id,
                f"net {row.net}, paid out {row.paid_out}, carried out {row.carried_out};"
                f" its figures give net {net}",
            )
        if row.carried_in != (previous or 0):
            breaks.add(
                "carried_in_mismatch",
                subject,
                row.merchant_id,
                f"carried in {row.carried_in}, the previous settlement carried out {previous or 0}",
            )
        shard0 = {accounts.clearing_account_id(row.merchant_id, 0)}
        if row.fees:
            debit, credit = (shard0, {fee_income}) if row.fees > 0 else ({fee_income}, shard0)
            _check_transfer(
                breaks, settlement_transfers, "fee", subject, row.merchant_id,
                row.fee_transfer_id, abs(row.fees), debit, credit,
            )  # fmt: skip
        elif row.fee_transfer_id is not None:
            breaks.add("fee_transfer_unexpected", subject, row.merchant_id, "no fees to move")
        if row.paid_out:
            _check_transfer(
                breaks, settlement_transfers, "payout", subject, row.merchant_id,
                row.payout_transfer_id, row.paid_out, shard0,
                {merchant.settlement_ledger_account_id},
            )  # fmt: skip
        elif row.payout_transfer_id is not None:
            breaks.add("payout_transfer_unexpected", subject, row.merchant_id, "nothing to pay")

    # Revenue shares of the date's settlements.
    expected_shares = {
        (sid, partner_id): int(fee)
        for sid, partner_id, fee in session.execute(text(_PARTNER_FEES), {"settled_on": settled_on})
    }
    recorded_shares = {(sh.settlement_id, sh.partner_id): sh for sh in shares}
    for key in expected_shares.keys() - recorded_shares.keys():
        breaks.add(
            "revenue_share_missing",
            f"settlement {key[0]}",
            settlements[key[0]].merchant_id,
            f"no share recorded for partner {key[1]}",
        )
    for key, sh in recorded_shares.items():
        subject = f"revenue share {sh.id}"
        fee = expected_shares.get(key)
        if fee is None or sh.fee_income != fee or sh.amount != share_of(fee, sh.share_ppm):
            breaks.add(
                "revenue_share_mismatch",
                subject,
                sh.merchant_id,
                f"fee income {sh.fee_income} (items: {fee}), share {sh.amount}",
            )
        if sh.ledger_transfer_id is not None:
            _check_transfer(
                breaks, settlement_transfers, "revenue_share", subject, sh.merchant_id,
                sh.ledger_transfer_id, sh.amount, {fee_income}, None,
            )  # fmt: skip

    # Every merchant's clearing, and the fee income account, as of now.
    expected_clearing = session.execute(text(_CLEARING_EXPECTED)).all()
    all_shards = [a for m in merchants.values() for a in sorted(clearing[m.id])]
    balances = {
        a.id: a.credits_posted - a.debits_posted for a in ledger.get_accounts(session, all_shards)
    }
    for merchant_id, _shards, expected in expected_clearing:
        held = sum(balances[a] for a in clearing[merchant_id])
        if held != expected:
            breaks.add(
                "clearing_balance_mismatch",
                f"merchant {merchant_id}",
                merchant_id,
                f"clearing holds {held}, unsettled payments and carried shortfall say {expected}",
            )
    fee_totals = session.execute(
        text(
            "SELECT (SELECT COALESCE(sum(fees), 0) FROM payment_settlements)::bigint,"
            " (SELECT COALESCE(sum(amount), 0) FROM payment_revenue_shares"
            "  WHERE ledger_transfer_id IS NOT NULL)::bigint"
        )
    ).one()
    expected_income = int(fee_totals[0]) - int(fee_totals[1])
    try:
        income_account = ledger.get_account(session, fee_income)
        income = income_account.credits_posted - income_account.debits_posted
    except DomainError:
        income = 0
    if income != expected_income:
        breaks.add(
            "fee_income_balance_mismatch",
            "fee income account",
            None,
            f"holds {income}, settlements' fees less shares paid say {expected_income}",
        )
    return ReconciliationReport(
        settled_on=settled_on,
        ok=not breaks.found,
        settlements=len(settlements),
        captures_checked=captures_checked,
        refunds_checked=refunds_checked,
        revenue_shares_checked=len(recorded_shares),
        merchants_checked=len(merchants),
        breaks=breaks.found,
        seconds=round(time.perf_counter() - started, 3),
    )


def reconciliation_report(db: Database, settled_on: date) -> ReconciliationReport:
    """`reconcile` in one repeatable-read, read-only snapshot of its own."""
    with db.sessions() as session:
        session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        try:
            return reconcile(session, settled_on)
        finally:
            session.rollback()
