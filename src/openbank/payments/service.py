"""The payments context's public face: fee plans, merchants, payment orders and what happens
to them (payment, authorization, capture, void, refund, close), with the flow aggregates
lending reads. Settlement and reconciliation are in `settlement.py`.

Every function runs in the caller's transaction. Money moves only through
`customers.service` (e-accounts) and `ledger.service` (cards, clearing), in that same
transaction, and each change writes its outbox event there too, so an order's state, its
ledger transfers, its flow counters and the merchant's webhook commit together or not at all.

Concurrency. Every change to an order first locks the order row, so a capture, a void and
several refunds of one order run one after the other: refunds can never add up to more than
was captured. Locks are taken in one order everywhere: order row, e-account row (customers),
ledger accounts (in id order), flow counter row, so no two requests deadlock. Payments into
one merchant credit one of its clearing shards, chosen at random, and count in the flow row of
the same shard: thousands of payers paying one merchant at once spread over the shards
instead of queueing on one ledger row (see `accounts.py`).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from openbank.core import outbox
from openbank.core.clock import business_date
from openbank.core.idempotency import request_fingerprint
from openbank.core.ids import new_id
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.errors import (
    EAccountClosed,
    EAccountFrozen,
    InvalidCardNumber,
    LimitExceeded,
)
from openbank.customers.schemas import CustomerCreate, EAccountCreate
from openbank.ledger import service as ledger
from openbank.ledger.errors import PendingTransferExpired
from openbank.ledger.schemas import PendingResolution, TransferCreate
from openbank.payments import accounts, errors, models
from openbank.payments.flow import merchant_flow, payment_flow_limit
from openbank.payments.schemas import (
    CaptureCreate,
    EventPayload,
    FeePlan,
    FeePlanCreate,
    Merchant,
    MerchantCreate,
    OrderCreate,
    PaymentCreate,
    PaymentOrder,
    Refund,
    RefundCreate,
)
from openbank.payments.vocabulary import MerchantStatus, RefundDestination
from openbank.platform import service as platform

__all__ = [
    "capture",
    "card_paid_with",
    "close_expired_orders",
    "close_order",
    "create_fee_plan",
    "create_order",
    "find_order",
    "get_fee_plan",
    "get_merchant",
    "get_order",
    "list_fee_plans",
    "merchant_flow",
    "merchant_of_customer",
    "onboard_merchant",
    "pay",
    "payment_flow_limit",
    "refund",
    "set_merchant_status",
    "void",
]

CURRENCY = accounts.CURRENCY
MAX_ORDER_LIFETIME = timedelta(days=30)
# The settlement e-account of a new merchant: onboarding checked the business licence and
# the legal representative, the enterprise equivalent of KYC level 3 (a class I account).
MERCHANT_KYC_LEVEL = 3


def _fingerprint(spec: BaseModel) -> bytes:
    return request_fingerprint(spec.model_dump(mode="json"))


# -- fee plans ------------------------------------------------------------------------------


def _fee_plan_out(row: models.FeePlan) -> FeePlan:
    return FeePlan(
        code=row.code,
        name=row.name,
        rate_ppm=row.rate_ppm,
        fixed_fee=row.fixed_fee,
        min_fee=row.min_fee,
        max_fee=row.max_fee,
        tiers=row.tiers,
        revenue_share_ppm=row.revenue_share_ppm,
        created_at=row.created_at,
    )


def create_fee_plan(session: Session, spec: FeePlanCreate, now: datetime) -> FeePlan:
    """A merchant discount rate with its contribution tiers; codes are never reused."""
    inserted = session.execute(
        insert(models.FeePlan)
        .values(**spec.model_dump(mode="json"), created_at=now)
        .on_conflict_do_nothing()
        .returning(models.FeePlan.code)
    ).scalar_one_or_none()
    if inserted is None:
        raise errors.FeePlanExists(f"fee plan {spec.code} exists")
    return get_fee_plan(session, spec.code)


def get_fee_plan(session: Session, code: str) -> FeePlan:
    row = session.get(models.FeePlan, code)
    if row is None:
        raise errors.FeePlanNotFound(f"no fee plan {code}")
    return _fee_plan_out(row)


def list_fee_plans(session: Session) -> list[FeePlan]:
    rows = session.execute(select(models.FeePlan).order_by(models.FeePlan.code)).scalars()
    return [_fee_plan_out(row) for row in rows]


# -- merchants ------------------------------------------------------------------------------


def _merchant_out(row: models.Merchant) -> Merchant:
    return Merchant(
        id=row.id,
        legal_name=row.legal_name,
        unified_social_credit_code=row.unified_social_credit_code,
        legal_representative=row.legal_representative,
        mcc=row.mcc,
        fee_plan_code=row.fee_plan_code,
        customer_id=row.customer_id,
        settlement_e_account_id=row.settlement_e_account_id,
        settlement_delay_days=row.settlement_delay_days,
        partner_id=row.partner_id,
        app_id=row.app_id,
        status=row.status,
        created_at=row.created_at,
    )


def _merchant(session: Session, merchant_id: uuid.UUID, *, lock: bool = False) -> models.Merchant:
    row = session.get(models.Merchant, merchant_id, with_for_update=lock)
    if row is None:
        raise errors.MerchantNotFound(f"no merchant {merchant_id}")
    return row


def _check_partner(session: Session, spec: MerchantCreate) -> None:
    """The partner platform the merchant came through must exist; its webhook app must be
    one of that partner's apps."""
    if spec.partner_id is not None:
        platform.get_partner(session, spec.partner_id)
    if spec.app_id is not None:
        app = platform.get_app(session, spec.app_id)
        if app.partner_id != spec.partner_id:
            raise errors.PaymentsError(
                "app_id must be an app of the merchant's partner platform (partner_id)"
            )


