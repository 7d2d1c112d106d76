"""Remote e-account opening (KYC-lite): identity, phone with a one-time code and a bound card
give a class II e-account, a KYC-2 customer and an authorised consent for the app, in one
transaction; every refusal writes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from openbank.core.clock import ShiftedClock
from openbank.core.database import Database, unit_of_work
from openbank.core.errors import DomainError
from openbank.core.models import OutboxEvent
from openbank.core.settings import Settings
from openbank.customers import models as customer_models
from openbank.customers import service as customers
from openbank.customers.schemas import BoundCardCreate, CustomerCreate
from openbank.platform.consents import service as consents
from openbank.platform.onboarding import service
from openbank.platform.onboarding.schemas import (
    EAccountOpen,
    OpenedEAccount,
    OtpChallenge,
    OtpChallengeCreate,
)
from openbank.platform.principal import PartnerCall
from tests.customers.helpers import card_number, resident_id
from tests.platform.signed.support import new_phone
from tests.platform.support import PartnerApp, create_app

NAME = "王五"


@dataclass
class World:
    db: Database
    settings: Settings
    clock: ShiftedClock
    app: PartnerApp
    call: PartnerCall

    def now(self) -> datetime:
        return self.clock.now()

    def send_code(self, phone: str, call: PartnerCall | None = None) -> OtpChallenge:
        return unit_of_work(
            self.db,
            lambda s: service.send_otp(
                s, call or self.call, OtpChallengeCreate(phone=phone), self.now()
            ),
        )

    def spec(self, phone: str | None = None, **fields: Any) -> EAccountOpen:
        phone = phone or new_phone()
        challenge = self.send_code(phone)
        values: dict[str, Any] = {
            "name": NAME,
            "id_number": resident_id(),
            "phone": phone,
            "otp_challenge_id": challenge.challenge_id,
            "otp_code": challenge.sandbox_code,
            "bound_card": BoundCardCreate(number=card_number(), bank_name="中国建设银行"),
            "out_user_id": "u-42",
        }
        values.update(fields)
        return EAccountOpen(**values)

    def open(
        self, spec: EAccountOpen, now: datetime | None = None, call: PartnerCall | None = None
    ) -> OpenedEAccount:
        at = now or self.now()
        return unit_of_work(
            self.db,
            lambda s: service.open_e_account(s, call or self.call, spec, at, self.settings),
        )

    def counts(self) -> tuple[int, int, int]:
        """Customers, e-accounts and outbox events: what an opening writes."""

        def work(session: Any) -> tuple[int, int, int]:
            return (
                session.execute(
                    select(func.count()).select_from(customer_models.Customer)
                ).scalar_one(),
                session.execute(
                    select(func.count()).select_from(customer_models.EAccount)
                ).scalar_one(),
                session.execute(select(func.count()).select_from(OutboxEvent)).scalar_one(),
            )

        return unit_of_work(self.db, work)

    def refused(self, spec: EAccountOpen, code: str, **kwargs: Any) -> DomainError:
        before = self.counts()
        with pytest.raises(DomainError) as raised:
            self.open(spec, **kwargs)
        assert raised.value.code == code
        assert self.counts() == before
        return raised.value


def _call(
    app: PartnerApp, scopes: frozenset[str] = frozenset({"accounts", "e_accounts"})
) -> PartnerCall:
    return PartnerCall(
        app_id=uuid.UUID(app.app_id),
        partner_id=uuid.UUID(app.partner_id),
        environment="sandbox",
        scopes=scopes,
        channel="oauth",
    )


@pytest.fixture
def world(db: Database, settings: Settings, clock: ShiftedClock, client: TestClient) -> World:
    app = create_app(client, products=("e_accounts",))
    return World(db, settings, clock, app, _call(app))


# -- opening --------------------------------------------------------------------------------


def test_opening_gives_a_class_ii_account_a_kyc_2_customer_and_a_consent(world: World) -> None:
    opened = world.open(world.spec())
    assert opened.account_class == "II"
    assert opened.kyc_level == 2
    account = unit_of_work(world.db, lambda s: customers.get_e_account(s, opened.e_account_id))
    assert account.customer_id == opened.customer_id
    assert account.bound_card.masked_number.startswith("622202")
    call = unit_of_work(
        world.db,
        lambda s: consents.call_for_consent(s, world.call, opened.consent_id, world.now()),
    )
    assert call.customer_id == opened.customer_id


def test_opening_emits_e_account_opened_for_the_app(world: World) -> None:
    opened = world.open(world.spec())
    events = unit_of_work(
        world.db,
        lambda s: list(
            s.execute(
                select(OutboxEvent).where(
                    OutboxEvent.subject == f"e-accounts/{opened.e_account_id}"
                )
            ).scalars()
        ),
    )
    (event,) = [e for e in events if e.event_type == "e_account.opened"]
    assert event.app_id == world.call.app_id
    assert event.payload["customer_id"] == str(opened.customer_id)
    assert event.payload["out_user_id"] == "u-42"


def test_a_known_customer_with_the_same_name_and_phone_is_reused(world: World) -> None:
    phone = new_phone()
    id_number = resident_id()
    known = unit_of_work(
        world.db,
        lambda s: customers.create_customer(
            s,
            CustomerCreate(
                type="person",
                name=NAME,
                id_number=id_number,
                phone=phone,
                kyc_level=1,
                sandbox=True,
            ),
            world.now(),
            world.settings,
        ),
    )
    customers_before = world.counts()[0]
    opened = world.open(world.spec(phone=phone, id_number=id_number))
    assert opened.customer_id == known.id
    assert opened.kyc_level == 2  # raised: identity, phone and card are now checked
    assert world.counts()[0] == customers_before


def test_a_second_opening_for_the_same_person_gives_a_second_account(world: World) -> None:
    phone = new_phone()
    id_number = resident_id()
    first = world.open(world.spec(phone=phone, id_number=id_number))
    second = world.open(world.spec(phone=phone, id_number=id_number))
    assert second.customer_id == first.customer_id
    assert second.e_account_id != first.e_account_id


# -- refusals: nothing written --------------------------------------------------------------


def test_a_bad_id_check_digit_is_refused(world: World) -> None:
    good = resident_id()
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    world.refused(world.spec(id_number=bad), "invalid_id_number")


def test_a_bad_phone_is_refused(world: World) -> None:
    spec = world.spec()
    world.refused(spec.model_copy(update={"phone": "12345"}), "invalid_phone")


def test_a_card_failing_its_check_digit_is_refused(world: World) -> None:
    number = card_number()
    bad = number[:-1] + str((int(number[-1]) + 1) % 10)
    world.refused(
        world.spec(bound_card=BoundCardCreate(number=bad, bank_name="中国银行")),
        "invalid_card_number",
    )


def test_a_wrong_code_is_refused(world: World) -> None:
    spec = world.spec()
    wrong = "000000" if spec.otp_code != "000000" else "111111"
    world.refused(spec.model_copy(update={"otp_code": wrong}), "otp_invalid")


def test_wrong_codes_count_so_the_right_one_stops_working(world: World) -> None:
    spec = world.spec()
    wrong = "000000" if spec.otp_code != "000000" else "111111"
    for _ in range(5):
        world.refused(spec.model_copy(update={"otp_code": wrong}), "otp_invalid")
    world.refused(spec, "otp_invalid")


def test_an_expired_code_is_refused(world: World) -> None:
    spec = world.spec()
    world.refused(spec, "otp_invalid", now=world.now() + timedelta(minutes=6))


def test_a_code_sent_to_another_phone_is_refused(world: World) -> None:
    spec = world.spec()
    world.refused(spec.model_copy(update={"phone": new_phone()}), "otp_invalid")


def test_a_used_code_cannot_open_a_second_account(world: World) -> None:
    spec = world.spec()
    world.open(spec)
    world.refused(spec.model_copy(update={"id_number": resident_id()}), "otp_invalid")


def test_a_known_id_with_another_name_is_identity_mismatch(world: World) -> None:
    phone = new_phone()
    id_number = resident_id()
    world.open(world.spec(phone=phone, id_number=id_number))
    error = world.refused(
        world.spec(phone=phone, id_number=id_number, name="赵六"), "identity_mismatch"
    )
    assert error.status == 409


def test_a_known_id_with_another_phone_is_identity_mismatch(world: World) -> None:
    id_number = resident_id()
    world.open(world.spec(id_number=id_number))
    world.refused(world.spec(id_number=id_number), "identity_mismatch")


def test_a_sandbox_app_never_reaches_a_production_customer(world: World) -> None:
    """A sandbox opening takes a code the sandbox hands out and any card, so it only ever
    sees sandbox customers: a production person's identity gives a sandbox customer of its
    own, and the production customer is left alone (nor can a sandbox opening tell that the
    bank knows them)."""
    phone = new_phone()
    id_number = resident_id()
    known = unit_of_work(
        world.db,
        lambda s: customers.create_customer(
            s,
            CustomerCreate(type="person", name=NAME, id_number=id_number, phone=phone, kyc_level=1),
            world.now(),
            world.settings,
        ),
    )
    opened = world.open(world.spec(phone=phone, id_number=id_number))

    assert opened.customer_id != known.id
    sandboxed = unit_of_work(world.db, lambda s: customers.get_customer(s, opened.customer_id))
    assert sandboxed.sandbox is True
    after = unit_of_work(world.db, lambda s: customers.get_customer(s, known.id))
    assert (after.kyc_level, after.sandbox) == (1, False)


def test_a_refused_opening_leaves_the_code_usable(world: World) -> None:
    id_number = resident_id()
    world.open(world.spec(id_number=id_number))
    spec = world.spec(id_number=id_number)  # another phone: a mismatch
    world.refused(spec, "identity_mismatch")
    opened = world.open(spec.model_copy(update={"id_number": resident_id()}))
    assert opened.account_class == "II"


def test_an_app_without_the_e_accounts_scope_cannot_open(world: World) -> None:
    spec = world.spec()
    world.refused(spec, "insufficient_scope", call=_call(world.app, frozenset({"payments"})))


def test_production_apps_get_no_one_time_code(world: World) -> None:
    production = PartnerCall(
        app_id=world.call.app_id,
        partner_id=world.call.partner_id,
        environment="production",
        scopes=world.call.scopes,
        channel="oauth",
    )
    with pytest.raises(DomainError) as raised:
        world.send_code(new_phone(), call=production)
    assert raised.value.code == "otp_delivery_unavailable"
