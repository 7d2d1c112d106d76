"""Consents test data: apps through the operator API, customers and e-accounts through the
customers service, consents through the consents service, and PartnerCalls as the token layer
would build them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.models import OutboxEvent
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate, EAccountCreate
from openbank.customers.vocabulary import AccountClass
from openbank.platform.consents import service
from openbank.platform.consents.schemas import (
    AccountAccessConsentCreate,
    AccountPermission,
    Consent,
    PaymentConsentCreate,
    Permission,
)
from openbank.platform.principal import PartnerCall
from tests.customers.helpers import PHONE, card_number, resident_id
from tests.platform.support import PartnerApp, create_app

T = TypeVar("T")
ALL_SCOPES = frozenset({"accounts", "e_accounts", "payments"})
READS: tuple[AccountPermission, ...] = ("accounts", "balances", "transactions")
EVERYTHING: tuple[AccountPermission, ...] = (*READS, "top_up", "withdraw")


@dataclass
class Holder:
    """A customer and their e-accounts."""

    customer_id: uuid.UUID
    e_account_ids: list[uuid.UUID]


@dataclass
class Bank:
    db: Database
    settings: Settings
    clock: ShiftedClock
    client: TestClient
    _partners: dict[str, str] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock.now()

    def run(self, work: Callable[[Session], T]) -> T:
        return unit_of_work(self.db, work)

    def app(self) -> PartnerApp:
        return create_app(self.client)

    def holder(
        self,
        accounts: int = 2,
        funded: int = 0,
        account_class: AccountClass = "II",
        sandbox: bool = True,
    ) -> Holder:
        """A KYC-3 person with `accounts` e-accounts, each topped up with `funded` fen; a
        sandbox customer unless told otherwise (test apps are sandbox apps)."""

        def work(session: Session) -> Holder:
            customer = customers.create_customer(
                session,
                CustomerCreate(
                    type="person",
                    name="张三",
                    id_number=resident_id(),
                    phone=PHONE,
                    kyc_level=3,
                    sandbox=sandbox,
                ),
                self.now(),
                self.settings,
            )
            ids = []
            for _ in range(accounts):
                opened = customers.open_e_account(
                    session,
                    EAccountCreate(
                        customer_id=customer.id,
                        account_class=account_class,
                        bound_card=BoundCardCreate(number=card_number(), bank_name="中国银行"),
                    ),
                    self.now(),
                )
                if funded:
                    customers.top_up(session, opened.id, funded, self.now(), self.settings)
                ids.append(opened.id)
            return Holder(customer.id, ids)

        return self.run(work)

    def call(
        self,
        app: PartnerApp,
        holder: Holder | None = None,
        consent: Consent | None = None,
        scopes: frozenset[str] = ALL_SCOPES,
    ) -> PartnerCall:
        return PartnerCall(
            app_id=uuid.UUID(app.app_id),
            partner_id=uuid.UUID(app.partner_id),
            environment="sandbox",
            scopes=scopes,
            channel="oauth",
            customer_id=holder.customer_id if holder else None,
            consent_id=consent.id if consent else None,
        )

    def requested(
        self,
        app: PartnerApp,
        permissions: tuple[AccountPermission, ...] = EVERYTHING,
        expiration: datetime | None = None,
    ) -> Consent:
        spec = AccountAccessConsentCreate(permissions=list(permissions), expiration=expiration)
        return self.run(
            lambda s: service.create_account_access_consent(s, self.call(app), spec, self.now())
        )

    def authorised(
        self,
        app: PartnerApp,
        holder: Holder,
        permissions: tuple[Permission, ...] = EVERYTHING,
        accounts: list[uuid.UUID] | None = None,
        expiration: datetime | None = None,
    ) -> Consent:
        consent = self.requested(app, expiration=expiration)
        return self.run(
            lambda s: service.authorise(
                s,
                consent.id,
                uuid.UUID(app.app_id),
                holder.customer_id,
                accounts if accounts is not None else holder.e_account_ids,
                permissions,
                self.now(),
            )
        )

    def payment_requested(
        self, app: PartnerApp, creditor: uuid.UUID, amount: int = 1999, **fields: Any
    ) -> Consent:
        spec = PaymentConsentCreate(
            amount=amount,
            currency=fields.pop("currency", "CNY"),
            creditor_e_account_id=creditor,
            reference=fields.pop("reference", "订单 0001"),
            **fields,
        )
        return self.run(
            lambda s: service.create_payment_consent(s, self.call(app), spec, self.now())
        )

    def payment_authorised(
        self, app: PartnerApp, debtor: Holder, creditor: uuid.UUID, amount: int = 1999
    ) -> Consent:
        consent = self.payment_requested(app, creditor, amount)
        return self.run(
            lambda s: service.authorise(
                s,
                consent.id,
                uuid.UUID(app.app_id),
                debtor.customer_id,
                debtor.e_account_ids[:1],
                ["payment"],
                self.now(),
            )
        )

    def status_of(self, consent_id: uuid.UUID) -> Consent:
        return self.run(lambda s: service.get_consent(s, consent_id))

    def status(self, consent_id: uuid.UUID) -> str:
        return self.status_of(consent_id).status

    def events(self, subject: str) -> list[OutboxEvent]:
        return list(
            self.run(
                lambda s: (
                    s.execute(
                        select(OutboxEvent)
                        .where(OutboxEvent.subject == subject)
                        .order_by(OutboxEvent.id)
                    )
                    .scalars()
                    .all()
                )
            )
        )

    def consent_events(self, consent_id: uuid.UUID) -> list[str]:
        return [e.event_type for e in self.events(f"consents/{consent_id}")]

    def later(self, seconds: float) -> datetime:
        return self.now() + timedelta(seconds=seconds)