def _merchant_customer(
    session: Session, spec: MerchantCreate, credit_code: str, now: datetime, settings: Settings
) -> uuid.UUID:
    """The merchant's enterprise customer: an existing one (a customer becoming a merchant,
    its KYC raised by the onboarding checks) or a new one."""
    known = customers.find_enterprise_by_credit_code(session, credit_code, spec.sandbox)
    if known is not None:
        customers.raise_kyc_level(session, known.id, MERCHANT_KYC_LEVEL)
        return known.id
    created = customers.create_customer(
        session,
        CustomerCreate(
            type="enterprise",
            name=spec.legal_name,
            id_number=credit_code,
            phone=spec.phone,
            kyc_level=MERCHANT_KYC_LEVEL,
            sandbox=spec.sandbox,
        ),
        now,
        settings,
    )
    return created.id


def onboard_merchant(
    session: Session, spec: MerchantCreate, now: datetime, settings: Settings
) -> Merchant:
    """A merchant with its class I settlement e-account and its clearing ledger accounts.
    The unified social credit code is checked (GB 32100 check digit) and unique among
    merchants; the fee plan must exist."""
    credit_code = customers.validate_credit_code(spec.unified_social_credit_code)
    # Two onboardings of one enterprise run in turn: the second finds the first's merchant.
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"merchant:{credit_code}"},
    )
    get_fee_plan(session, spec.fee_plan_code)
    _check_partner(session, spec)
    taken = session.execute(
        select(models.Merchant.id).where(models.Merchant.unified_social_credit_code == credit_code)
    ).scalar_one_or_none()
    if taken is not None:
        raise errors.MerchantExists(
            f"merchant {taken} has this credit code", merchant_id=str(taken)
        )
    customer_id = _merchant_customer(session, spec, credit_code, now, settings)
    e_account = customers.open_e_account(
        session,
        EAccountCreate(customer_id=customer_id, account_class="I", bound_card=spec.bound_account),
        now,
    )
    merchant_id = new_id()
    accounts.open_clearing_accounts(session, merchant_id, accounts.CLEARING_SHARDS, now)
    row = models.Merchant(
        id=merchant_id,
        legal_name=spec.legal_name,
        unified_social_credit_code=credit_code,
        legal_representative=spec.legal_representative,
        mcc=spec.mcc,
        fee_plan_code=spec.fee_plan_code,
        customer_id=customer_id,
        settlement_e_account_id=e_account.id,
        settlement_ledger_account_id=e_account.ledger_account_id,
        clearing_shards=accounts.CLEARING_SHARDS,
        settlement_delay_days=spec.settlement_delay_days,
        partner_id=spec.partner_id,
        app_id=spec.app_id,
        status="active",
        created_at=now,
    )
    session.add(row)
    session.flush()
    return _merchant_out(row)


def get_merchant(session: Session, merchant_id: uuid.UUID) -> Merchant:
    return _merchant_out(_merchant(session, merchant_id))


