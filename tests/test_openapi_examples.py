"""Every operation's example in the OpenAPI documents is an answer the platform really gave
(`make examples` records them), and it still fits the operation's documented schema: a view
that drifts from its example fails here."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
import pytest

from resonanz.gateway.openapi import EXAMPLES, document, operation_id, recorded_examples
from resonanz.gateway.openapi30 import as_openapi_30
from resonanz.gateway.table import OPERATIONS

IDS = [operation_id(op) for op in OPERATIONS]
spec = functools.cache(document)


def test_every_operation_has_an_example_of_its_success_answer() -> None:
    examples = recorded_examples()
    missing = [f"{op.method} {op.path}" for op in OPERATIONS
               if operation_id(op) not in examples]
    wrong = {operation_id(op): (examples[operation_id(op)]["status"], op.status)
             for op in OPERATIONS if operation_id(op) in examples
             and examples[operation_id(op)]["status"] != op.status}
    assert not missing, (f"no recorded example for {missing}: add a call to"
                         " tools/record_examples.py's script and run `make examples`")
    assert not wrong, (f"recorded status differs from the documented one (recorded,"
                       f" documented): {wrong}; run `make examples`")
    unknown = set(examples) - set(IDS)
    assert not unknown, f"examples of operations no longer in the table: {unknown}"


@pytest.mark.parametrize("name", IDS)
def test_the_example_fits_the_documented_answer(name: str) -> None:
    example = recorded_examples().get(name)
    if example is None:
        pytest.skip("no example (the test above names it)")
    op = next(o for o in OPERATIONS if operation_id(o) == name)
    ok = spec()["paths"][op.path][op.method.lower()]["responses"][str(op.status)]
    if example["body"] is None:
        assert "content" not in ok, f"{name} documents a body but answered none"
        return
    content = ok.get("content", {})
    if example["media"] != "application/json":
        if example["media"] in content:
            assert content[example["media"]]["examples"]["recorded"]["value"] == example["body"]
        return
    media = content["application/json"]
    assert media["examples"]["recorded"]["value"] == example["body"]
    if "schema" in media:
        jsonschema.validate(example["body"], {**media["schema"],
                                              "components": spec()["components"]})


def test_both_documents_carry_the_examples() -> None:
    """3.0 keeps them as they are: an example is not a schema to rewrite (an event type's
    example has a `schema` field of JSON Schema 2020-12)."""
    v31 = spec()
    v30 = as_openapi_30(v31)
    for op in OPERATIONS:
        ok = v31["paths"][op.path][op.method.lower()]["responses"][str(op.status)]
        same = v30["paths"][op.path][op.method.lower()]["responses"][str(op.status)]
        assert ok.get("content") is None or all(
            media.get("examples") == same["content"][kind].get("examples")
            for kind, media in ok["content"].items()), operation_id(op)


SECRET_FIELDS = ("key", "secret", "standard_webhooks_secret", "invitation_token",
                 "csrf_token")


def _values(node: Any, field: str) -> list[Any]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == field] + [
            found for v in node.values() for found in _values(v, field)]
    if isinstance(node, list):
        return [found for item in node for found in _values(item, field)]
    return []


def test_the_examples_show_no_secrets_and_only_example_addresses() -> None:
    """A secret is a known prefix (an API key's with the six characters lists show) and
    then only the recorder's filler, nothing of the real value."""
    text = EXAMPLES.read_text("utf-8")
    for field in SECRET_FIELDS:
        for value in _values(json.loads(text), field):
            if isinstance(value, str):
                rest = re.sub(r"^(rsz_live_\w{6}|whsec_)", "", value)
                assert rest.startswith(("EXAMPLE", "0123")) and (
                    set(rest) <= set("EXAMPLEexample0") or set(rest) <= set(
                        "0123456789abcdef")), (field, value)
    addresses = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text))
    assert addresses and all(a.endswith(("@example.de", "@example.com")) for a in addresses), (
        addresses)
