"""Who is calling a partner-facing operation, however they authenticated.

Both partner paths produce a PartnerCall: the OAuth path from a DPoP-bound access token
(`platform.oauth.resource`), the signed gateway from an app_id signature (`platform.signed`).
Every partner-facing service function takes one and checks app → consent → customer →
account itself, so no router can forget it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from openbank.platform.consents.schemas import Consent

Channel = Literal["oauth", "signed"]


@dataclass(frozen=True, slots=True)
class PartnerCall:
    app_id: uuid.UUID
    partner_id: uuid.UUID
    environment: Literal["sandbox", "production"]
    scopes: frozenset[str]
    channel: Channel
    # Set for calls on behalf of a customer (authorization-code tokens); None for
    # partner-level calls (client_credentials, or a signed request naming no consent).
    customer_id: uuid.UUID | None = None
    consent_id: uuid.UUID | None = None
    # The access token's id, so revocation and audit can name it; None on the signed path.
    token_id: uuid.UUID | None = None
    # The consent as the authenticator found it usable during this very request, so the
    # service's own check reads it once per request, not twice. Checks that must hold under
    # a lock (a payment consent's single use) still lock and re-read the row.
    consent: Consent | None = None
