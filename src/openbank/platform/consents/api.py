"""HTTP endpoints of consents: the partner-facing consent, account, funds and payment
operations (/v1/open/...), and the operators' view of a customer's consents.

Thin: authenticate (the token's scope), call one service function with the PartnerCall; the
service checks app → consent → customer → account itself. Partner POSTs go through the
gateway's per-app idempotency."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, Response, status

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    IdempotencyKey,
    Limit,
    OperatorIdentity,
    SettingsDep,
    idempotent_post,
    next_link,
    operator_with,
)
from openbank.customers.schemas import AmountCreate
from openbank.platform.consents import service
from openbank.platform.consents.schemas import (
    Account,
    AccountAccessConsentCreate,
    AccountList,
    Balance,
    Consent,
    ConsentList,
    FundsMovement,
    Payment,
    PaymentConsentCreate,
    PaymentCreate,
    TransactionPage,
)
from openbank.platform.gateway.service import partner_idempotent_post
from openbank.platform.oauth.resource import partner_call
from openbank.platform.principal import PartnerCall

router = APIRouter(responses=PROBLEM_RESPONSES)

AccountsCall = Annotated[PartnerCall, partner_call("accounts")]
EAccountsCall = Annotated[PartnerCall, partner_call("e_accounts")]
PaymentsCall = Annotated[PartnerCall, partner_call("payments")]
Support = Annotated[OperatorIdentity, operator_with("operations", "auditor")]
Operations = Annotated[OperatorIdentity, operator_with("operations")]


# -- consents (partner-level tokens) --------------------------------------------------------


@router.post(
    "/v1/open/account-access-consents",
    status_code=status.HTTP_201_CREATED,
    response_model=Consent,
    tags=["open: consents"],
)
def create_account_access_consent(
    body: AccountAccessConsentCreate,
    request: Request,
    response: Response,
    call: AccountsCall,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Ask for access to a customer's accounts; the customer decides on the bank's consent
    page (PAR with this consent's id), and may narrow it."""
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.create_account_access_consent(s, call, body, clock.now()),
    )


@router.get(
    "/v1/open/account-access-consents/{consent_id}", response_model=Consent, tags=["open: consents"]
)
def get_account_access_consent(
    consent_id: uuid.UUID, call: AccountsCall, db: DatabaseDep, clock: ClockDep
) -> Consent:
    """The app's own consent and its status."""
    return unit_of_work(
        db, lambda s: service.get_for_app(s, call, consent_id, "account_access", clock.now())
    )


@router.delete(
    "/v1/open/account-access-consents/{consent_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["open: consents"],
)
def revoke_account_access_consent(
    consent_id: uuid.UUID, call: AccountsCall, db: DatabaseDep, clock: ClockDep
) -> None:
    """The partner gives the access up; tokens bound to it stop at their next call."""
    unit_of_work(
        db,
        lambda s: service.revoke_by_partner(s, call, consent_id, "account_access", clock.now()),
    )


