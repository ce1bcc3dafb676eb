"""Query parameters validated at the edge, with field-level details on failure."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from .errors import InvalidInput


def _invalid(name: str, message: str, raw: str) -> InvalidInput:
    return InvalidInput(f"invalid {name}",
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


# Deeper pages are the cursor's job; the bound keeps offsets within 64 bits.
MAX_PAGE_NUMBER = 2**31 - 1


def query_page(query: Mapping[str, str]) -> int:
    return query_int(query, "page", 1, upper=MAX_PAGE_NUMBER)


def query_uuid(query: Mapping[str, str], name: str) -> str | None:
    """A UUID in canonical form, or None when absent."""
    raw = query.get(name)
    if not raw:
        return None
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise _invalid(name, "must be a UUID", raw) from None
