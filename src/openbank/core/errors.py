"""Domain errors carry a stable code; the HTTP layer turns them into RFC 9457 problem details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error a client may see. Subclasses set a stable `code`, an HTTP `status`.

    `headers` go on the problem response as they are (Retry-After on a 429, WWW-Authenticate
    on a 401): some errors are only actionable with them."""

    code: ClassVar[str] = "domain_error"
    status: ClassVar[int] = 422
    title: ClassVar[str] = "The request was refused"

    def __init__(
        self, detail: str | None = None, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers: dict[str, str] = dict(headers or {})
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://openbank.dev/problems/{self.code.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    title = "Authentication required"


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 409
    title = "Idempotency-Key was already used with a different request"


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status = 400
    title = "The pagination cursor is not valid"
