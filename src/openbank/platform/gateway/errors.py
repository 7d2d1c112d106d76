"""Gateway error codes: stable, snake_case."""

from __future__ import annotations

from openbank.core.errors import DomainError


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    title = "Too many requests for this app and product; retry after Retry-After seconds"


class IdempotencyKeyRequired(DomainError):
    code = "idempotency_key_required"
    status = 400
    title = "Partner POSTs need an Idempotency-Key header"
