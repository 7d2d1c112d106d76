"""HTTP endpoints of the authorization server: discovery, JWKS, PAR, token, revocation,
introspection. (/oauth2/authorize is the customer's pages, in `platform.signin`.)

OAuth endpoints take `application/x-www-form-urlencoded` bodies and are parsed by hand
rather than with FastAPI `Form` fields: RFC 9126 and RFC 6749 §3.1 require refusing a
parameter sent twice, which a form model silently collapses, and every refusal must be an
RFC 6749 error (`invalid_request`), not a 422 validation body. Each handler then runs ONE
service call in a transaction that commits even when the call refuses (see
`service.committed`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from openbank.core.database import unit_of_work
from openbank.core.http import PROBLEM_RESPONSES, ClockDep, DatabaseDep, SettingsDep
from openbank.platform.oauth import service
from openbank.platform.oauth.errors import InvalidDpopProof, InvalidRequest
from openbank.platform.oauth.schemas import (
    EndpointCall,
    Introspection,
    PushedRequest,
    TokenResponse,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
MAX_FORM_BYTES = 65536
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _form_body(*fields: str) -> dict[str, Any]:
    """OpenAPI for a hand-parsed form body (the docs still show its fields)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {name: {"type": "string"} for name in fields},
                    }
                }
            },
        }
    }


CLIENT_AUTH_FIELDS = ("client_id", "client_assertion_type", "client_assertion")


async def _call(request: Request, settings_url: str) -> EndpointCall:
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("OAuth endpoints take application/x-www-form-urlencoded bodies")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise InvalidRequest("the request body is too large")
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=64
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("the form body does not parse") from exc
    form: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in pairs:
        if name in seen:
            raise InvalidRequest(f"parameter {name} appears more than once")
        seen.add(name)
        if value != "":  # RFC 6749 §3.1: a parameter without a value is omitted
            form[name] = value
    # The audit log names the client that called (as claimed: a failed authentication is
    # worth recording under the client it pretended to be).
    request.state.client_id = form.get("client_id")
    proofs = request.headers.getlist("dpop")
    if len(proofs) > 1:
        raise InvalidDpopProof("send exactly one DPoP header")
    # The endpoint as published (public_url): never the Host header the request came with.
    return EndpointCall(
        method=request.method,
        urls=(settings_url + request.url.path,),
        form=form,
        dpop=proofs[0] if proofs else None,
    )


@router.get("/.well-known/openid-configuration", tags=["oauth"])
@router.get("/.well-known/oauth-authorization-server", tags=["oauth"])
async def discovery(settings: SettingsDep) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414): FAPI 2.0, PAR required, DPoP, PKCE S256."""
    return service.discovery(settings)


@router.get("/.well-known/jwks.json", tags=["oauth"])
def jwks(db: DatabaseDep, clock: ClockDep) -> dict[str, Any]:
    """The bank's public signing keys (verify webhook signatures with these)."""
    return unit_of_work(db, lambda s: service.jwks(s, clock.now()))


@router.post(
    "/oauth2/par",
    status_code=201,
    tags=["oauth"],
    response_model=PushedRequest,
    openapi_extra=_form_body(
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "consent_id",
        "dpop_jkt",
        *CLIENT_AUTH_FIELDS,
    ),
)
async def par(
    request: Request, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> JSONResponse:
    """Pushed authorization request (RFC 9126), required before /oauth2/authorize."""
    call = await _call(request, settings.public_url)
    pushed = await run_in_threadpool(
        service.committed,
        db,
        lambda s: service.push_authorization_request(s, settings, call, clock.now()),
    )
    return JSONResponse(pushed.model_dump(), status_code=201, headers=NO_STORE)


@router.post(
    "/oauth2/token",
    tags=["oauth"],
    response_model=TokenResponse,
    response_model_exclude_none=True,
    openapi_extra=_form_body(
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        *CLIENT_AUTH_FIELDS,
    ),
)
async def token(
    request: Request, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> JSONResponse:
    """Token endpoint: authorization_code (PKCE), refresh_token (rotating),
    client_credentials; private_key_jwt and a DPoP proof on every request."""
    call = await _call(request, settings.public_url)
    issued = await run_in_threadpool(
        service.committed, db, lambda s: service.token(s, settings, call, clock.now())
    )
    return JSONResponse(issued.model_dump(exclude_none=True), headers=NO_STORE)


@router.post(
    "/oauth2/revoke",
    tags=["oauth"],
    openapi_extra=_form_body("token", "token_type_hint", *CLIENT_AUTH_FIELDS),
)
async def revoke(
    request: Request, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    """Token revocation (RFC 7009); a refresh token takes its access tokens along."""
    call = await _call(request, settings.public_url)
    await run_in_threadpool(
        service.committed, db, lambda s: service.revoke(s, settings, call, clock.now())
    )
    return Response(status_code=200, headers=NO_STORE)


@router.post(
    "/oauth2/introspect",
    tags=["oauth"],
    response_model=Introspection,
    response_model_exclude_none=True,
    openapi_extra=_form_body("token", "token_type_hint", *CLIENT_AUTH_FIELDS),
)
async def introspect(
    request: Request, db: DatabaseDep, clock: ClockDep, settings: SettingsDep
) -> JSONResponse:
    """Token introspection (RFC 7662) of the calling app's own tokens."""
    call = await _call(request, settings.public_url)
    found = await run_in_threadpool(
        service.committed, db, lambda s: service.introspect(s, settings, call, clock.now())
    )
    return JSONResponse(found.model_dump(exclude_none=True), headers=NO_STORE)
