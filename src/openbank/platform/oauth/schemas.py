"""What the authorization server hands its callers: the customer pages (a pushed request to
show), the HTTP layer (an OAuth endpoint call in, its JSON out)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A pushed authorization request, as the sign-in and consent pages need it."""

    id: uuid.UUID
    app_id: uuid.UUID
    app_name: str
    partner_name: str
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    consent_id: uuid.UUID | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class EndpointCall:
    """One request to an OAuth endpoint, as the HTTP layer parsed it."""

    method: str
    # The endpoint's URL as the issuer publishes it and as the request reached it (behind
    # a proxy or in tests they differ); client assertion `aud` and DPoP `htu` may be either.
    urls: tuple[str, ...]
    form: Mapping[str, str]
    dpop: str | None  # the DPoP header, if sent once (twice is refused before this)


class PushedRequest(BaseModel):
    """RFC 9126 §2.2."""

    request_uri: str = Field(
        examples=["urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c"]
    )
    expires_in: int


class TokenResponse(BaseModel):
    """RFC 6749 §5.1 with RFC 9449 token type."""

    model_config = ConfigDict(json_schema_extra={"required": ["access_token", "token_type"]})

    access_token: str
    token_type: str = "DPoP"  # noqa: S105 (a token type, not a secret)
    expires_in: int
    scope: str
    refresh_token: str | None = None


class Confirmation(BaseModel):
    jkt: str


class Introspection(BaseModel):
    """RFC 7662 §2.2; only `active` for a token that is not (or not the caller's)."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    sub: str | None = None
    consent_id: str | None = None
    cnf: Confirmation | None = None
