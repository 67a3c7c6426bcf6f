"""The DomainError tree. Services raise these; one place per delivery layer maps them.

Each error carries a machine-readable `code`, a human message and, where the problem is one
input, the `field` (or `line` for file imports) so that callers can point at it.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected, user-facing failure."""

    code = "domain_error"
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        line: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.line = line
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.line is not None:
            body["line"] = self.line
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(DomainError):
    code = "validation_failed"
    status_code = 422


class NotFound(DomainError):
    code = "not_found"
    status_code = 404


class Conflict(DomainError):
    """A uniqueness or state conflict, including idempotency key reuse with another payload."""

    code = "conflict"
    status_code = 409


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class InsufficientPoints(DomainError):
    code = "insufficient_points"
    status_code = 409


class InvalidState(DomainError):
    """An action that the object's current state does not allow (e.g. consuming a used voucher)."""

    code = "invalid_state"
    status_code = 409


class LimitExceeded(DomainError):
    code = "limit_exceeded"
    status_code = 409


class PermissionDenied(DomainError):
    code = "permission_denied"
    status_code = 403


class Unauthenticated(DomainError):
    code = "unauthenticated"
    status_code = 401


class InvalidToken(DomainError):
    """A signed link, session token or webhook signature is tampered with, expired or already used."""

    code = "invalid_token"
    status_code = 403


class RateLimited(DomainError):
    """Too many attempts from one client in a window; `details["retry_after"]` says when to retry."""

    code = "rate_limited"
    status_code = 429
