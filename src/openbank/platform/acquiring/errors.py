"""Acquiring (partner API) error codes: stable, snake_case."""

from __future__ import annotations

from openbank.core.errors import Forbidden


class PartnerTokenRequired(Forbidden):
    code = "partner_token_required"
    title = "Acquiring calls are the partner's own: use a client_credentials token"
