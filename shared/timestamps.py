"""One timestamp format in everything the platform answers or sends (API responses,
envelopes, webhook payloads): RFC 3339 in UTC with `Z` and milliseconds, e.g.
`2026-12-02T07:35:01.123Z`. A fixed width sorts as text, and no client has to handle
both `…Z` and `+00:00` or six fractional digits on some values and none on others."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC, to the millisecond (a naive one is taken to be UTC already)."""
    if moment.tzinfo is UTC:  # as the database driver gives them: formatted directly,
        # in about 60 % of the time (a page of 500 entries has 2,000 of them)
        return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (  # noqa: UP031 (2x an f-string)
            moment.year, moment.month, moment.day, moment.hour, moment.minute,
            moment.second, moment.microsecond // 1000)
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))


# A datetime field of a model that is serialised to JSON in the one format.
Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]
