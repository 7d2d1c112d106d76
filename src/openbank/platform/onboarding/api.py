"""Partner endpoints (OAuth path) of remote e-account opening: a client_credentials token of
an app subscribed to e-accounts; both POSTs take Idempotency-Key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response

from openbank.core.http import PROBLEM_RESPONSES, ClockDep, DatabaseDep, IdempotencyKey, SettingsDep
from openbank.platform.gateway.service import partner_idempotent_post
from openbank.platform.oauth.resource import partner_call
from openbank.platform.onboarding import service
from openbank.platform.onboarding.schemas import (
    EAccountOpen,
    OpenedEAccount,
    OtpChallenge,
    OtpChallengeCreate,
)
from openbank.platform.principal import PartnerCall

router = APIRouter(responses=PROBLEM_RESPONSES, tags=["partner e-accounts"])

EAccountsCall = Annotated[PartnerCall, partner_call("e_accounts")]


@router.post("/v1/open/otp-challenges", status_code=201, response_model=OtpChallenge)
def create_otp_challenge(
    body: OtpChallengeCreate,
    request: Request,
    response: Response,
    call: EAccountsCall,
    db: DatabaseDep,
    clock: ClockDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """A one-time code to the user's phone, to confirm an account opening. Sandbox apps get
    the code back in `sandbox_code`; production apps get 503 otp_delivery_unavailable until
    the bank has an SMS gateway."""
    now = clock.now()
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.send_otp(s, call, body, now),
    )


@router.post("/v1/open/e-accounts", status_code=201, response_model=OpenedEAccount)
def open_e_account(
    body: EAccountOpen,
    request: Request,
    response: Response,
    call: EAccountsCall,
    db: DatabaseDep,
    clock: ClockDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Open a class II e-account for the app's user (name, resident ID, phone confirmed with
    the one-time code, own bank card bound), with an authorised consent for the app."""
    now = clock.now()
    return partner_idempotent_post(
        db,
        request,
        response,
        call,
        idempotency_key,
        body,
        201,
        lambda s: service.open_e_account(s, call, body, now, settings),
    )
