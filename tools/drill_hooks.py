"""Schemathesis hooks for the fuzz stage of `make drill`.

The fuzzer creates webhook subscriptions with whatever URL it dreams up, and the
dispatcher would really call them. The drill promises traffic to 127.0.0.1 only, so any
http(s) URL that names another host is pointed at a closed loopback port before it is
sent; URLs the platform must refuse (no scheme, no host, junk) go through unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import schemathesis

DISCARD = "127.0.0.1:9"  # the discard port: nothing listens, the attempt fails fast


def loopback_only(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not host or host == "127.0.0.1":
        return url
    return urlunsplit((parts.scheme, DISCARD, parts.path, parts.query, ""))


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        body["url"] = loopback_only(body["url"])
