"""Request and response models of partners, apps, subscriptions and operators."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PartnerStatus = Literal["active", "suspended", "offboarded"]
Environment = Literal["sandbox", "production"]
Role = Literal["admin", "operations", "risk", "auditor"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartnerCreate(Strict):
    legal_name: ShortText = Field(examples=["杭州云集电子商务有限公司"])
    unified_social_credit_code: ShortText = Field(
        description="18 characters, GB 32100-2015 check character", examples=["91330106MA2B2D3E0X"]
    )
    contact_name: ShortText
    contact_email: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    ]
    contact_phone: ShortText = Field(examples=["+8613800138000"])


class PartnerStatusChange(Strict):
    status: PartnerStatus


class Partner(BaseModel):
    id: uuid.UUID
    legal_name: str
    unified_social_credit_code: str
    contact_name: str
    contact_email: str
    contact_phone: str
    status: PartnerStatus
    created_at: datetime


class AppCreate(Strict):
    name: ShortText
    environment: Environment = "sandbox"
    redirect_uris: list[Annotated[str, StringConstraints(max_length=2000)]] = Field(
        min_length=1, max_length=20
    )
    jwks: dict[str, Any] | None = Field(
        default=None, description="The app's public keys (PS256, ES256 or EdDSA), each with a kid"
    )
    jwks_uri: Annotated[str, StringConstraints(max_length=2000)] | None = None
    products: list[str] = Field(
        default_factory=list, description="Products subscribed: e_accounts, payments, lending"
    )


class App(BaseModel):
    id: uuid.UUID = Field(description="Also the OAuth client_id and the signed gateway app_id")
    client_id: str
    partner_id: uuid.UUID
    name: str
    environment: Environment
    redirect_uris: list[str]
    jwks: dict[str, Any] | None
    jwks_uri: str | None
    status: Literal["active", "disabled"]
    products: list[str]
    scopes: list[str] = Field(description="Scopes the app may ask for, from its products")
    created_at: datetime


class AppStatusChange(Strict):
    status: Literal["active", "disabled"]


class SubscriptionChange(Strict):
    products: list[str] = Field(description="The full set of products the app subscribes to")


class OperatorCreate(Strict):
    username: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{2,63}$")]
    password: Annotated[str, StringConstraints(min_length=12, max_length=200)]
    roles: list[Role] = Field(min_length=1)


class Operator(BaseModel):
    id: uuid.UUID
    username: str
    roles: list[Role]
    status: Literal["active", "disabled"]
    created_at: datetime


class OperatorSignIn(Strict):
    username: ShortText
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class OperatorSession(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_at: datetime
    operator: Operator