@router.post(
    "/v1/open/payment-consents",
    status_code=status.HTTP_201_CREATED,
    response_model=Consent,
    tags=["open: consents"],
)
def create_payment_consent(
    body: PaymentConsentCreate,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Ask a customer to pay a fixed amount in CNY to a fixed e-account, once."""
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.create_payment_consent(s, call, body, clock.now()),
    )


@router.get(
    "/v1/open/payment-consents/{consent_id}", response_model=Consent, tags=["open: consents"]
)
def get_payment_consent(
    consent_id: uuid.UUID, call: PaymentsCall, db: DatabaseDep, clock: ClockDep
) -> Consent:
    return unit_of_work(
        db, lambda s: service.get_for_app(s, call, consent_id, "payment", clock.now())
    )


# -- accounts (customer tokens under an account-access consent) -----------------------------


@router.get("/v1/open/accounts", response_model=AccountList, tags=["open: accounts"])
def list_accounts(call: AccountsCall, db: DatabaseDep, clock: ClockDep) -> AccountList:
    """The accounts the token's consent covers (permission `accounts`)."""
    return AccountList(data=unit_of_work(db, lambda s: service.list_accounts(s, call, clock.now())))


@router.get("/v1/open/accounts/{e_account_id}", response_model=Account, tags=["open: accounts"])
def get_account(
    e_account_id: uuid.UUID, call: AccountsCall, db: DatabaseDep, clock: ClockDep
) -> Account:
    return unit_of_work(db, lambda s: service.get_account(s, call, e_account_id, clock.now()))


@router.get(
    "/v1/open/accounts/{e_account_id}/balances", response_model=Balance, tags=["open: accounts"]
)
def get_balance(
    e_account_id: uuid.UUID, call: AccountsCall, db: DatabaseDep, clock: ClockDep
) -> Balance:
    """Posted and available balance (permission `balances`)."""
    return unit_of_work(db, lambda s: service.get_balance(s, call, e_account_id, clock.now()))


@router.get(
    "/v1/open/accounts/{e_account_id}/transactions",
    response_model=TransactionPage,
    tags=["open: accounts"],
)
def list_transactions(
    e_account_id: uuid.UUID,
    request: Request,
    call: AccountsCall,
    db: DatabaseDep,
    clock: ClockDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> TransactionPage:
    """Statement lines, oldest first, cursor-paginated (permission `transactions`)."""
    lines, next_cursor = unit_of_work(
        db,
        lambda s: service.list_transactions(s, call, e_account_id, cursor, limit, clock.now()),
    )
    return TransactionPage(
        data=lines, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


@router.post(
    "/v1/open/accounts/{e_account_id}/top-ups",
    status_code=status.HTTP_201_CREATED,
    response_model=FundsMovement,
    tags=["open: accounts"],
)
def top_up(
    e_account_id: uuid.UUID,
    body: AmountCreate,
    request: Request,
    response: Response,
    call: EAccountsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Money in from the bound card (scope e_accounts, permission `top_up`)."""
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.top_up(s, call, e_account_id, body.amount, clock.now(), settings),
    )


@router.post(
    "/v1/open/accounts/{e_account_id}/withdrawals",
    status_code=status.HTTP_201_CREATED,
    response_model=FundsMovement,
    tags=["open: accounts"],
)
def withdraw(
    e_account_id: uuid.UUID,
    body: AmountCreate,
    request: Request,
    response: Response,
    call: EAccountsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Money out to the bound card (scope e_accounts, permission `withdraw`)."""
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.withdraw(s, call, e_account_id, body.amount, clock.now(), settings),
    )


# -- payments (customer tokens under a payment consent) -------------------------------------


@router.post(
    "/v1/open/payments",
    status_code=status.HTTP_201_CREATED,
    response_model=Payment,
    tags=["open: payments"],
)
def make_payment(
    body: PaymentCreate,
    request: Request,
    response: Response,
    call: PaymentsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """The payment consent's one payment, on exactly its terms; the consent is then
    consumed."""
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.make_payment(s, call, body, clock.now(), settings),
    )


# -- operators ------------------------------------------------------------------------------


@router.get("/v1/customers/{customer_id}/consents", response_model=ConsentList, tags=["consents"])
def list_customer_consents(
    customer_id: uuid.UUID, _: Support, db: DatabaseDep, clock: ClockDep
) -> ConsentList:
    """A customer's consents, newest first (support staff answering a customer)."""
    return ConsentList(
        data=unit_of_work(db, lambda s: service.list_for_customer(s, customer_id, clock.now()))
    )


@router.post("/v1/consents/{consent_id}/revoke", response_model=Consent, tags=["consents"])
def revoke_consent(
    consent_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operations,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Stop a consent on the bank's side (a complaint, suspected fraud)."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        None,
        200,
        lambda s: service.revoke_by_operator(s, consent_id, clock.now()),
    )