def merchant_of_customer(session: Session, customer_id: uuid.UUID) -> list[Merchant]:
    """The merchants an enterprise customer runs (oldest first)."""
    rows = session.execute(
        select(models.Merchant)
        .where(models.Merchant.customer_id == customer_id)
        .order_by(models.Merchant.id)
    ).scalars()
    return [_merchant_out(row) for row in rows]


def set_merchant_status(
    session: Session, merchant_id: uuid.UUID, status: MerchantStatus
) -> Merchant:
    """Freeze (no new orders or payments; refunds and settlement go on), unfreeze, or close
    (for good)."""
    row = _merchant(session, merchant_id, lock=True)
    if row.status == "closed" and status != "closed":
        raise errors.MerchantClosed(f"merchant {merchant_id} is closed")
    row.status = status
    session.flush()
    return _merchant_out(row)


def _refuse_unless_active(row: models.Merchant) -> None:
    if row.status != "active":
        raise errors.MerchantNotActive(
            f"merchant {row.id} is {row.status}", merchant_status=row.status
        )


# -- payment orders -------------------------------------------------------------------------


def _order_out(row: models.PaymentOrder, settings: Settings) -> PaymentOrder:
    return PaymentOrder(
        id=row.id,
        merchant_id=row.merchant_id,
        out_trade_no=row.out_trade_no,
        amount=row.amount,
        currency=row.currency,
        description=row.description,
        capture_mode=row.capture_mode,
        status=row.status,
        expires_at=row.expires_at,
        partner_id=row.partner_id,
        app_id=row.app_id,
        payer_kind=row.payer_kind,
        payer_e_account_id=row.payer_e_account_id,
        authorized_amount=row.authorized_amount,
        captured_amount=row.captured_amount,
        refunded_amount=row.refunded_amount,
        authorization_expires_at=row.authorization_expires_at,
        checkout_url=f"{settings.public_url.rstrip('/')}/checkout/{row.id}",
        created_at=row.created_at,
        updated_at=row.updated_at,
        paid_at=row.paid_at,
        closed_at=row.closed_at,
        close_reason=row.close_reason,
    )


def _refund_out(row: models.PaymentRefund) -> Refund:
    return Refund(
        id=row.id,
        order_id=row.order_id,
        out_refund_no=row.out_refund_no,
        amount=row.amount,
        currency=row.currency,
        reason=row.reason,
        ledger_transfer_id=row.ledger_transfer_id,
        destination=row.destination,
        business_date=row.business_date,
        refunded_at=row.refunded_at,
    )


def _order(session: Session, order_id: uuid.UUID, *, lock: bool = False) -> models.PaymentOrder:
    row = session.get(models.PaymentOrder, order_id, with_for_update=lock)
    if row is None:
        raise errors.OrderNotFound(f"no payment order {order_id}")
    return row


def _announce(
    session: Session,
    row: models.PaymentOrder,
    event: str,
    now: datetime,
    settings: Settings,
    refund: models.PaymentRefund | None = None,
) -> PaymentOrder:
    """The merchant's webhook, in the transaction of the change, through the partner app the
    order was stamped with at creation (the creating app's, or else the merchant's). Returns
    the order as announced."""
    order = _order_out(row, settings)
    payload = EventPayload(order=order, refund=_refund_out(refund) if refund else None)
    outbox.emit(
        session,
        f"payment_order.{event}",
        f"payment-orders/{row.id}",
        payload.dump(),
        now,
        row.app_id,
    )
    return order


