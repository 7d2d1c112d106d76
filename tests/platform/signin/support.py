"""Test data for the sign-in pages: customers with sandbox passwords, consents, pushed
authorization requests, and small readers of the pages' HTML."""

from __future__ import annotations

import base64
import hashlib
import itertools
import random
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from fastapi.testclient import TestClient
from httpx import Response
from joserfc import jwt

from openbank.core.database import Database, unit_of_work
from openbank.core.settings import Settings
from openbank.platform.consents import service as consents
from openbank.platform.consents.schemas import (
    AccountAccessConsentCreate,
    Consent,
    PaymentConsentCreate,
)
from openbank.platform.principal import PartnerCall
from tests.customers.helpers import create_person, open_e_account
from tests.platform.support import PartnerApp

PASSWORD = "sandbox-password-1"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACCOUNT_PERMISSIONS = ("accounts", "balances", "transactions")

# Phones differ per customer (the login is unique); a random start per process.
_phones = itertools.count(random.randrange(10**7))


def unique_phone() -> str:
    return f"+86139{next(_phones) % 10**8:08d}"


@dataclass
class SandboxCustomer:
    id: str
    phone: str
    password: str
    e_account_ids: list[str]


def set_password(client: TestClient, customer_id: str, password: str = PASSWORD) -> Response:
    response: Response = client.post(
        f"/v1/sandbox/customers/{customer_id}/credentials", json={"password": password}
    )
    return response


def sandbox_customer(client: TestClient, accounts: int = 1) -> SandboxCustomer:
    """A person with `accounts` class II e-accounts and a sign-in password."""
    phone = unique_phone()
    customer_id = str(create_person(client, phone=phone, sandbox=True)["id"])
    e_accounts = [str(open_e_account(client, "II", customer_id)["id"]) for _ in range(accounts)]
    response = set_password(client, customer_id)
    assert response.status_code == 200, response.text
    return SandboxCustomer(customer_id, phone, PASSWORD, e_accounts)


# -- the partner's side -----------------------------------------------------------------------


def _call(app: PartnerApp, scopes: set[str]) -> PartnerCall:
    return PartnerCall(
        app_id=uuid.UUID(app.app_id),
        partner_id=uuid.UUID(app.partner_id),
        environment="sandbox" if app.environment == "sandbox" else "production",
        scopes=frozenset(scopes),
        channel="oauth",
    )


def account_consent(
    db: Database,
    app: PartnerApp,
    now: datetime,
    permissions: tuple[str, ...] = ACCOUNT_PERMISSIONS,
    expiration: datetime | None = None,
) -> Consent:
    """An account-access consent awaiting the customer (as the partner API creates it)."""
    spec = AccountAccessConsentCreate.model_validate(
        {"permissions": list(permissions), "expiration": expiration}
    )
    return unit_of_work(
        db,
        lambda s: consents.create_account_access_consent(s, _call(app, {"accounts"}), spec, now),
    )


def payment_consent(
    db: Database, app: PartnerApp, now: datetime, creditor: str, amount: int, reference: str
) -> Consent:
    spec = PaymentConsentCreate.model_validate(
        {
            "amount": amount,
            "currency": "CNY",
            "creditor_e_account_id": creditor,
            "reference": reference,
        }
    )
    return unit_of_work(
        db, lambda s: consents.create_payment_consent(s, _call(app, {"payments"}), spec, now)
    )


def consent_now(db: Database, app: PartnerApp, consent: Consent, now: datetime) -> Consent:
    """The consent as its app reads it now (status, accounts, permissions)."""
    scope = "accounts" if consent.kind == "account_access" else "payments"
    return unit_of_work(
        db,
        lambda s: consents.get_for_app(s, _call(app, {scope}), consent.id, consent.kind, now),
    )


def client_assertion(app: PartnerApp, audience: str, now: datetime) -> str:
    """private_key_jwt: a JWT the app signs with its registered key."""
    issued = int(now.timestamp())
    claims = {
        "iss": app.client_id,
        "sub": app.client_id,
        "aud": audience,
        "jti": uuid.uuid4().hex,
        "iat": issued,
        "exp": issued + 60,
    }
    header = {"alg": app.key.as_dict()["alg"], "kid": app.key.kid}
    return jwt.encode(header, claims, app.key)


def push(
    client: TestClient,
    app: PartnerApp,
    settings: Settings,
    now: datetime,
    scope: str = "accounts",
    consent_id: uuid.UUID | None = None,
    state: str | None = None,
    redirect_uri: str = "https://partner.example/callback",
) -> tuple[str, str]:
    """A pushed authorization request (POST /oauth2/par): (request_uri, state)."""
    state = state or secrets.token_urlsafe(12)
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    form = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion(app, settings.public_url, now),
    }
    if consent_id is not None:
        form["consent_id"] = str(consent_id)
    response = client.post("/oauth2/par", data=form)
    assert response.status_code == 201, response.text
    return str(response.json()["request_uri"]), state


# -- the browser's side -----------------------------------------------------------------------


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def sandbox_code_of(html: str) -> str:
    found = re.search(r'id="sandbox-code">(\d{6})<', html)
    assert found, html
    return found.group(1)


def checkbox_values(html: str, name: str) -> list[str]:
    return re.findall(rf'name="{name}" value="([^"]+)"', html)


def open_authorize(web: TestClient, app: PartnerApp, request_uri: str) -> Response:
    response: Response = web.get(
        "/oauth2/authorize", params={"client_id": app.client_id, "request_uri": request_uri}
    )
    assert response.status_code == 200, response.text
    return response


def to_consent_page(
    web: TestClient, app: PartnerApp, request_uri: str, customer: SandboxCustomer
) -> tuple[Response, str]:
    """Open the authorization, sign in with password and code: (consent page, csrf)."""
    csrf = csrf_of(open_authorize(web, app, request_uri).text)
    signed_in = web.post(
        "/oauth2/authorize/sign-in",
        data={"phone": customer.phone, "password": customer.password, "csrf": csrf},
    )
    assert signed_in.status_code == 200, signed_in.text
    verified = web.post(
        "/oauth2/authorize/verify", data={"code": sandbox_code_of(signed_in.text), "csrf": csrf}
    )
    assert verified.status_code == 200, verified.text
    return verified, csrf
