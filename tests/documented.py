"""Every answer a test gets from the public API is checked against the OpenAPI document the
gateway serves: the operation is documented, the status is one it documents, and a JSON
body fits the documented schema. A view that drifts from its documented model fails here,
in whichever test first meets it."""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema

from resonanz.gateway.openapi import document

PUBLIC = ("/v1/", "/api/v1/")


@functools.cache
def _spec() -> dict[str, Any]:
    return document()


@functools.cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    """Path templates, literal segments before parameters (`/export` before `/{id}`)."""
    paths = sorted(_spec()["paths"], key=lambda p: (p.count("{"), -len(p)))
    return [(re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", p) + "$"), p) for p in paths]


def operation_of(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    for pattern, template in _templates():
        found = _spec()["paths"][template].get(method.lower())
        if found is not None and pattern.match(path):
            return template, found
    return None


def check_documented(method: str, path: str, status: int, body: Any) -> None:
    path = path.split("?", 1)[0]
    if not path.startswith(PUBLIC) or status == 405:
        return
    found = operation_of(method, path)
    if found is None:
        if status == 404:
            return  # no such path: the router's 404
        raise AssertionError(f"{method} {path} is not in the OpenAPI document")
    template, op = found
    answer = op["responses"].get(str(status))
    assert answer is not None, (
        f"{method} {template} answered {status}, which the document does not list "
        f"({sorted(op['responses'])})")
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None and body is not None:
        jsonschema.validate(body, {**schema, "components": _spec()["components"]})
