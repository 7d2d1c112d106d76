"""HTTP endpoints of the signed gateway: POST /v1/gateway for partners, and the operators'
endpoints that set an app's gateway keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    DatabaseDep,
    OperatorIdentity,
    SettingsDep,
    operator_with,
)
from openbank.platform.signed import service
from openbank.platform.signed.schemas import (
    GatewayCredentials,
    GatewayCredentialsIssued,
    GatewayCredentialsSet,
)

router = APIRouter(responses=PROBLEM_RESPONSES)

CredentialsOperator = Annotated[OperatorIdentity, operator_with("operations")]
CredentialsReader = Annotated[OperatorIdentity, operator_with("operations", "auditor")]

_FIELDS = {
    "app_id": "The app's id (its OAuth client_id)",
    "method": "openbank.otp.send, openbank.eaccount.open, openbank.eaccount.balance.query, "
    "openbank.eaccount.transactions.query, openbank.eaccount.topup, openbank.eaccount.withdraw",
    "format": "JSON (optional)",
    "charset": "utf-8",
    "sign_type": "RSA2 (SHA256withRSA) or SM2 (SM3withSM2, user id 1234567812345678)",
    "timestamp": "yyyy-MM-dd HH:mm:ss in the bank's time zone",
    "version": "1.0",
    "nonce": "8 to 64 of [0-9A-Za-z_-], never reused by the app",
    "biz_content": "The method's parameters as a JSON object (base64 ciphertext when encrypted)",
    "encrypt_type": "AES (AES-256-GCM) or SM4 (SM4-CBC), when the app's encryption is on",
    "sign": "base64 signature of the other non-empty parameters sorted by name as k=v&k=v",
}
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [*service.REQUIRED, "biz_content"],
    "properties": {name: {"type": "string", "description": d} for name, d in _FIELDS.items()},
}


@router.post(
    "/v1/gateway",
    tags=["signed gateway"],
    summary="Signed gateway (RSA2 / SM2) for partners used to Chinese bank open platforms",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _SCHEMA},
                "application/json": {"schema": _SCHEMA},
            },
        }
    },
    responses={
        200: {
            "description": 'Signed: {"code": "10000", "msg": "Success", "data": ...}; data is '
            "base64 ciphertext when the request was encrypted. Headers X-Openbank-Sign-Type "
            "and X-Openbank-Sign (over the exact body bytes, with the bank's key for the app)."
        },
        429: {"description": "Rate limited (Retry-After)"},
    },
)
async def signed_gateway(
    request: Request, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """Every answer, problems included, is signed by the bank, except when the app_id names
    no app the bank has keys for (then there is nothing to sign with)."""
    body = await request.body()
    reply = await run_in_threadpool(
        service.handle, db, settings, clock.now(), body, request.headers.get("content-type")
    )
    if reply.call is not None:
        request.state.partner_call = reply.call
    if reply.problem_code is not None:
        request.state.problem_code = reply.problem_code
    return Response(
        content=reply.body,
        status_code=reply.status,
        media_type=reply.media_type,
        headers=reply.headers,
    )


@router.put(
    "/v1/apps/{app_id}/gateway-credentials",
    response_model=GatewayCredentialsIssued,
    tags=["signed gateway"],
)
def set_gateway_credentials(
    app_id: uuid.UUID,
    body: GatewayCredentialsSet,
    _: CredentialsOperator,
    db: DatabaseDep,
    clock: ClockDep,
) -> GatewayCredentialsIssued:
    """Register the app's RSA2 and/or SM2 public key and choose its biz_content encryption.
    The answer holds the bank's public keys for the app and, when one was just issued, the
    symmetric key: shown this once only."""
    return unit_of_work(db, lambda s: service.set_credentials(s, app_id, body, clock.now()))


@router.get(
    "/v1/apps/{app_id}/gateway-credentials",
    response_model=GatewayCredentials,
    tags=["signed gateway"],
)
def get_gateway_credentials(
    app_id: uuid.UUID, _: CredentialsReader, db: DatabaseDep
) -> GatewayCredentials:
    """The app's public keys, the bank's public keys for it and its encryption; no secrets."""
    return unit_of_work(db, lambda s: service.get_credentials(s, app_id))
