"""Gateway behaviour for partner calls: rate limits shared across processes, per-app
idempotency kept 24 h, and the API audit log.

INTERFACE STUB written before the gateway: the gateway helper replaces the bodies and keeps
the names and signatures (the oauth, consents, onboarding and signed routers call them)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from openbank.core.database import Database
from openbank.platform.principal import PartnerCall


def enforce_rate_limit(db: Database, app_id: uuid.UUID, product: str, now: datetime) -> None:
    """Count one call of `app_id` against `product`'s limit in its own short transaction
    (shared by every API process); raise RateLimited (429, Retry-After) when over it."""


def partner_idempotent_post(
    db: Database,
    request: Request,
    response: Response,
    call: PartnerCall,
    idempotency_key: str | None,
    body: BaseModel | None,
    status: int,
    work: Callable[[Session], BaseModel],
) -> object:
    """Run one partner POST in a unit of work at most once per (app, Idempotency-Key) for
    24 hours: the same key and body replays the first response, another body is 409. A
    missing key is 400 `idempotency_key_required`."""
    raise NotImplementedError
