"""A bank of its own for lending tests: a fresh database, a clock that jumps ahead, customers
with funded e-accounts, the sample product library, and shortcuts through the service."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock, business_date
from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.ledger import service as ledger
from openbank.lending import service as lending
from openbank.lending.schemas import (
    ApplicationCreate,
    Contract,
    DeclaredFinances,
    FundingPartnerCreate,
    JointFunding,
    OfferAccept,
)
from tests.customers.helpers import (
    PHONE,
    card_number,
    credit_code,
    resident_check,
    resident_id_body,
)

T = TypeVar("T")

# Characteristics of the reference (German credit) scorecard that mark a strong applicant.
GOOD_PROFILE: dict[str, str | float | None] = {
    "status_of_existing_checking_account": "no checking account",
    "credit_history": "critical account/ other credits existing (not at this bank)",
    "savings_account_and_bonds": "... >= 1000 DM",
    "present_employment_since": "4 <= ... < 7 years",
    "property": "real estate",
    "housing": "own",
    "other_installment_plans": "none",
}
WEAK_PROFILE: dict[str, str | float | None] = {
    "status_of_existing_checking_account": "... < 0 DM",
    "credit_history": "no credits taken/ all credits paid back duly",
    "savings_account_and_bonds": "... < 100 DM",
    "present_employment_since": "... < 1 year",
    "property": "unknown / no property",
    "housing": "for free",
}


_adults = itertools.count(random.randrange(1000))


def adult_resident_id() -> str:
    """A resident ID of someone born in January 1991: of age for every sample product."""
    body = resident_id_body(15_000 + 20_000 * (next(_adults) % 1000))
    return body + resident_check(body)


class Bank:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.clock = ShiftedClock()

    def work(self, fn: Callable[[Session], T]) -> T:
        return unit_of_work(self.db, fn)

    @property
    def today(self) -> date:
        return business_date(self.clock.now(), self.settings.tz)

    def advance(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))

    def advance_to(self, day: date) -> None:
        """To noon (bank time) of `day`, far from midnight."""
        now = self.clock.now().astimezone(self.settings.tz)
        target = now.replace(year=day.year, month=day.month, day=day.day, hour=12, minute=0)
        if target > now:
            self.clock.advance(target - now)

    def import_library(self) -> None:
        documents = lending.read_product_file(lending.SAMPLE_LIBRARY)
        self.partner("hengxin-cf", cap=100_000_000, funds=50_000_000)
        self.work(lambda s: lending.import_products(s, documents, self.clock.now(), self.settings))

    def variant(self, of: str, code: str, **changes: Any) -> None:
        """Publish a copy of product `of` under `code`, with some fields changed."""
        now = self.clock.now()
        self.work(
            lambda s: lending.upsert_product(
                s,
                lending.get_product(s, of).spec.model_copy(update={"code": code, **changes}),
                now,
                self.settings,
            )
        )

    def joint_variant(self, code: str, partner: str, share: str) -> None:
        """The sample joint product, funded by another partner at another share."""
        funding = JointFunding(partner_code=partner, partner_share=Decimal(share))
        self.variant("hx-joint-consumer", code, joint=funding)

    def partner(self, code: str, cap: int, funds: int) -> None:
        now = self.clock.now()
        self.work(
            lambda s: lending.create_funding_partner(
                s, FundingPartnerCreate(code=code, name=code, outstanding_cap=cap), now
            )
        )
        if funds:
            self.work(lambda s: lending.fund_partner(s, code, funds, now))

    def customer(self, kind: str = "person", kyc_level: int = 3) -> uuid.UUID:
        number = adult_resident_id() if kind == "person" else credit_code()
        spec = CustomerCreate(
            type=kind,
            name="王五",
            id_number=number,
            phone=PHONE,
            kyc_level=kyc_level,
        )
        return self.work(
            lambda s: customers.create_customer(s, spec, self.clock.now(), self.settings)
        ).id

    def e_account(
        self, customer_id: uuid.UUID, account_class: str = "I", top_up: int = 0
    ) -> uuid.UUID:
        spec = EAccountCreate(
            customer_id=customer_id,
            account_class=account_class,
            bound_card=BoundCardCreate(number=card_number(), bank_name="中国建设银行"),
        )
        e_account_id = self.work(lambda s: customers.open_e_account(s, spec, self.clock.now())).id
        if top_up:
            self.top_up(e_account_id, top_up)
        return e_account_id

    def top_up(self, e_account_id: uuid.UUID, amount: int) -> None:
        self.work(
            lambda s: customers.top_up(s, e_account_id, amount, self.clock.now(), self.settings)
        )

    def empty(self, e_account_id: uuid.UUID) -> None:
        """Withdraw everything to the bound card (so auto-debit finds nothing)."""
        self.work(
            lambda s: customers.withdraw(
                s, e_account_id, self.balance(e_account_id), self.clock.now(), self.settings
            )
        )

    def balance(self, e_account_id: uuid.UUID) -> int:
        return self.work(lambda s: customers.get_e_account(s, e_account_id)).balance

    def application(
        self,
        customer_id: uuid.UUID,
        product: str = "ob-consumer-flex",
        amount: int = 2_000_000,
        months: int = 12,
        profile: dict[str, str | float | None] | None = None,
        income: int = 3_000_000,
        **extra: Any,
    ) -> ApplicationCreate:
        return ApplicationCreate(
            customer_id=customer_id,
            product_code=product,
            amount=amount,
            term_months=months,
            purpose="household",
            declared=DeclaredFinances(
                monthly_income=income,
                credit_profile=GOOD_PROFILE if profile is None else profile,
            ),
            **extra,
        )

    def borrow(
        self,
        amount: int = 2_000_000,
        months: int = 12,
        product: str = "ob-consumer-flex",
        *,
        auto_debit: bool = True,
        **extra: Any,
    ) -> tuple[Contract, uuid.UUID]:
        """A customer with a funded class I e-account who borrows, approved and paid out."""
        customer_id = self.customer()
        e_account_id = self.e_account(customer_id)
        request = self.application(customer_id, product, amount, months, **extra)
        now = self.clock.now()
        application = self.work(lambda s: lending.apply(s, request, now, self.settings))
        assert application.decision == "approved", application.reasons
        contract = self.work(
            lambda s: lending.accept_offer(
                s,
                application.id,
                OfferAccept(e_account_id=e_account_id, auto_debit=auto_debit),
                now,
                self.settings,
            )
        )
        return contract, e_account_id

    def contract(self, contract_id: uuid.UUID) -> Contract:
        return self.work(
            lambda s: lending.get_contract(s, contract_id, self.clock.now(), self.settings)
        )

    def eod(self, day: date | None = None) -> Any:
        return lending.end_of_day(self.work, day or self.today, self.clock.now, self.settings)

    def account_balances(self, contract: Contract) -> dict[str, int]:
        accounts = self.work(lambda s: ledger.get_accounts(s, list(contract.accounts.values())))
        return {
            role: a.debits_posted - a.credits_posted
            for role, a in zip(contract.accounts, accounts, strict=True)
        }
