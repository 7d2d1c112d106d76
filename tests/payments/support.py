"""Test data for acquiring, made through the real services: fee plans, merchants, payers with
money in their e-accounts, orders; and readings of the ledger to check where money went."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from openbank.core.database import Database, unit_of_work
from openbank.core.models import OutboxEvent
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccount, EAccountCreate
from openbank.customers.vocabulary import AccountClass
from openbank.ledger import service as ledger
from openbank.payments import accounts, models, service
from openbank.payments.schemas import (
    FeePlanCreate,
    Merchant,
    MerchantCreate,
    OrderCreate,
    PaymentCreate,
    PaymentOrder,
)
from tests.customers.helpers import card_number, credit_code, resident_id

_serial = itertools.count(random.randrange(10**6))


def fee_plan(db: Database, now: datetime, **fields: Any) -> str:
    code = f"plan-{next(_serial)}"
    spec = FeePlanCreate.model_validate(
        {"code": code, "name": "Standard", "rate_ppm": 6000, **fields}
    )
    unit_of_work(db, lambda s: service.create_fee_plan(s, spec, now))
    return code


def merchant_spec(plan: str, **fields: Any) -> MerchantCreate:
    return MerchantCreate.model_validate(
        {
            "legal_name": "上海示例餐饮管理有限公司",
            "unified_social_credit_code": credit_code(),
            "legal_representative": "张三",
            "phone": "+8613800138000",
            "mcc": "5812",
            "fee_plan_code": plan,
            "bound_account": {"number": card_number(), "bank_name": "中国工商银行"},
            **fields,
        }
    )


def merchant(
    db: Database, settings: Settings, now: datetime, plan: str | None = None, **fields: Any
) -> Merchant:
    spec = merchant_spec(plan or fee_plan(db, now), **fields)
    return unit_of_work(db, lambda s: service.onboard_merchant(s, spec, now, settings))


def payer(
    db: Database,
    settings: Settings,
    now: datetime,
    balance: int,
    account_class: AccountClass = "II",
) -> EAccount:
    """A person with a funded e-account (topped up from the bound card)."""

    def work(s: Any) -> EAccount:
        person = customers.create_customer(
            s,
            CustomerCreate(
                type="person", name="李四", id_number=resident_id(), phone="+8613900139000",
                kyc_level=3,
            ),
            now,
            settings,
        )  # fmt: skip
        opened = customers.open_e_account(
            s,
            EAccountCreate(
                customer_id=person.id,
                account_class=account_class,
                bound_card=BoundCardCreate(number=card_number(), bank_name="中国银行"),
            ),
            now,
        )
        if balance:
            customers.top_up(s, opened.id, balance, now, settings)
        return opened

    return unit_of_work(db, work)


def order(
    db: Database,
    settings: Settings,
    now: datetime,
    merchant_id: uuid.UUID,
    amount: int,
    **fields: Any,
) -> PaymentOrder:
    spec = OrderCreate.model_validate(
        {
            "out_trade_no": f"T{next(_serial)}",
            "amount": amount,
            "currency": "CNY",
            "description": "2 × 拿铁",
            **fields,
        }
    )
    made, _created = unit_of_work(
        db, lambda s: service.create_order(s, merchant_id, spec, now, settings)
    )
    return made


def pay_from(
    db: Database, settings: Settings, now: datetime, order_id: uuid.UUID, e_account_id: uuid.UUID
) -> PaymentOrder:
    spec = PaymentCreate(e_account_id=e_account_id)
    return unit_of_work(db, lambda s: service.pay(s, order_id, spec, now, settings))


def balance(db: Database, e_account_id: uuid.UUID) -> int:
    return unit_of_work(db, lambda s: customers.get_e_account(s, e_account_id)).balance


def available(db: Database, e_account_id: uuid.UUID) -> int:
    return unit_of_work(db, lambda s: customers.get_e_account(s, e_account_id)).available


def clearing(db: Database, merchant_id: uuid.UUID) -> tuple[int, int]:
    """The merchant's clearing over all shards: (posted net credits, pending net credits)."""
    ids = accounts.clearing_account_ids(merchant_id, accounts.CLEARING_SHARDS)
    found = unit_of_work(db, lambda s: ledger.get_accounts(s, ids))
    posted = sum(a.credits_posted - a.debits_posted for a in found)
    pending = sum(a.credits_pending - a.debits_pending for a in found)
    return posted, pending


def flow_totals(db: Database, merchant_id: uuid.UUID) -> tuple[int, int, int, int]:
    """(payment count, payment volume, refund count, refund volume) over every day and shard."""
    f = models.MerchantFlowDaily
    row = unit_of_work(
        db,
        lambda s: s.execute(
            select(
                func.coalesce(func.sum(f.payment_count), 0),
                func.coalesce(func.sum(f.payment_volume), 0),
                func.coalesce(func.sum(f.refund_count), 0),
                func.coalesce(func.sum(f.refund_volume), 0),
            ).where(f.merchant_id == merchant_id)
        ).one(),
    )
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def events_of(db: Database, order_id: uuid.UUID) -> list[str]:
    """The order's outbox event types, in the order they were written."""
    rows = unit_of_work(
        db,
        lambda s: (
            s.execute(
                select(OutboxEvent.event_type)
                .where(OutboxEvent.subject == f"payment-orders/{order_id}")
                .order_by(OutboxEvent.id)
            )
            .scalars()
            .all()
        ),
    )
    return list(rows)
