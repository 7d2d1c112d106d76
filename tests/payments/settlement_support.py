"""An acquiring bank of its own for settlement tests: a clock that jumps from day to day (at
noon, bank time, far from midnight), merchants, payers and partners made through the real
services, payments and refunds through `payments.service`, and the batch run on that clock."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock, business_date
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import EAccount
from openbank.ledger import service as ledger
from openbank.payments import accounts, models, service, settlement
from openbank.payments.schemas import (
    Merchant,
    OrderCreate,
    PaymentCreate,
    PaymentOrder,
    Refund,
    RefundCreate,
)
from openbank.platform import service as platform
from openbank.platform.schemas import PartnerCreate
from tests.customers.helpers import credit_code
from tests.payments import support

T = TypeVar("T")
_serial = itertools.count(random.randrange(10**6))


class Acquiring:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.clock = ShiftedClock()
        self.next_day(0)
        self.merchants: list[uuid.UUID] = []

    def work(self, fn: Callable[[Session], T]) -> T:
        return unit_of_work(self.db, fn)

    @property
    def now(self) -> Any:
        return self.clock.now()

    @property
    def today(self) -> date:
        return business_date(self.clock.now(), self.settings.tz)

    def next_day(self, days: int = 1) -> None:
        """To noon (bank time) `days` days on (0: today's noon, or tomorrow's if it passed)."""
        now = self.clock.now().astimezone(self.settings.tz)
        target = now.replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=days)
        if target <= now:
            target += timedelta(days=1)
        self.clock.advance(target - now)

    # -- parties ----------------------------------------------------------------------------

    def plan(self, **fields: Any) -> str:
        return support.fee_plan(self.db, self.now, **fields)

    def merchant(self, plan: str | None = None, **fields: Any) -> Merchant:
        made = support.merchant(self.db, self.settings, self.now, plan, **fields)
        self.merchants.append(made.id)
        return made

    def payer(self, balance: int = 10_000_000) -> EAccount:
        return support.payer(self.db, self.settings, self.now, balance, "I")

    def partner(self) -> uuid.UUID:
        spec = PartnerCreate(
            legal_name="杭州云集电子商务有限公司",
            unified_social_credit_code=credit_code(),
            contact_name="王五",
            contact_email="ops@example.com",
            contact_phone="+8613800138000",
        )
        return self.work(lambda s: platform.create_partner(s, spec, self.now)).id

    def partner_account(self, partner: uuid.UUID) -> EAccount:
        """A class I e-account for the partner's share, set as its payout account."""
        account = self.payer(0)
        body = settlement.RevenueShareAgreementSet(payout_e_account_id=account.id)
        self.work(lambda s: settlement.set_revenue_share_agreement(s, partner, body, self.now))
        return account

    # -- payments ---------------------------------------------------------------------------

    def order(
        self, merchant_id: uuid.UUID, amount: int, partner_id: uuid.UUID | None = None
    ) -> PaymentOrder:
        spec = OrderCreate(
            out_trade_no=f"S{next(_serial)}", amount=amount, currency="CNY", description="咖啡"
        )
        made, _ = self.work(
            lambda s: service.create_order(
                s, merchant_id, spec, self.now, self.settings, partner_id=partner_id
            )
        )
        return made

    def pay(
        self,
        merchant_id: uuid.UUID,
        amount: int,
        payer: EAccount | None = None,
        partner_id: uuid.UUID | None = None,
    ) -> PaymentOrder:
        payer = payer or self.payer(amount)
        made = self.order(merchant_id, amount, partner_id)
        spec = PaymentCreate(e_account_id=payer.id)
        return self.work(lambda s: service.pay(s, made.id, spec, self.now, self.settings))

    def refund(self, order_id: uuid.UUID, amount: int) -> Refund:
        spec = RefundCreate(out_refund_no=f"R{next(_serial)}", amount=amount)
        made, _ = self.work(lambda s: service.refund(s, order_id, spec, self.now, self.settings))
        return made

    # -- settlement -------------------------------------------------------------------------

    def settle(
        self, merchant_ids: Sequence[uuid.UUID] | None = None, day: date | None = None
    ) -> settlement.SettlementRun:
        """The batch for this acquirer's merchants (other tests' merchants share the
        database)."""
        return settlement.run_settlement(
            lambda fn: unit_of_work(self.db, fn),
            self.now,
            self.settings,
            settled_on=day,
            merchant_ids=self.merchants if merchant_ids is None else merchant_ids,
        )

    def settlement_of(self, merchant_id: uuid.UUID, day: date | None = None) -> Any:
        day = day or self.today
        return self.work(
            lambda s: settlement.get_settlement(
                s, settlement.find_settlement(s, merchant_id, day).id
            )
        )

    def settlements_of(self, merchant_id: uuid.UUID) -> list[settlement.Settlement]:
        page, _ = self.work(lambda s: settlement.list_settlements(s, merchant_id, None, None, 1000))
        return page

    def balance(self, e_account_id: uuid.UUID) -> int:
        return self.work(lambda s: customers.get_e_account(s, e_account_id)).balance

    def clearing(self, merchant_id: uuid.UUID) -> int:
        return support.clearing(self.db, merchant_id)[0]

    def fee_income(self) -> int:
        """The bank's acquiring fee income (the account made first if no batch has run)."""

        def read(session: Session) -> int:
            account = ledger.get_account(session, accounts.fee_income_account(session, self.now))
            return account.credits_posted - account.debits_posted

        return self.work(read)

    def item_counts(self, merchant_id: uuid.UUID) -> dict[uuid.UUID, int]:
        """How many settlement items each of the merchant's captures and refunds has."""
        i = models.SettlementItem
        s = models.Settlement
        rows = self.work(
            lambda session: session.execute(
                select(i.item_id, func.count())
                .join(s, s.id == i.settlement_id)
                .where(s.merchant_id == merchant_id)
                .group_by(i.item_id)
            ).all()
        )
        return {item_id: int(count) for item_id, count in rows}

    def captures_and_refunds(self, merchant_id: uuid.UUID) -> set[uuid.UUID]:
        def read(session: Session) -> set[uuid.UUID]:
            c, r = models.PaymentCapture, models.PaymentRefund
            ids = set(session.execute(select(c.id).where(c.merchant_id == merchant_id)).scalars())
            ids |= set(session.execute(select(r.id).where(r.merchant_id == merchant_id)).scalars())
            return ids

        return self.work(read)

    def sql(self, statement: str, **params: Any) -> None:
        """A statement in a transaction of its own (to tamper as a break would)."""
        self.work(lambda s: s.execute(text(statement), params))

    def capture_id(self, order_id: uuid.UUID) -> uuid.UUID:
        c = models.PaymentCapture
        return self.work(
            lambda s: s.execute(select(c.id).where(c.order_id == order_id)).scalar_one()
        )

    def marked(self, item_id: uuid.UUID) -> uuid.UUID | None:
        """The settlement a capture or refund is marked with (its `settlement_id`)."""
        found: uuid.UUID | None = self.work(
            lambda s: s.execute(
                text(
                    "SELECT settlement_id FROM payment_captures WHERE id = :id"
                    " UNION ALL SELECT settlement_id FROM payment_refunds WHERE id = :id"
                ),
                {"id": item_id},
            ).scalar_one()
        )
        return found