def create_order(
    session: Session,
    merchant_id: uuid.UUID,
    spec: OrderCreate,
    now: datetime,
    settings: Settings,
    *,
    partner_id: uuid.UUID | None = None,
    app_id: uuid.UUID | None = None,
) -> tuple[PaymentOrder, bool]:
    """A payment order, once per `out_trade_no` of the merchant: asking again with the same
    request returns the first order (False: not created now); with another request it is
    refused. Two requests racing with one number end with one order."""
    # The instant, not how it was written: Z and +08:00 for one moment are one request.
    if spec.expires_at is not None:
        spec = spec.model_copy(update={"expires_at": spec.expires_at.astimezone(UTC)})
    fingerprint = _fingerprint(spec)
    earlier = _earlier_order(session, merchant_id, spec.out_trade_no, fingerprint, settings)
    if earlier is not None:  # a retry: answered even if the merchant was frozen since
        return earlier, False
    merchant = _merchant(session, merchant_id)
    _refuse_unless_active(merchant)
    if spec.currency != CURRENCY:
        raise errors.CurrencyNotSupported(f"{spec.currency}: payments are taken in CNY only")
    if spec.amount > settings.payments_max_order_amount:
        raise errors.AmountTooLarge(
            f"{spec.amount} is more than the {settings.payments_max_order_amount} one order may"
            " ask for",
            max_amount=settings.payments_max_order_amount,
        )
    lifetime = timedelta(minutes=settings.payments_order_lifetime_minutes)
    expires_at = spec.expires_at or now + lifetime
    if not now < expires_at <= now + MAX_ORDER_LIFETIME:
        raise errors.InvalidExpiry("expires_at must be in the future and within 30 days")
    order_id = new_id()
    inserted = session.execute(
        insert(models.PaymentOrder)
        .values(
            id=order_id,
            merchant_id=merchant_id,
            out_trade_no=spec.out_trade_no,
            request_hash=fingerprint,
            amount=spec.amount,
            currency=spec.currency,
            description=spec.description,
            capture_mode=spec.capture_mode,
            status="created",
            expires_at=expires_at,
            partner_id=partner_id or merchant.partner_id,
            app_id=app_id or merchant.app_id,
            authorized_amount=0,
            captured_amount=0,
            refunded_amount=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["merchant_id", "out_trade_no"])
        .returning(models.PaymentOrder.id)
    ).scalar_one_or_none()
    if inserted is None:  # another request with this number committed meanwhile
        raced = _earlier_order(session, merchant_id, spec.out_trade_no, fingerprint, settings)
        assert raced is not None
        return raced, False
    row = _order(session, order_id)
    return _announce(session, row, "created", now, settings), True


def _earlier_order(
    session: Session,
    merchant_id: uuid.UUID,
    out_trade_no: str,
    fingerprint: bytes,
    settings: Settings,
) -> PaymentOrder | None:
    """The merchant's order with this number, if one was made by the same request; another
    request with the number is refused."""
    existing = session.execute(
        select(models.PaymentOrder).where(
            models.PaymentOrder.merchant_id == merchant_id,
            models.PaymentOrder.out_trade_no == out_trade_no,
        )
    ).scalar_one_or_none()
    if existing is None:
        return None
    if existing.request_hash != fingerprint:
        raise errors.OutTradeNoReused(
            f"out_trade_no {out_trade_no} is order {existing.id}, made with another request",
            order_id=str(existing.id),
        )
    return _order_out(existing, settings)


def get_order(session: Session, order_id: uuid.UUID, settings: Settings) -> PaymentOrder:
    return _order_out(_order(session, order_id), settings)


def find_order(
    session: Session, merchant_id: uuid.UUID, out_trade_no: str, settings: Settings
) -> PaymentOrder:
    """The merchant's order by its own number."""
    row = session.execute(
        select(models.PaymentOrder).where(
            models.PaymentOrder.merchant_id == merchant_id,
            models.PaymentOrder.out_trade_no == out_trade_no,
        )
    ).scalar_one_or_none()
    if row is None:
        raise errors.OrderNotFound(f"merchant {merchant_id} has no order {out_trade_no}")
    return _order_out(row, settings)


# Built once: the hot path of every payment and refund (building the upsert per call was a
# measurable part of a payment's CPU, bench/payments_bench.py).
_COUNT_FLOW = text(
    """
    INSERT INTO merchant_flow_daily AS f (merchant_id, business_date, shard, payment_count,
        payment_volume, refund_count, refund_volume)
    VALUES (:merchant_id, :day, :shard, :payments, :payment, :refunds, :refund)
    ON CONFLICT (merchant_id, business_date, shard) DO UPDATE SET
        payment_count = f.payment_count + excluded.payment_count,
        payment_volume = f.payment_volume + excluded.payment_volume,
        refund_count = f.refund_count + excluded.refund_count,
        refund_volume = f.refund_volume + excluded.refund_volume
    """
)


def _count_flow(
    session: Session,
    merchant_id: uuid.UUID,
    day: date,
    shard: int,
    *,
    payment: int = 0,
    refund: int = 0,
) -> None:
    """Add a capture or a refund to the merchant's day, on the row of its clearing shard."""
    session.execute(
        _COUNT_FLOW,
        {
            "merchant_id": merchant_id,
            "day": day,
            "shard": shard,
            "payments": 1 if payment else 0,
            "payment": payment,
            "refunds": 1 if refund else 0,
            "refund": refund,
        },
    )


