"""Values a client sends, parsed once at the edge: ids, dates and numbers, with
field-level details on failure."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from .errors import InvalidInput, NotFound


def _invalid(name: str, message: str, raw: str) -> InvalidInput:
    return InvalidInput(f"{name}: {message}",
                        details=[{"field": name, "message": message, "value": raw}])


def query_int(query: Mapping[str, str], name: str, default: int, *,
              upper: int | None = None) -> int:
    """A whole number of at least 1 (and at most `upper`); `default` when absent."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    bound = f"between 1 and {upper}" if upper else "at least 1"
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"must be an integer {bound}", raw) from None
    if value < 1 or (upper is not None and value > upper):
        raise _invalid(name, f"must be an integer {bound}", raw)
    return value


def query_limit(query: Mapping[str, str], default: int, maximum: int) -> int:
    """A page size: a whole number of at least 1; one above `maximum` is `maximum`, as
    both references promise ("returns up to 200 entries per page")."""
    return min(query_int(query, "limit", default), maximum)


# Deeper pages are the cursor's job; the bound keeps offsets within 64 bits.
MAX_PAGE_NUMBER = 2**31 - 1


def query_page(query: Mapping[str, str]) -> int:
    return query_int(query, "page", 1, upper=MAX_PAGE_NUMBER)


# --- ids -------------------------------------------------------------------------------

# The spellings of one UUID: any case, with or without hyphens, braces or `urn:uuid:`.
# uuid.UUID alone is laxer than this (int() lets `_`, `+` and blanks into the hex).
_UUID_SPELLING = re.compile(
    r"(?:urn:uuid:)?(\{)?([0-9a-f]{8})(-?)([0-9a-f]{4})\3([0-9a-f]{4})\3([0-9a-f]{4})\3"
    r"([0-9a-f]{12})(?(1)\})", re.IGNORECASE | re.ASCII)


def parse_uuid(raw: object) -> uuid.UUID | None:
    """The id `raw` spells, or None. Ids are compared as parsed values, never as
    strings: the owner check once refused `abc…` but let `ABC…` remove the owner."""
    found = _UUID_SPELLING.fullmatch(raw) if isinstance(raw, str) else None
    return uuid.UUID(hex="".join(found.group(2, 4, 5, 6, 7))) if found else None


def path_uuid(raw: str, what: str) -> uuid.UUID:
    """A path id: anything that is no UUID names nothing, so it is a 404, not a 400."""
    parsed = parse_uuid(raw)
    if parsed is None:
        raise NotFound(f"{what} not found")
    return parsed


def query_uuid(query: Mapping[str, str], name: str) -> str | None:
    """A UUID in canonical form, or None when absent."""
    raw = query.get(name)
    if not raw:
        return None
    parsed = parse_uuid(raw)
    if parsed is None:
        raise _invalid(name, "must be a UUID", raw)
    return str(parsed)


# --- dates -----------------------------------------------------------------------------

# PostgreSQL's timestamptz reaches further, but every value travels as a Python datetime
# in UTC (asyncpg converts before sending): `0001-01-01T00:00:00+14:00` is year 0 in UTC
# and failed there with a 500.
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
DATE_RANGE = "between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"


def bounded_datetime(value: datetime) -> datetime:
    """`value` (UTC when it names no offset) when its instant is one we can store."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        aware.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"must lie {DATE_RANGE}") from None
    return aware


def parse_datetime(raw: str) -> datetime:
    """An ISO 8601 date or timestamp within the storable range; ValueError otherwise."""
    return bounded_datetime(datetime.fromisoformat(raw))


def query_datetime(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if not raw:
        return None
    try:
        return parse_datetime(raw)
    except ValueError:
        raise _invalid(name, f"must be an ISO 8601 date or timestamp {DATE_RANGE}",
                       raw) from None


def json_number(value: Any) -> Any:
    """A whole number as JSON writes it (2, or 2.0): not `true`, which pydantic would read as 1,
    nor a string of digits."""
    if isinstance(value, bool | str):
        raise ValueError("must be an integer, written as a JSON number (not a string or boolean)")
    return value


# --- keyset cursors --------------------------------------------------------------------
# A list's position as an opaque token: its sort key's parts as a JSON array, base64url
# without padding. Each list checks the parts' types itself, since a client may send
# anything back.


def cursor_token(*parts: Any) -> str:
    """The token for a position, e.g. (created_at as ISO 8601, id)."""
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def cursor_parts(token: str, count: int) -> list[Any] | None:
    """The `count` parts a token holds, or None when it is not a token of that shape."""
    try:
        parts = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:  # binascii.Error and orjson's decode error are ValueErrors
        return None
    return parts if isinstance(parts, list) and len(parts) == count else None
