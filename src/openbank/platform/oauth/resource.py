"""Resource-server side of the authorization server: turns a DPoP-bound access token into a
PartnerCall for partner-facing endpoints.

INTERFACE STUB written before the authorization server: the oauth helper replaces the bodies
and keeps the names and signatures (consents, onboarding and webhooks routers depend on them).
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from openbank.platform.principal import PartnerCall


def partner_call(scope: str) -> Any:
    """A FastAPI dependency (use as `Annotated[PartnerCall, partner_call("accounts")]`):
    authenticates `Authorization: DPoP <token>` + `DPoP: <proof>`, requires `scope` in the
    token, checks app, partner and (for customer tokens) consent are still active, enforces
    the rate limit of the scope's product, sets `request.state.partner_call` and returns it."""

    async def dependency(request: Request) -> PartnerCall:
        raise NotImplementedError

    return Depends(dependency)


def app_call() -> Any:
    """The same for partner-level endpoints that belong to no product (webhook deliveries):
    any valid token of the app; rate limited as product "platform"."""

    async def dependency(request: Request) -> PartnerCall:
        raise NotImplementedError

    return Depends(dependency)
