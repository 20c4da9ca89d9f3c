"""The one domain exception family. Services raise these; the API turns them into
``{"code", "message", "fields"}`` and views into form or page errors."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the operation."""

    status_code = 400
    default_code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, fields: dict[str, list[str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fields = fields or {}


class NotPermitted(DomainError):
    status_code = 403
    default_code = "permission_denied"


class Conflict(DomainError):
    status_code = 409
    default_code = "conflict"
