"""Partner-API helpers of the consents tests: real tokens (private_key_jwt, DPoP) from the
authorization server, a consent authorised by its customer between PAR and the code, and
requests carrying Idempotency-Key on every POST."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from openbank.platform.consents import service
from openbank.platform.consents.schemas import AccountPermission, Consent
from tests.platform.consents.support import EVERYTHING, Bank, Holder
from tests.platform.support import PartnerApp
from tests.platform.tokens import (
    DPoPKey,
    Pkce,
    Token,
    approved_code,
    auth_headers,
    client_credentials_token,
    push,
    redeem,
    server_clock,
)

CUSTOMER_SCOPES = "accounts e_accounts"


@dataclass
class Partner:
    """A partner's app, speaking to the bank with its tokens."""

    client: TestClient
    app: PartnerApp

    def token(self, scope: str = "accounts payments") -> Token:
        return client_credentials_token(self.client, self.app, scope)

    def get(self, token: Token, url: str) -> Response:
        response: Response = self.client.get(url, headers=auth_headers(token, "GET", url))
        return response

    def delete(self, token: Token, url: str) -> Response:
        response: Response = self.client.delete(url, headers=auth_headers(token, "DELETE", url))
        return response

    def post(
        self, token: Token, url: str, body: dict[str, Any] | None, key: str | None = "new"
    ) -> Response:
        headers = auth_headers(token, "POST", url)
        if key is not None:
            headers["Idempotency-Key"] = uuid.uuid4().hex if key == "new" else key
        response: Response = self.client.post(url, json=body, headers=headers)
        return response


def customer_token(
    bank: Bank, app: PartnerApp, holder: Holder, consent: Consent, scope: str
) -> Token:
    """PAR naming the consent (awaiting authorisation), the customer's approval of it (the
    consent page's two steps at the service layer), then the code redeemed with DPoP."""
    client = bank.client
    pkce = Pkce()
    pushed = push(client, app, scope, consent_id=consent.id, pkce=pkce)
    assert pushed.status_code == 201, pushed.text
    if consent.status == "awaiting_authorisation":
        bank.run(
            lambda s: service.authorise(
                s,
                consent.id,
                consent.app_id,
                holder.customer_id,
                holder.e_account_ids,
                consent.permissions,
                bank.now(),
            )
        )
    code = approved_code(
        client, bank.db, app, pushed.json()["request_uri"], holder.customer_id, bank.clock
    )
    dpop_key = DPoPKey(clock=server_clock(client))
    response = redeem(client, app, code, pkce, dpop_key)
    assert response.status_code == 200, response.text
    return Token(access_token=response.json()["access_token"], dpop_key=dpop_key)


def account_token(
    bank: Bank,
    app: PartnerApp,
    holder: Holder,
    permissions: tuple[AccountPermission, ...] = EVERYTHING,
    scope: str = CUSTOMER_SCOPES,
) -> tuple[Consent, Token]:
    """An account-access consent of `holder` for all their accounts, and a token bound to it."""
    consent = bank.requested(app, permissions)
    token = customer_token(bank, app, holder, consent, scope)
    return bank.status_of(consent.id), token


def payment_token(
    bank: Bank, app: PartnerApp, payer: Holder, creditor: uuid.UUID, amount: int = 1999
) -> tuple[Consent, Token]:
    """A payment consent paid from `payer`'s first account, and a token bound to it."""
    consent = bank.payment_requested(app, creditor, amount)
    one_account = Holder(payer.customer_id, payer.e_account_ids[:1])
    token = customer_token(bank, app, one_account, consent, "payments")
    return bank.status_of(consent.id), token


def payment_body(consent: Consent) -> dict[str, Any]:
    assert consent.payment is not None
    return {
        "consent_id": str(consent.id),
        "amount": consent.payment.amount,
        "currency": consent.payment.currency,
        "creditor_e_account_id": str(consent.payment.creditor_e_account_id),
        "reference": consent.payment.reference,
    }
