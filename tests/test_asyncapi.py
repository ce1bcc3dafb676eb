"""The AsyncAPI 3.0 document of the event contracts (resonanz.shared.asyncapi): valid
against the official schema (tests/assets/asyncapi-3.0.0.schema.json), complete (every
payload class with a type name is a message), and true to the code (producers, consumers,
schemas, examples)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from resonanz.analytics.consumers import HANDLERS as ANALYTICS
from resonanz.feedback.consumers import handlers as feedback_handlers
from resonanz.shared.asyncapi import CONSUMERS, SCHEMA_REF, channel_id, document
from resonanz.shared.consumer import Handlers
from resonanz.shared.crypto import KeyRing
from resonanz.shared.events import EVENT_TYPES, STRUCTURED_CONTENT_TYPE, TOPICS, EventData
from resonanz.shared.settings import Settings
from resonanz.webhook_dispatcher.consumers import build_handlers
from resonanz.webhook_dispatcher.sealing import SecretBox

SCHEMA = Path(__file__).parent / "assets" / "asyncapi-3.0.0.schema.json"


def event_classes() -> list[type[EventData]]:
    """Every payload class that names an event type, found by walking the class tree (not
    through the registry the document is made from)."""
    found, todo = [], list(EventData.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "type_name" in cls.__dict__:
            found.append(cls)
    return found


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    # Through JSON, as served: no Python objects left in it.
    return orjson.loads(orjson.dumps(document(Settings())))


def test_the_document_is_valid_asyncapi_3_0(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(orjson.loads(SCHEMA.read_bytes()))
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert not errors
    assert doc["asyncapi"] == "3.0.0"


def test_the_schema_check_catches_a_broken_document(doc: dict[str, Any]) -> None:
    broken = orjson.loads(orjson.dumps(doc))
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2's word
    assert not jsonschema.Draft7Validator(orjson.loads(SCHEMA.read_bytes())).is_valid(broken)


def test_every_event_class_is_a_message_on_its_topic(doc: dict[str, Any]) -> None:
    classes = event_classes()
    assert len(classes) >= 24
    assert sorted(c.__name__ for c in classes) == sorted(c.__name__ for c in EVENT_TYPES.values())
    messages = doc["components"]["messages"]
    for cls in classes:
        name = cls.cloudevents_type()
        assert name in messages, f"{cls.__name__} ({name}) is missing from the document"
        assert cls.topic is not None
        channel = doc["channels"][channel_id(cls.topic)]
        assert name in channel["messages"], f"{name} is not on {channel['address']}"
        envelope = messages[name]["payload"]["properties"]
        assert envelope["type"]["const"] == name
        assert envelope["data"] == {"$ref": SCHEMA_REF.format(model=cls.__name__)}
        assert doc["components"]["schemas"][cls.__name__] == orjson.loads(orjson.dumps(
            {k: v for k, v in cls.model_json_schema(
                mode="serialization", ref_template=SCHEMA_REF).items() if k != "$defs"}))


def test_each_example_is_a_valid_event_of_its_type(doc: dict[str, Any]) -> None:
    for name, message in doc["components"]["messages"].items():
        if name == "deadLetter":
            continue
        [example] = message["examples"]
        # The message's schema, resolved against the whole document.
        validator = jsonschema.Draft202012Validator(
            {**doc, "$ref": f"#/components/messages/{name}/payload"})
        validator.validate(example["payload"])
        assert example["headers"] == {"content-type": STRUCTURED_CONTENT_TYPE}
        assert EVENT_TYPES[name].model_validate(example["payload"]["data"])
        wrong = {**example["payload"], "data": {"unexpected": True}}
        assert not validator.is_valid(wrong), name


def test_the_key_and_the_envelope_are_as_the_outbox_sends_them(doc: dict[str, Any]) -> None:
    assert doc["defaultContentType"] == STRUCTURED_CONTENT_TYPE
    created = doc["components"]["messages"]["feedback.created"]
    assert created["bindings"]["kafka"]["key"]["type"] == "string"
    example = created["examples"][0]["payload"]
    assert example["subject"] == example["data"]["entry"]["id"]  # the key is the subject
    assert example["source"] == "resonanz/feedback" and example["specversion"] == "1.0"


def test_producers_are_the_services_that_send_each_topic(doc: dict[str, Any]) -> None:
    sources = {"feedback": "resonanz.feedback.commands", "widgets": "resonanz.widgets.commands",
               "gateway": "resonanz.gateway.commands",
               "webhook-dispatcher": "resonanz.webhook_dispatcher.delivery"}
    for topic in TOPICS:
        operation = doc["operations"][f"{topic.producer}.send.{channel_id(topic)}"]
        assert operation["action"] == "send"
        source = importlib.import_module(sources[topic.producer]).SOURCE
        assert source == f"resonanz/{topic.producer}"


def service_handlers() -> dict[str, Handlers]:
    return {"feedback": feedback_handlers(Settings()), "analytics": ANALYTICS,
            "webhook-dispatcher": build_handlers(SecretBox(KeyRing([os.urandom(32)])))}


def test_the_consumers_are_the_services_handler_registries(doc: dict[str, Any]) -> None:
    registries = service_handlers()
    assert {c.service for c in CONSUMERS} == set(registries)
    for consumer in CONSUMERS:
        declared = {m.cloudevents_type() for m in EVENT_TYPES.values() if consumer.takes(m)}
        handled = {m.cloudevents_type() for m in registries[consumer.service].models()}
        assert declared == handled, (consumer.service, {"declared only": declared - handled,
                                                        "handled only": handled - declared})
        received = {ref["$ref"].rsplit("/", 1)[1]
                    for key, op in doc["operations"].items()
                    if key.startswith(f"{consumer.service}.receive.")
                    for ref in op["messages"]}
        assert received == handled, consumer.service