def _record_capture(
    session: Session,
    row: models.PaymentOrder,
    amount: int,
    ledger_transfer_id: uuid.UUID,
    now: datetime,
    settings: Settings,
) -> None:
    day = business_date(now, settings.tz)
    session.add(
        models.PaymentCapture(
            id=new_id(),
            order_id=row.id,
            merchant_id=row.merchant_id,
            partner_id=row.partner_id,
            amount=amount,
            currency=row.currency,
            ledger_transfer_id=ledger_transfer_id,
            business_date=day,
            captured_at=now,
        )
    )
    assert row.clearing_shard is not None
    _count_flow(session, row.merchant_id, day, row.clearing_shard, payment=amount)


def _refuse_unless_payable(row: models.PaymentOrder, now: datetime) -> None:
    if row.status in ("authorized", "captured", "partially_refunded", "refunded"):
        raise errors.OrderAlreadyPaid(f"payment order {row.id} is {row.status}")
    if row.status in ("closed", "voided"):
        raise errors.OrderClosed(f"payment order {row.id} is {row.status}")
    if now >= row.expires_at:
        raise errors.OrderExpired(f"payment order {row.id} expired at {row.expires_at}")


def pay(
    session: Session, order_id: uuid.UUID, spec: PaymentCreate, now: datetime, settings: Settings
) -> PaymentOrder:
    """Pay an order from an e-account (within its class limits) or with a bank card. An
    immediate order is captured at once; a manual one is authorized: the money is held by a
    pending ledger transfer until the merchant captures or voids it, or the hold expires."""
    row = _order(session, order_id, lock=True)
    _refuse_unless_payable(row, now)
    merchant = _merchant(session, row.merchant_id)
    _refuse_unless_active(merchant)
    shard = secrets.randbelow(merchant.clearing_shards)
    clearing = accounts.clearing_account_id(merchant.id, shard)
    manual = row.capture_mode == "manual"
    hold = settings.payments_authorization_hold_seconds if manual else None
    if spec.e_account_id is not None:
        if spec.e_account_id == merchant.settlement_e_account_id:
            raise errors.PayerNotAllowed("a merchant cannot pay itself")
        transfer_id = customers.pay_merchant(
            session, spec.e_account_id, clearing, row.amount, now, settings,
            authorization_seconds=hold,
        )  # fmt: skip
        row.payer_kind, row.payer_e_account_id = "e_account", spec.e_account_id
    else:
        assert spec.card is not None
        card = customers.validate_card_number(spec.card.number)
        transfer_id = ledger.transfer(
            session,
            ledger.transfer_command(
                TransferCreate(
                    debit_account_id=customers.card_clearing(session, now),
                    credit_account_id=clearing,
                    amount=row.amount,
                    currency=row.currency,
                    code="card_payment",
                    pending=manual,
                    timeout_seconds=hold,
                    metadata={"payment_order_id": str(row.id)},
                )
            ),
            now,
        ).id
        row.payer_kind = "card"
        row.payer_card_sha256 = customers.card_fingerprint(card)
    row.clearing_shard = shard
    row.authorized_amount = row.amount
    row.paid_at = row.updated_at = now
    if manual:
        row.status = "authorized"
        row.authorization_transfer_id = transfer_id
        row.authorization_expires_at = now + timedelta(
            seconds=settings.payments_authorization_hold_seconds
        )
    else:
        row.status = "captured"
        row.captured_amount = row.amount
        _record_capture(session, row, row.amount, transfer_id, now, settings)
    session.flush()
    return _announce(session, row, row.status, now, settings)


def _authorized(session: Session, order_id: uuid.UUID, now: datetime) -> models.PaymentOrder:
    """The order, locked, with a live authorization to capture or void."""
    row = _order(session, order_id, lock=True)
    if row.status != "authorized":
        raise errors.OrderStateConflict(
            f"payment order {order_id} is {row.status}, not authorized", status=row.status
        )
    assert row.authorization_expires_at is not None
    if now >= row.authorization_expires_at:
        raise errors.AuthorizationExpired(
            f"the authorization of payment order {order_id} expired"
            f" at {row.authorization_expires_at}"
        )
    return row


