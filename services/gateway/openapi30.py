"""The OpenAPI 3.1 document rewritten as OpenAPI 3.0.3, which the Pay4Feedback reference
promises at `/v3/api-docs` ("the raw OpenAPI 3.0 spec … if you want to generate
clients"): many generators read only 3.0.

3.1 schemas are JSON Schema 2020-12; 3.0 has its own subset. What differs here:
`"type": [T, "null"]` and `anyOf […, {"type": "null"}]` become `"nullable": true`,
`const` becomes a one-value `enum`, `examples` becomes `example`, a numeric
`exclusiveMinimum`/`exclusiveMaximum` becomes the boolean form, and keywords 3.0 does
not know (`propertyNames`, `prefixItems`, `$schema`, …) are dropped: they only narrow
what a client may send, never the shape of an answer.
"""

from __future__ import annotations

import copy
from typing import Any

VERSION = "3.0.3"
# JSON Schema keywords that hold one schema, a list of schemas or a map of schemas.
ONE = ("items", "additionalProperties", "not")
MANY = ("allOf", "anyOf", "oneOf")
MAP = ("properties",)
DROPPED = frozenset({"$schema", "$id", "$comment", "propertyNames", "prefixItems",
                     "patternProperties", "unevaluatedProperties", "unevaluatedItems",
                     "contains", "minContains", "maxContains", "dependentRequired",
                     "dependentSchemas", "if", "then", "else", "contentEncoding",
                     "contentMediaType", "const", "examples"})


def as_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    """A 3.0.3 copy of a 3.1 document (the argument is left as it is)."""
    out = copy.deepcopy(document)
    out["openapi"] = VERSION
    out.pop("jsonSchemaDialect", None)
    out.pop("webhooks", None)
    out.get("info", {}).pop("summary", None)
    out.get("info", {}).get("license", {}).pop("identifier", None)
    schemas = out.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        schemas[name] = schema_30(schema)
    for path_item in out.get("paths", {}).values():
        _holders_30(path_item)
    return out


def _holders_30(node: Any) -> None:
    """Rewrite every `schema` of parameters, headers, request and response bodies (an
    example is a recorded answer, kept as it is even where it has a `schema` field)."""
    if isinstance(node, list):
        for item in node:
            _holders_30(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                node[key] = schema_30(value)
            elif key not in ("example", "examples"):
                _holders_30(value)


def schema_30(schema: dict[str, Any]) -> dict[str, Any]:
    """One schema in 3.0's dialect."""
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}  # 3.0 ignores a reference's siblings
    out = {k: v for k, v in schema.items() if k not in DROPPED}
    for key in ONE:
        if isinstance(out.get(key), dict):
            out[key] = schema_30(out[key])
    for key in MAP:
        if isinstance(out.get(key), dict):
            out[key] = {name: schema_30(s) for name, s in out[key].items()}
    for key in MANY:
        if isinstance(out.get(key), list):
            out[key] = [schema_30(s) for s in out[key]]
    if "const" in schema:
        out["enum"] = [schema["const"]]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        out["example"] = schema["examples"][0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[plain], out[bound] = out[bound], True
    return _nullable(out)


def _nullable(out: dict[str, Any]) -> dict[str, Any]:
    """3.1's ways of saying "or null" as 3.0's `nullable`."""
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:
            del out["type"]
            out.setdefault("anyOf", [{"type": k} for k in kinds])
    elif kind == "null":
        # Only null: 3.0 has no null type, so any type, nullable, with null as its one value.
        out.update(type="object", nullable=True, enum=[None])
    branches = out.get("anyOf")
    if isinstance(branches, list) and any(b == {"type": "null"} or b.get("enum") == [None]
                                          for b in branches):
        rest = [b for b in branches if not (b == {"type": "null"} or b.get("enum") == [None])]
        del out["anyOf"]
        out["nullable"] = True
        if len(rest) == 1 and "$ref" in rest[0]:
            out["allOf"] = rest  # nullable beside a bare $ref would be ignored
        elif len(rest) == 1:
            out = {**rest[0], **out}
        elif rest:
            out["anyOf"] = rest
    if out.get("nullable") and isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]  # 3.0.3: an enum must list null to allow it
    return out
