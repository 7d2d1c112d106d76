"""Operator endpoints of the ledger. Thin: parse, authorize, call the service, map errors."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from openbank.core.database import unit_of_work
from openbank.core.http import (
    OPERATOR_SCOPE,
    PROBLEM_RESPONSES,
    ClockDep,
    Cursor,
    DatabaseDep,
    IdempotencyKey,
    Limit,
    Operator,
    next_link,
)
from openbank.core.idempotency import request_fingerprint, run_once
from openbank.ledger import service
from openbank.ledger.engine import Outcome
from openbank.ledger.schemas import (
    Account,
    AccountCreate,
    AccountList,
    EntryPage,
    PendingResolution,
    Transfer,
    TransferBatchCreate,
    TransferBatchResult,
    TransferCreate,
)
from openbank.ledger.writer import LedgerWriter

router = APIRouter(prefix="/v1/ledger", tags=["ledger"], responses=PROBLEM_RESPONSES)

REPLAYED = {"Idempotent-Replayed": "true"}


def _writer(request: Request) -> LedgerWriter:
    writer: LedgerWriter = request.app.state.ledger_writer
    return writer


def _scoped(key: str | None, kind: str = "transfer") -> str | None:
    # Separate namespaces, so a batch's item keys can never equal another request's key.
    return f"{OPERATOR_SCOPE}:{kind}:{key}" if key else None


@router.post("/accounts", status_code=201, response_model=Account)
def create_account(
    body: AccountCreate,
    _: Operator,
    db: DatabaseDep,
    clock: ClockDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> object:
    fingerprint = request_fingerprint("POST", "/v1/ledger/accounts", body.model_dump(mode="json"))
    status, payload, replayed = unit_of_work(
        db,
        lambda s: run_once(
            s,
            OPERATOR_SCOPE,
            idempotency_key,
            fingerprint,
            lambda: (201, service.create_account(s, body, clock.now()).model_dump(mode="json")),
        ),
    )
    response.status_code = status
    if replayed:
        response.headers.update(REPLAYED)
    return payload


@router.get("/accounts", response_model=AccountList)
def list_accounts(
    _: Operator,
    db: DatabaseDep,
    account_ids: Annotated[list[uuid.UUID], Query(alias="id", min_length=1, max_length=1000)],
) -> AccountList:
    """Balances of many accounts, all from one consistent snapshot."""
    return AccountList(data=unit_of_work(db, lambda s: service.get_accounts(s, account_ids)))


@router.get("/accounts/{account_id}", response_model=Account)
def get_account(account_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Account:
    return unit_of_work(db, lambda s: service.get_account(s, account_id))


@router.post("/accounts/{account_id}/close", response_model=Account)
def close_account(account_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Account:
    return unit_of_work(db, lambda s: service.close_account(s, account_id))


@router.get("/accounts/{account_id}/entries", response_model=EntryPage)
def list_entries(
    account_id: uuid.UUID,
    request: Request,
    _: Operator,
    db: DatabaseDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> EntryPage:
    """The account's statement: each entry with the running balances after it."""
    entries, next_cursor = unit_of_work(
        db, lambda s: service.list_entries(s, account_id, cursor, limit)
    )
    return EntryPage(
        data=entries, next_cursor=next_cursor, next=next_link(request, next_cursor, limit)
    )


def _json_response(body: object, headers: dict[str, str] | None = None) -> Response:
    # The hot path skips re-validating what the engine built: serialize once with orjson.
    return Response(
        orjson.dumps(body, option=orjson.OPT_UTC_Z),
        status_code=201,
        media_type="application/json",
        headers=headers,
    )


def _transfer_response(outcome: Outcome) -> Response:
    transfer = service.transfer_fields(service.single_transfer(outcome))
    return _json_response(transfer, REPLAYED if outcome.replayed else None)


@router.post("/transfers", status_code=201, response_model=Transfer)
async def create_transfer(
    body: TransferCreate,
    request: Request,
    _: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    command = service.transfer_command(body, _scoped(idempotency_key))
    (outcome,) = await asyncio.wrap_future(service.submit(_writer(request), [command]))
    return _transfer_response(outcome)


@router.post("/transfers/batch", status_code=201, response_model=TransferBatchResult)
async def create_transfer_batch(
    body: TransferBatchCreate,
    request: Request,
    _: Operator,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Many transfers in one request. With `linked`, all succeed or none is applied."""
    commands = service.batch_commands(
        body.transfers, _scoped(idempotency_key, "batch"), linked=body.linked
    )
    outcomes = await asyncio.wrap_future(service.submit(_writer(request), commands))
    return _json_response({"data": service.batch_results(outcomes)})


@router.get("/transfers/{transfer_id}", response_model=Transfer)
def get_transfer(transfer_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Transfer:
    return unit_of_work(db, lambda s: service.get_transfer(s, transfer_id))


async def _resolve(
    request: Request,
    pending_id: uuid.UUID,
    body: PendingResolution,
    idempotency_key: str | None,
    *,
    post: bool,
) -> Response:
    command = service.resolution_command(
        pending_id, body, post=post, idempotency_key=_scoped(idempotency_key)
    )
    (outcome,) = await asyncio.wrap_future(service.submit(_writer(request), [command]))
    return _transfer_response(outcome)


@router.post("/transfers/{transfer_id}/post", status_code=201, response_model=Transfer)
async def post_pending_transfer(
    transfer_id: uuid.UUID,
    request: Request,
    _: Operator,
    body: PendingResolution | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Post a pending transfer, in full or for less (the rest is released)."""
    return await _resolve(
        request, transfer_id, body or PendingResolution(), idempotency_key, post=True
    )


@router.post("/transfers/{transfer_id}/void", status_code=201, response_model=Transfer)
async def void_pending_transfer(
    transfer_id: uuid.UUID,
    request: Request,
    _: Operator,
    body: PendingResolution | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Void a pending transfer: its reserved funds are released."""
    return await _resolve(
        request, transfer_id, body or PendingResolution(), idempotency_key, post=False
    )
