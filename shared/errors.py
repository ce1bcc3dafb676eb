"""Domain errors: exceptions with a code, a status and field-level details."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None,
                 code: str | None = None, status: int | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        if code:
            self.code = code
        if status:
            self.status = status

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(DomainError):
    status, code = 400, "validation_error"


class Unauthenticated(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Unprocessable(DomainError):
    status, code = 422, "unprocessable"


class ServiceUnavailable(DomainError):
    """A dependency (the database) is away for a moment: the client should retry."""

    status, code = 503, "service_unavailable"


class TooManyRequests(DomainError):
    status, code = 429, "rate_limited"


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    """pydantic's errors as `{field, message, type}` rows, the shape both dialects render."""
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or None,
            "message": err["msg"],
            "type": err["type"],
        }
        for err in errors
    ]
