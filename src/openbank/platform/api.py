"""Operator endpoints: operators and their sessions, partners, apps and subscriptions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request, status

from openbank.core.database import unit_of_work
from openbank.core.http import (
    PROBLEM_RESPONSES,
    ClockDep,
    DatabaseDep,
    Operator,
    OperatorIdentity,
    operator_with,
)
from openbank.platform import service
from openbank.platform.schemas import (
    App,
    AppCreate,
    AppStatusChange,
    OperatorCreate,
    OperatorSession,
    OperatorSignIn,
    Partner,
    PartnerCreate,
    PartnerStatusChange,
    SubscriptionChange,
)
from openbank.platform.schemas import (
    Operator as OperatorOut,
)

router = APIRouter(responses=PROBLEM_RESPONSES)
Admin = Annotated[OperatorIdentity, operator_with()]
PartnerManager = Annotated[OperatorIdentity, operator_with("operations")]


# -- operators ------------------------------------------------------------------------------


@router.post(
    "/v1/operators", status_code=status.HTTP_201_CREATED, tags=["operators"], response_model=None
)
def create_operator(
    body: OperatorCreate, _: Admin, db: DatabaseDep, clock: ClockDep
) -> OperatorOut:
    """Create an operator (admins only; the first one with the bootstrap admin token)."""
    return unit_of_work(db, lambda s: service.create_operator(s, body, clock.now()))


@router.get("/v1/operators", tags=["operators"])
def list_operators(_: Admin, db: DatabaseDep) -> list[OperatorOut]:
    return unit_of_work(db, service.list_operators)


@router.post(
    "/v1/operator-sessions",
    status_code=status.HTTP_201_CREATED,
    tags=["operators"],
    response_model=None,
)
def sign_in(body: OperatorSignIn, db: DatabaseDep, clock: ClockDep) -> OperatorSession:
    """Sign in with username and password; the token is a bearer token for eight hours."""
    return unit_of_work(
        db, lambda s: service.sign_in_operator(s, body.username, body.password, clock.now())
    )


@router.delete(
    "/v1/operator-sessions/current", status_code=status.HTTP_204_NO_CONTENT, tags=["operators"]
)
def sign_out(request: Request, _: Operator, db: DatabaseDep, clock: ClockDep) -> None:
    token = request.headers["authorization"].partition(" ")[2]
    unit_of_work(db, lambda s: service.sign_out_operator(s, token, clock.now()))


# -- partners and apps ----------------------------------------------------------------------


@router.post(
    "/v1/partners", status_code=status.HTTP_201_CREATED, tags=["partners"], response_model=None
)
def create_partner(
    body: PartnerCreate, _: PartnerManager, db: DatabaseDep, clock: ClockDep
) -> Partner:
    """Onboard a partner platform (its unified social credit code is checked)."""
    return unit_of_work(db, lambda s: service.create_partner(s, body, clock.now()))


@router.get("/v1/partners", tags=["partners"])
def list_partners(_: Operator, db: DatabaseDep) -> list[Partner]:
    return unit_of_work(db, service.list_partners)


@router.get("/v1/partners/{partner_id}", tags=["partners"])
def get_partner(partner_id: uuid.UUID, _: Operator, db: DatabaseDep) -> Partner:
    return unit_of_work(db, lambda s: service.get_partner(s, partner_id))


@router.post("/v1/partners/{partner_id}/status", tags=["partners"])
def set_partner_status(
    partner_id: uuid.UUID, body: PartnerStatusChange, _: PartnerManager, db: DatabaseDep
) -> Partner:
    """Suspend, reactivate or offboard a partner; its apps stop at their next call."""
    return unit_of_work(db, lambda s: service.set_partner_status(s, partner_id, body.status))


@router.post(
    "/v1/partners/{partner_id}/apps",
    status_code=status.HTTP_201_CREATED,
    tags=["partners"],
    response_model=None,
)
def create_app(
    partner_id: uuid.UUID, body: AppCreate, _: PartnerManager, db: DatabaseDep, clock: ClockDep
) -> App:
    """Register an app: redirect URIs, its public keys (JWKS or JWKS URI) and products."""
    return unit_of_work(db, lambda s: service.create_app(s, partner_id, body, clock.now()))


@router.get("/v1/partners/{partner_id}/apps", tags=["partners"])
def list_apps(partner_id: uuid.UUID, _: Operator, db: DatabaseDep) -> list[App]:
    return unit_of_work(db, lambda s: service.list_apps(s, partner_id))


@router.get("/v1/apps/{app_id}", tags=["partners"])
def get_app(app_id: uuid.UUID, _: Operator, db: DatabaseDep) -> App:
    return unit_of_work(db, lambda s: service.get_app(s, app_id))


@router.post("/v1/apps/{app_id}/status", tags=["partners"])
def set_app_status(
    app_id: uuid.UUID, body: AppStatusChange, _: PartnerManager, db: DatabaseDep
) -> App:
    """Disable or re-enable one app; a disabled app's tokens stop at their next call."""
    return unit_of_work(db, lambda s: service.set_app_status(s, app_id, body.status))


@router.put("/v1/apps/{app_id}/subscriptions", tags=["partners"])
def set_subscriptions(
    app_id: uuid.UUID,
    body: SubscriptionChange,
    _: PartnerManager,
    db: DatabaseDep,
    clock: ClockDep,
) -> App:
    """Replace the app's products; the scopes it may ask for follow."""
    return unit_of_work(
        db, lambda s: service.set_subscriptions(s, app_id, body.products, clock.now())
    )