def _resolve_authorization(
    session: Session,
    row: models.PaymentOrder,
    amount: int | None,
    now: datetime,
    settings: Settings,
) -> uuid.UUID:
    """Post (`amount`) or void (None) the order's pending ledger transfer. An e-account's
    capture goes through customers, which records the payer's movement for what was taken."""
    assert row.authorization_transfer_id is not None
    try:
        if amount is not None and row.payer_kind == "e_account":
            assert row.payer_e_account_id is not None
            return customers.capture_merchant_payment(
                session, row.payer_e_account_id, row.authorization_transfer_id, amount, now,
                settings,
            )  # fmt: skip
        return ledger.transfer(
            session,
            ledger.resolution_command(
                row.authorization_transfer_id,
                PendingResolution(amount=amount, metadata={"payment_order_id": str(row.id)}),
                post=amount is not None,
            ),
            now,
        ).id
    except PendingTransferExpired as exc:
        raise errors.AuthorizationExpired(
            f"the authorization of payment order {row.id} expired"
        ) from exc


def capture(
    session: Session, order_id: uuid.UUID, spec: CaptureCreate, now: datetime, settings: Settings
) -> PaymentOrder:
    """Capture an authorization, in full or in part (the rest goes back to the payer). One
    capture per order."""
    row = _authorized(session, order_id, now)
    amount = spec.amount if spec.amount is not None else row.authorized_amount
    if amount > row.authorized_amount:
        raise errors.CaptureExceedsAuthorized(
            f"{amount} is more than the {row.authorized_amount} authorized",
            authorized_amount=row.authorized_amount,
        )
    transfer_id = _resolve_authorization(session, row, amount, now, settings)
    row.status = "captured"
    row.captured_amount = amount
    row.updated_at = now
    _record_capture(session, row, amount, transfer_id, now, settings)
    session.flush()
    return _announce(session, row, "captured", now, settings)


def void(session: Session, order_id: uuid.UUID, now: datetime, settings: Settings) -> PaymentOrder:
    """Release an authorization: the held money goes back to the payer."""
    row = _authorized(session, order_id, now)
    _resolve_authorization(session, row, None, now, settings)
    row.status = "voided"
    row.updated_at = row.closed_at = now
    row.close_reason = "voided"
    session.flush()
    return _announce(session, row, "voided", now, settings)


def refund(
    session: Session, order_id: uuid.UUID, spec: RefundCreate, now: datetime, settings: Settings
) -> tuple[Refund, bool]:
    """Give money back to the payer, from the merchant's clearing. Several refunds per order,
    never more than captured in all, each once per `out_refund_no` (False: the first refund
    returned again). The order's row lock makes racing refunds and captures take turns."""
    row = _order(session, order_id, lock=True)
    fingerprint = _fingerprint(spec)
    earlier = session.execute(
        select(models.PaymentRefund).where(
            models.PaymentRefund.order_id == order_id,
            models.PaymentRefund.out_refund_no == spec.out_refund_no,
        )
    ).scalar_one_or_none()
    if earlier is not None:
        if earlier.request_hash != fingerprint:
            raise errors.OutRefundNoReused(
                f"out_refund_no {spec.out_refund_no} is refund {earlier.id}, made with another"
                " request",
                refund_id=str(earlier.id),
            )
        return _refund_out(earlier), False
    if row.status not in ("captured", "partially_refunded", "refunded"):
        raise errors.OrderStateConflict(
            f"payment order {order_id} is {row.status}: only captured money is refunded"
            " (void an authorization instead)",
            status=row.status,
        )
    refundable = row.captured_amount - row.refunded_amount
    if spec.amount > refundable:
        raise errors.RefundExceedsCaptured(
            f"{spec.amount} is more than the {refundable} still refundable",
            refundable=refundable,
        )
    if _merchant(session, row.merchant_id).status == "closed":
        raise errors.MerchantClosed(f"merchant {row.merchant_id} is closed: it refunds no more")
    assert row.clearing_shard is not None
    clearing = accounts.clearing_account_id(row.merchant_id, row.clearing_shard)
    transfer_id, destination = _pay_back(session, row, clearing, spec.amount, now, settings)
    day = business_date(now, settings.tz)
    refund_row = models.PaymentRefund(
        id=new_id(),
        order_id=row.id,
        merchant_id=row.merchant_id,
        partner_id=row.partner_id,
        out_refund_no=spec.out_refund_no,
        request_hash=fingerprint,
        amount=spec.amount,
        currency=row.currency,
        reason=spec.reason,
        ledger_transfer_id=transfer_id,
        destination=destination,
        business_date=day,
        refunded_at=now,
    )
    session.add(refund_row)
    row.refunded_amount += spec.amount
    row.status = "refunded" if row.refunded_amount == row.captured_amount else "partially_refunded"
    row.updated_at = now
    _count_flow(session, row.merchant_id, day, row.clearing_shard, refund=spec.amount)
    session.flush()
    _announce(session, row, "refunded", now, settings, refund_row)
    return _refund_out(refund_row), True


