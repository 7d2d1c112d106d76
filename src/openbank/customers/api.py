"""Operator endpoints of customers and e-accounts. Thin: parse, authorize, call the service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    IdempotencyKey,
    Limit,
    Operator,
    SettingsDep,
    idempotent_post,
    next_link,
)
from openbank.customers import service
from openbank.customers.schemas import (
    AmountCreate,
    Customer,
    CustomerCreate,
    CustomerPage,
    EAccount,
    EAccountCreate,
    EAccountTransferCreate,
    Movement,
)
from openbank.ledger.schemas import EntryPage

router = APIRouter(responses=PROBLEM_RESPONSES)


# -- customers ------------------------------------------------------------------------------


@router.post("/v1/customers", status_code=201, response_model=Customer, tags=["customers"])
def create_customer(
    body: CustomerCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A person (PRC resident ID) or an enterprise (unified social credit code)."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.create_customer(s, body, clock.now(), settings),
    )


@router.get("/v1/customers", response_model=CustomerPage, tags=["customers"])
def list_customers(
    request: Request, _: Operator, db: DatabaseDep, limit: Limit = 100, cursor: Cursor = None
) -> CustomerPage:
    customers, next_cursor = unit_of_work(db, lambda s: service.list_customers(s, cursor, limit))
    return CustomerPage(
        data=customers, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


@router.get("/v1/customers/{customer_id}", response_model=Customer, tags=["customers"])
def get_customer(customer_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Customer:
    return unit_of_work(db, lambda s: service.get_customer(s, customer_id))


# -- e-accounts -----------------------------------------------------------------------------


@router.post("/v1/e-accounts", status_code=201, response_model=EAccount, tags=["e-accounts"])
def open_e_account(
    body: EAccountCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A class I, II or III e-account with a bound bank card (KYC level 3, 2 or 1 needed)."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.open_e_account(s, body, clock.now()),
    )


@router.get("/v1/e-accounts/{e_account_id}", response_model=EAccount, tags=["e-accounts"])
def get_e_account(e_account_id: uuid.UUID, _: Operator, db: DatabaseDep) -> EAccount:
    """The e-account with its balance and available amount, from the ledger."""
    return unit_of_work(db, lambda s: service.get_e_account(s, e_account_id))


@router.post("/v1/e-accounts/{e_account_id}/freeze", response_model=EAccount, tags=["e-accounts"])
def freeze_e_account(
    e_account_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Stop all money in and out until unfrozen."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        None,
        200,
        lambda s: service.freeze_e_account(s, e_account_id),
    )


@router.post("/v1/e-accounts/{e_account_id}/unfreeze", response_model=EAccount, tags=["e-accounts"])
def unfreeze_e_account(
    e_account_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        None,
        200,
        lambda s: service.unfreeze_e_account(s, e_account_id),
    )


@router.post("/v1/e-accounts/{e_account_id}/close", response_model=EAccount, tags=["e-accounts"])
def close_e_account(
    e_account_id: uuid.UUID,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Close an e-account at zero balance, and its ledger account with it."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        None,
        200,
        lambda s: service.close_e_account(s, e_account_id, clock.now()),
    )


@router.post(
    "/v1/e-accounts/{e_account_id}/top-ups",
    status_code=201,
    response_model=Movement,
    tags=["e-accounts"],
)
def top_up(
    e_account_id: uuid.UUID,
    body: AmountCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Money in from the bound card."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.top_up(s, e_account_id, body.amount, clock.now(), settings),
    )


@router.post(
    "/v1/e-accounts/{e_account_id}/withdrawals",
    status_code=201,
    response_model=Movement,
    tags=["e-accounts"],
)
def withdraw(
    e_account_id: uuid.UUID,
    body: AmountCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Money out to the bound card."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.withdraw(s, e_account_id, body.amount, clock.now(), settings),
    )


@router.post(
    "/v1/e-accounts/{e_account_id}/transfers",
    status_code=201,
    response_model=Movement,
    tags=["e-accounts"],
)
def transfer(
    e_account_id: uuid.UUID,
    body: EAccountTransferCreate,
    request: Request,
    response: Response,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Money to another e-account (a non-bound account for both sides' class limits).
    Returns the paying side's movement."""
    return idempotent_post(
        db,
        request,
        response,
        idempotency_key,
        body,
        201,
        lambda s: service.transfer(s, e_account_id, body, clock.now(), settings),
    )


@router.get(
    "/v1/e-accounts/{e_account_id}/statement", response_model=EntryPage, tags=["e-accounts"]
)
def statement(
    e_account_id: uuid.UUID,
    request: Request,
    _: Operator,
    db: DatabaseDep,
    limit: Limit = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> EntryPage:
    """The e-account's ledger entries, oldest first, each with the balances after it."""
    entries, next_cursor = unit_of_work(
        db, lambda s: service.statement(s, e_account_id, cursor, limit)
    )
    return EntryPage(
        data=entries, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )
