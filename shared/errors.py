"""Domain errors: exceptions with a code, a status and field-level details."""

from __future__ import annotations

import re
from typing import Any

import annotated_types
from pydantic import BaseModel


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

    @classmethod
    def naming(cls, details: list[dict[str, Any]]) -> InvalidInput:
        """A 400 whose message names each field and what is wrong with it, as the
        Pay4Feedback reference promises ("check the error message for which field")."""
        return cls(fields_message(details), details=details)


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


def fields_message(details: list[dict[str, Any]]) -> str:
    """`rating: must be between 1 and 5; customer_email: …`, one part per detail."""
    parts = [f"{d['field']}: {d['message']}" if d.get("field") else str(d.get("message"))
             for d in details]
    return "; ".join(dict.fromkeys(parts)) or "the request is invalid"


def validation_details(errors: list[Any], model: type[BaseModel] | None = None
                       ) -> list[dict[str, Any]]:
    """pydantic's errors as `{field, message, type}` rows, the shape both dialects render,
    in words a client reads (`must be between 1 and 5`, `is required`)."""
    return [
        {
            "field": ".".join(str(p) for p in err["loc"]) or None,
            "message": _about(err, _said_plainly(err, model)),
            "type": err["type"],
        }
        for err in errors
    ]


# pydantic's phrasing, as a sentence about the field: "Input should be …" → "must be …".
_SHOULD = re.compile(r"^(?:Input|String|List|Dictionary|Tuple|Set|Value|Decimal|Bytes|Data)"
                     r" should ")
_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
}


def _about(err: dict[str, Any], message: str) -> str:
    """An error about the whole body says so ("the body must be a JSON object")."""
    return message if err["loc"] or not message.startswith(("is ", "must ")) else (
        f"the body {message}")


def _said_plainly(err: dict[str, Any], model: type[BaseModel] | None) -> str:
    kind, message = err["type"], str(err["msg"])
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind == "json_invalid":
        return f"is not valid JSON ({err.get('ctx', {}).get('error', message)})"
    if kind in ("greater_than_equal", "less_than_equal"):
        bounds = _bounds(model, err["loc"])
        if bounds is not None:
            return f"must be between {bounds[0]} and {bounds[1]}"
    if kind == "value_error":
        return message.removeprefix("Value error, ").removeprefix("value ")
    return _SHOULD.sub("must ", message)


def _bounds(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> tuple[Any, Any] | None:
    """Both bounds of a top-level field constrained by ge and le, else None."""
    field = model.model_fields.get(str(loc[0])) if model is not None and len(loc) == 1 else None
    if field is None:
        return None
    ge = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    le = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
    return None if ge is None or le is None else (ge, le)
