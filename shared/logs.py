"""JSON logs that carry the request and tenant of whatever is being done."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

from aiohttp.http_exceptions import HttpProcessingError
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)


class ContextFilter(logging.Filter):
    """Stamps every record with the current request id and tenant id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id_var.get()
        record.tenant_id = tenant_id_var.get()
        return True


def json_handler(service: str, stream: TextIO) -> logging.Handler:
    """One JSON object per line; a record's `extra` fields (the access log's method, path,
    status, duration_ms) become fields of their own."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter(service))
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s"
            " %(service)s %(request_id)s %(tenant_id)s",
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    )
    return handler


class MalformedRequests(logging.Filter):
    """aiohttp answers a request it cannot parse (a header line over 8,190 bytes, a bad
    method, broken framing) with a 400 before any handler runs, and logs it as an error with
    a traceback whose message quotes up to 100 bytes of the offending line: an API key or a
    session cookie in them would reach the log, and every malformed request from the
    internet would read as our fault. Such a record becomes one info line naming the kind of
    fault, nothing of the request."""

    def filter(self, record: logging.LogRecord) -> bool:
        fault = record.exc_info[1] if record.exc_info else None
        if isinstance(fault, HttpProcessingError):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg, record.args = "refused a request that is not valid HTTP (%s)", (
                type(fault).__name__,)
            record.exc_info = record.exc_text = None
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service, sys.stdout)]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # aiohttp's own access log (plain text) stays off: the runtime writes one JSON line
    # per request to `resonanz.access` instead (shared/web.py, log_access).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())
