"""Remote e-account opening inside a partner's app (KYC-lite), for both partner paths.

PBoC rules for remote opening (银发〔2016〕261号, 〔2015〕392号): with the person's identity
checked (name and resident ID number with its check digit), their mobile phone confirmed by a
one-time code, and a bank card of their own bound as the counterpart account, a bank may open
a class II e-account without meeting them. That is KYC level 2 here
(customers.service.KYC_REQUIRED["II"]), so a new customer is created at level 2 and a known one
at a lower level is raised to it.

Everything an opening writes (customer, e-account and its ledger account, the app's consent,
the `e_account.opened` event, the consumed one-time code) commits in the caller's one
transaction, or nothing does. The exception is a wrong one-time code: `otp.verify` counts that
try in a transaction of its own, so it stays counted though the opening rolls back. A code is
bound to the app that asked for it: another app can neither use it nor spend its tries.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy.orm import Session

from openbank.core import outbox
from openbank.core.clock import business_date
from openbank.core.database import RetryableConflict
from openbank.core.settings import Settings
from openbank.customers import service as customers
from openbank.customers.errors import CustomerExists
from openbank.customers.schemas import BoundCardCreate, Customer, CustomerCreate, EAccountCreate
from openbank.customers.vocabulary import AccountClass
from openbank.platform import otp
from openbank.platform.consents import service as consents
from openbank.platform.onboarding.errors import IdentityMismatch, OnboardingNotAllowed
from openbank.platform.onboarding.schemas import (
    EAccountOpen,
    OpenedEAccount,
    OtpChallenge,
    OtpChallengeCreate,
)
from openbank.platform.principal import PartnerCall

T = TypeVar("T")

OTP_PURPOSE = "open_e_account"


def _otp_purpose(call: PartnerCall) -> str:
    """A code asked for by one app is good for that app only."""
    return f"{OTP_PURPOSE}:{call.app_id}"


SCOPE = "e_accounts"
ACCOUNT_CLASS: AccountClass = "II"
REMOTE_KYC_LEVEL = customers.KYC_REQUIRED[ACCOUNT_CLASS]


def _require_scope(call: PartnerCall) -> None:
    if SCOPE not in call.scopes:
        raise OnboardingNotAllowed()


def send_otp(
    session: Session, call: PartnerCall, spec: OtpChallengeCreate, now: datetime
) -> OtpChallenge:
    """A one-time code to the user's phone. In the sandbox the code comes back in the answer
    (there is no phone); production apps get 503 otp_delivery_unavailable until the bank
    has an SMS gateway."""
    _require_scope(call)
    phone = customers.validate_mobile_phone(spec.phone)
    challenge = otp.issue(
        session, _otp_purpose(call), phone, now, sandbox=call.environment == "sandbox"
    )
    return OtpChallenge(
        challenge_id=challenge.id,
        expires_at=challenge.expires_at,
        sandbox_code=challenge.sandbox_code,
    )


def _customer_for(
    session: Session,
    name: str,
    id_number: str,
    phone: str,
    sandbox: bool,
    now: datetime,
    settings: Settings,
) -> Customer:
    """The person as a customer: the known one if name and phone match and they belong to the
    app's environment, else a new one (a sandbox customer for a sandbox app)."""
    known = customers.find_person_by_resident_id(session, id_number, sandbox)
    if known is not None:
        # The same answer whichever differs: nothing about the known customer leaks. Only
        # the app's own environment is searched: a sandbox app never finds a real person.
        if known.name != name or known.phone != phone:
            raise IdentityMismatch()
        if known.kyc_level < REMOTE_KYC_LEVEL:
            return customers.raise_kyc_level(session, known.id, REMOTE_KYC_LEVEL)
        return known
    try:
        return customers.create_customer(
            session,
            CustomerCreate(
                type="person",
                name=name,
                id_number=id_number,
                phone=phone,
                kyc_level=REMOTE_KYC_LEVEL,
                sandbox=sandbox,
            ),
            now,
            settings,
        )
    except CustomerExists as exc:  # a concurrent opening created them: run again, reuse them
        raise RetryableConflict("customer created concurrently") from exc


def open_e_account(
    session: Session, call: PartnerCall, spec: EAccountOpen, now: datetime, settings: Settings
) -> OpenedEAccount:
    """Open a class II e-account for the app's user, with an authorised consent for the app.

    Checks, in order: scope; name, resident ID (check digit), phone, card (Luhn); the one-time
    code (before anything is looked up, so the answer tells nobody whether the bank knows an
    ID number); an existing customer with this ID must have the same name and phone."""
    _require_scope(call)
    id_number = customers.validate_resident_id(spec.id_number, business_date(now, settings.tz))
    phone = customers.validate_mobile_phone(spec.phone)
    card = customers.validate_card_number(spec.bound_card.number)
    otp.verify(session, spec.otp_challenge_id, _otp_purpose(call), phone, spec.otp_code, now)
    sandbox = call.environment == "sandbox"
    customer = _customer_for(session, spec.name, id_number, phone, sandbox, now, settings)
    customer_id = customer.id
    opened = customers.open_e_account(
        session,
        EAccountCreate(
            customer_id=customer_id,
            account_class=ACCOUNT_CLASS,
            bound_card=BoundCardCreate(number=card, bank_name=spec.bound_card.bank_name),
        ),
        now,
    )
    consent = consents.grant_for_opened_account(session, call.app_id, customer_id, opened.id, now)
    outbox.emit(
        session,
        "e_account.opened",
        f"e-accounts/{opened.id}",
        {
            "e_account_id": str(opened.id),
            "customer_id": str(customer_id),
            "account_class": ACCOUNT_CLASS,
            "consent_id": str(consent.id),
            "out_user_id": spec.out_user_id,
            "channel": call.channel,
        },
        now,
        app_id=call.app_id,
    )
    return OpenedEAccount(
        customer_id=customer_id,
        e_account_id=opened.id,
        account_class=ACCOUNT_CLASS,
        consent_id=consent.id,
        bound_card=opened.bound_card,
        kyc_level=customer.kyc_level,
        out_user_id=spec.out_user_id,
        created_at=opened.created_at,
    )
