"""The operator endpoint's models, and the views the service hands to the page renderer.

Views are plain data: the service decides what a page shows, `pages.py` only lays it out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from openbank.platform.consents.schemas import AccountChoice, Consent

# -- operator API ---------------------------------------------------------------------------


class CredentialsSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(
        min_length=8,
        max_length=128,
        description="The customer's sign-in password for the consent pages (sandbox).",
        examples=["correct horse battery"],
    )


class Credentials(BaseModel):
    customer_id: uuid.UUID
    login: str = Field(description="The customer's mobile phone, E.164: what they sign in with")
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


# -- page views -----------------------------------------------------------------------------

Flow = Literal["authorize", "self_service"]


@dataclass(frozen=True, slots=True)
class Notice:
    """A message on a page: Chinese first, English in small print."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Requester:
    """Who is asking: the app and the partner behind it."""

    app_name: str
    partner_name: str
    sandbox: bool


@dataclass(frozen=True, slots=True)
class ErrorPage:
    notice: Notice
    status: int
    # Where the customer may start again (self-service pages), if anywhere.
    restart_url: str | None = None


@dataclass(frozen=True, slots=True)
class SignInPage:
    flow: Flow
    csrf: str
    requester: Requester | None
    phone: str = ""
    error: Notice | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class OtpPage:
    flow: Flow
    csrf: str
    requester: Requester | None
    sandbox_code: str | None
    error: Notice | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class ConsentPage:
    csrf: str
    requester: Requester
    scopes: list[str]
    consent: Consent | None  # None: a scope-only authorization
    accounts: list[AccountChoice]
    ticked_accounts: frozenset[uuid.UUID]
    ticked_permissions: frozenset[str]
    error: Notice | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class MyConsent:
    consent: Consent
    requester: Requester
    account_labels: list[str]


@dataclass(frozen=True, slots=True)
class MyConsentsPage:
    csrf: str
    consents: list[MyConsent]
    error: Notice | None = None
    status: int = 200


@dataclass(frozen=True, slots=True)
class Redirect:
    """303 to `location` (the partner's redirect URI with the authorization response)."""

    location: str


View = ErrorPage | SignInPage | OtpPage | ConsentPage | MyConsentsPage | Redirect


@dataclass(frozen=True, slots=True)
class Outcome:
    view: View
    # A new browser session: the cookie to set (the raw token, never stored).
    new_session: str | None = None
    end_session: bool = False
