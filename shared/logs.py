"""JSON logs that carry the request and tenant of whatever is being done."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

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


def configure_logging(service: str, level: str = "INFO") -> None:
    root = logging.getLogger()
    root.handlers[:] = [json_handler(service, sys.stdout)]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # aiohttp's own access log (plain text) stays off: the runtime writes one JSON line
    # per request to `resonanz.access` instead (shared/web.py, log_access).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
