"""The two public API dialects: FeedBackPro (`/v1`) and Pay4Feedback (`/api/v1`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from resonanz.shared.errors import fields_message
from resonanz.shared.logs import request_id_var
from resonanz.shared.timestamps import now_rfc3339
from resonanz.shared.web import json_response


def naming_fields(status: int, message: str, details: list[dict[str, Any]]) -> str:
    """A 400's message names the fields that are wrong (Pay4Feedback: "check the error
    message for which field"), whichever service raised it."""
    unnamed = [d for d in details if isinstance(d, dict) and d.get("field")
               and str(d["field"]) not in message]
    return f"{message} ({fields_message(unnamed)})" if status == 400 and unnamed else message


class FeedBackPro:
    name = "feedbackpro"

    def ok(self, request: web.Request, data: Any, *, status: int = 200,
           meta: dict[str, Any] | None = None, links: dict[str, str | None] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
        body = {
            "data": data,
            "meta": {"request_id": request_id_var.get(), **(meta or {})},
            "links": {"self": str(request.rel_url), **(links or {})},
        }
        return json_response(body, status=status, headers=headers)

    def error(self, request: web.Request, status: int, code: str, message: str,
              details: list[dict[str, Any]], headers: dict[str, str] | None = None
              ) -> web.Response:
        message = naming_fields(status, message, details)
        body = {
            "data": None,
            "meta": {"request_id": request_id_var.get(),
                     "error": {"code": code, "message": message, "details": details}},
            "links": {"self": str(request.rel_url)},
        }
        return json_response(body, status=status, headers=headers)


class Pay4Feedback:
    name = "pay4feedback"

    def ok(self, request: web.Request, data: Any, *, status: int = 200,
           meta: dict[str, Any] | None = None, links: dict[str, str | None] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
        body: dict[str, Any] = {"success": True, "data": data, "timestamp": now_rfc3339()}
        if links and "next" in links:
            body["next"] = links["next"]
        return json_response(body, status=status, headers=headers)

    def error(self, request: web.Request, status: int, code: str, message: str,
              details: list[dict[str, Any]], headers: dict[str, str] | None = None
              ) -> web.Response:
        # The reference's shape, plus fields for clients that want more ("parse defensively").
        message = naming_fields(status, message, details)
        body = {"success": False, "error": message, "timestamp": now_rfc3339(), "code": code,
                "details": details, "request_id": request_id_var.get()}
        return json_response(body, status=status, headers=headers)


class WidgetApi:
    """The shoppers' paths (`/public/…`, no key): the widgets service's own shape, which
    widget.js reads. What the gateway refuses there itself (a body over its cap, the
    widgets service away) must be readable by the embed on any shop's origin: CORS."""

    name = "widget"
    # aiohttp's names for what the widgets service calls otherwise.
    CODES = {"request_entity_too_large": "payload_too_large"}

    def ok(self, request: web.Request, data: Any, *, status: int = 200,
           meta: dict[str, Any] | None = None, links: dict[str, str | None] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
        return json_response(data, status=status, headers=headers)

    def error(self, request: web.Request, status: int, code: str, message: str,
              details: list[dict[str, Any]], headers: dict[str, str] | None = None
              ) -> web.Response:
        body = {"error": {"code": self.CODES.get(code, code), "message": message,
                          "details": details}}
        # No credentials travel on these paths, so any origin may read the refusal.
        return json_response(body, status=status,
                             headers={**(headers or {}), "Access-Control-Allow-Origin": "*"})


Dialect = FeedBackPro | Pay4Feedback | WidgetApi

FEEDBACKPRO = FeedBackPro()
PAY4FEEDBACK = Pay4Feedback()
WIDGET_API = WidgetApi()


def dialect_of(path: str) -> Dialect:
    if path.startswith("/public/"):
        return WIDGET_API
    return PAY4FEEDBACK if path.startswith("/api/") else FEEDBACKPRO