def _card_refund(
    session: Session, row: models.PaymentOrder, clearing: uuid.UUID, amount: int, now: datetime
) -> uuid.UUID:
    """Money back out through card clearing (to the card that paid, or an e-account's bound
    card)."""
    return ledger.transfer(
        session,
        ledger.transfer_command(
            TransferCreate(
                debit_account_id=clearing,
                credit_account_id=customers.card_clearing(session, now),
                amount=amount,
                currency=row.currency,
                code="card_refund",
                metadata={"payment_order_id": str(row.id)},
            )
        ),
        now,
    ).id


def _pay_back(
    session: Session,
    row: models.PaymentOrder,
    clearing: uuid.UUID,
    amount: int,
    now: datetime,
    settings: Settings,
) -> tuple[uuid.UUID, RefundDestination]:
    """A refund goes back the way the money came. When the paying e-account cannot take it
    (closed, frozen, or at its class balance cap), it goes to that e-account's bound card
    instead: a refund is never stuck, and what refused it is the payer's business, not the
    merchant's (so nothing of it is told)."""
    if row.payer_kind != "e_account":
        return _card_refund(session, row, clearing, amount, now), "card"
    assert row.payer_e_account_id is not None
    try:
        with session.begin_nested():
            movement = customers.credit_from_acquiring(
                session, row.payer_e_account_id, clearing, amount, "merchant_refund", now,
                settings,
            )  # fmt: skip
        return movement.ledger_transfer_id, "e_account"
    except (EAccountClosed, EAccountFrozen, LimitExceeded):
        return _card_refund(session, row, clearing, amount, now), "bound_card"


def card_paid_with(session: Session, order_id: uuid.UUID, card_number: str) -> bool:
    """Whether the order was paid with this card (the checkout's e-account offer binds only
    that card)."""
    row = _order(session, order_id)
    if row.payer_card_sha256 is None:
        return False
    try:
        card = customers.validate_card_number(card_number)
    except InvalidCardNumber:
        return False
    return secrets.compare_digest(customers.card_fingerprint(card), row.payer_card_sha256)


def close_order(
    session: Session, order_id: uuid.UUID, now: datetime, settings: Settings
) -> PaymentOrder:
    """The merchant closes an unpaid order: it can no longer be paid."""
    row = _order(session, order_id, lock=True)
    if row.status != "created":
        raise errors.OrderStateConflict(
            f"payment order {order_id} is {row.status}; only an unpaid order closes"
            " (void an authorization, refund a payment)",
            status=row.status,
        )
    _close(session, row, "closed_by_merchant", now, settings)
    return _order_out(row, settings)


def _close(
    session: Session, row: models.PaymentOrder, reason: str, now: datetime, settings: Settings
) -> None:
    row.status = "closed"
    row.close_reason = reason
    row.closed_at = row.updated_at = now
    session.flush()
    _announce(session, row, "closed", now, settings)


def close_expired_orders(
    session: Session, now: datetime, settings: Settings, limit: int = 1000
) -> int:
    """Close unpaid orders past their expiry, and mark authorizations past their hold as
    voided (the ledger releases the held money itself when the pending transfer times out).
    Rows another process is handling are skipped. Returns how many orders changed."""
    order = models.PaymentOrder
    expired = (
        session.execute(
            select(order)
            .where(order.status == "created", order.expires_at <= now)
            .order_by(order.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for row in expired:
        _close(session, row, "expired", now, settings)
    lapsed = (
        session.execute(
            select(order)
            .where(order.status == "authorized", order.authorization_expires_at <= now)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for row in lapsed:
        row.status = "voided"
        row.close_reason = "authorization_expired"
        row.closed_at = row.updated_at = now
        session.flush()
        _announce(session, row, "voided", now, settings)
    return len(expired) + len(lapsed)
