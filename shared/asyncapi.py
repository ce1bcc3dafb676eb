"""The event contracts as an AsyncAPI 3.0 document, made from the payload classes.

Channels are the Kafka topics (their addresses from the settings), one message per event
type: the record's key, its one header and its value, a CloudEvents 1.0 event in the JSON
format sent in structured mode (shared/events.py, shared/outbox.py), whose `data` is the
payload class's JSON Schema; an example made from the type's sample
(shared/event_samples.py). Operations say which service sends each topic (`Topic.producer`)
and which services receive which event types (CONSUMERS).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any

from .event_samples import SAMPLE_TENANT_ID, SAMPLE_TIME, sample_of
from .events import (
    EVENT_TYPES,
    STRUCTURED_CONTENT_TYPE,
    TOPICS,
    CloudEvent,
    EndpointDisabled,
    EventData,
    FeedbackAssigned,
    FeedbackCreated,
    FeedbackDeleted,
    FeedbackEvent,
    FeedbackNoteAdded,
    FeedbackStatusChanged,
    FeedbackUpdated,
    MessageAttemptExhausted,
    PasswordResetRequested,
    PayoutEvent,
    PrivacyErasureCompleted,
    PrivacyErasureRequested,
    RewardReviewed,
    TenantUpdated,
    Topic,
    UserInvited,
    UserRemoved,
    WidgetChanged,
    new_event,
)
from .settings import Settings

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
SCHEMA_REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Consumer:
    """A service that consumes events: its consumer group and the payload classes its
    handlers take (a base class stands for every event type below it). Each service's
    handler registry (shared.consumer.Handlers) is the truth; test_asyncapi checks this
    against it."""

    service: str
    group: str
    models: tuple[type[EventData], ...]

    def takes(self, model: type[EventData]) -> bool:
        return issubclass(model, self.models)


# Kept beside the services' registries by test_asyncapi, which names any difference.
CONSUMERS: tuple[Consumer, ...] = (
    Consumer("feedback", "feedback", (UserRemoved, WidgetChanged, PrivacyErasureCompleted,
                                      TenantUpdated)),
    Consumer("analytics", "analytics", (FeedbackEvent, TenantUpdated)),
    Consumer("webhook-dispatcher", "webhook-dispatcher", (
        # the webhooks (fanned out to subscriptions) ...
        FeedbackCreated, FeedbackUpdated, FeedbackStatusChanged, FeedbackAssigned,
        FeedbackNoteAdded, FeedbackDeleted, RewardReviewed, PayoutEvent, WidgetChanged,
        EndpointDisabled, MessageAttemptExhausted, PrivacyErasureRequested,
        # ... and the mails
        UserInvited, PasswordResetRequested)),
)

# What the record key is on each topic: the id of the thing the event is about, so that
# one thing's events land on one partition and keep their order.
KEYS: dict[str, str] = {
    "topic_feedback": "the feedback entry's id (a reward's or payout's: its entry's)",
    "topic_widgets": "the widget's id",
    "topic_identity": "the user's id (tenant.updated: the tenant's id)",
    "topic_webhooks": "the webhook subscription's id",
}
SUMMARIES: dict[str, str] = {
    "topic_feedback": "Feedback entries, reward reviews and payouts.",
    "topic_widgets": "Widgets (campaigns): created, changed, paused, resumed, ended.",
    "topic_identity": "Members, invitations, password resets and organization settings.",
    "topic_webhooks": "The webhook dispatcher's notices about its own endpoints.",
}
HEADERS = {
    "type": "object", "required": ["content-type"],
    "properties": {"content-type": {
        "const": STRUCTURED_CONTENT_TYPE,
        "description": "structured content mode: the value is the whole CloudEvent"}},
}
ENVELOPE_DESCRIPTIONS = {
    "id": "a UUID, the same in every copy of the event: consumers deduplicate by it",
    "source": "the producing service",
    "type": "the event type",
    "time": "when the change happened",
    "subject": "the id of the thing the event is about (also the record key)",
    "tenantid": "extension attribute: the organization (tenant)",
    "requestid": "extension attribute: the request that caused the event; absent when"
                 " none did",
}
SAMPLE_EVENT_ID = "9d4f0a1b-2c3d-4e5f-8a9b-0c1d2e3f4a5b"


def channel_id(topic: Topic) -> str:
    return topic.setting.removeprefix("topic_")


def _doc(model: type[EventData]) -> str | None:
    """The class's docstring, or its nearest base's below EventData."""
    for cls in model.__mro__:
        if cls is EventData:
            return None
        doc = cls.__dict__.get("__doc__")
        if doc:
            return inspect.cleandoc(doc)
    return None


def _subject(sample: EventData) -> str:
    for name in ("entry", "widget"):
        part = getattr(sample, name, None)
        if part is not None:
            return str(part.id)
    for name in ("response_id", "user_id", "subscription_id"):
        value = getattr(sample, name, None)
        if value is not None:
            return str(value)
    return SAMPLE_TENANT_ID


@functools.cache
def _cloudevent_schema() -> dict[str, Any]:
    return CloudEvent.model_json_schema(mode="serialization")


def _envelope_schema(model: type[EventData], topic: Topic) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, schema in _cloudevent_schema()["properties"].items():
        schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
        properties[name] = {**schema, **({"description": ENVELOPE_DESCRIPTIONS[name]}
                                         if name in ENVELOPE_DESCRIPTIONS else {})}
    properties["id"]["format"] = "uuid"
    properties["source"]["const"] = f"resonanz/{topic.producer}"
    properties["type"]["const"] = model.cloudevents_type()
    properties["requestid"] = {"type": "string",
                               "description": ENVELOPE_DESCRIPTIONS["requestid"]}
    properties["data"] = {"$ref": SCHEMA_REF.format(model=model.__name__)}
    return {
        "title": f"{model.cloudevents_type()} (CloudEvent)", "type": "object",
        "description": "A CloudEvents 1.0 event in the JSON event format.",
        "required": [name for name in properties if name != "requestid"],
        "properties": properties,
    }


def _example(model: type[EventData], topic: Topic) -> dict[str, Any]:
    sample = sample_of(model)
    if sample is None:
        raise ValueError(f"{model.__name__} has no sample: add one to shared/event_samples.py")
    event = new_event(sample, source=f"resonanz/{topic.producer}",
                      tenant_id=SAMPLE_TENANT_ID, subject=_subject(sample))
    event = event.model_copy(update={"id": SAMPLE_EVENT_ID, "time": SAMPLE_TIME})
    return {"name": model.cloudevents_type(),
            "headers": {"content-type": STRUCTURED_CONTENT_TYPE},
            "payload": event.model_dump(mode="json", exclude_none=True)}


def _message(model: type[EventData], topic: Topic) -> dict[str, Any]:
    doc = _doc(model)
    message: dict[str, Any] = {
        "name": model.cloudevents_type(), "title": model.__name__,
        "contentType": STRUCTURED_CONTENT_TYPE, "headers": HEADERS,
        "payload": _envelope_schema(model, topic),
        "correlationId": {"location": "$message.payload#/id",
                          "description": "the event id"},
        "bindings": {"kafka": {"key": {"type": "string", "description": KEYS[topic.setting]},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
        "examples": [_example(model, topic)],
    }
    if doc:
        message["summary"] = doc.split("\n\n")[0].replace("\n", " ")
        message["description"] = doc
    return message


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)}


def _group(settings: Settings, group: str) -> dict[str, Any]:
    return {"groupId": {"type": "string", "const": settings.consumer_group_prefix + group},
            "bindingVersion": KAFKA_BINDING_VERSION}


def document(settings: Settings, version: str = "0.1.0") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event type, with the topic names of `settings`."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in TOPICS:
        models = [m for m in EVENT_TYPES.values() if m.topic == topic]
        channel = channel_id(topic)
        for model in models:
            schema = model.model_json_schema(mode="serialization", ref_template=SCHEMA_REF)
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            messages[model.cloudevents_type()] = _message(model, topic)
        address = getattr(settings, topic.setting)
        channels[channel] = {
            "address": address, "title": address, "summary": SUMMARIES[topic.setting],
            "description": f"Setting `RESONANZ_{topic.setting.upper()}`. Written by the"
                           f" {topic.producer} service only (its transactional outbox).",
            "messages": {m.cloudevents_type(): _ref("components", "messages",
                                                    m.cloudevents_type()) for m in models},
        }
        operations[f"{topic.producer}.send.{channel}"] = {
            "action": "send", "channel": _ref("channels", channel),
            "title": f"{topic.producer} publishes on {address}",
            "tags": [{"name": topic.producer}],
            "messages": [_ref("channels", channel, "messages", m.cloudevents_type())
                         for m in models],
        }
        for consumer in CONSUMERS:
            taken = [m for m in models if consumer.takes(m)]
            if taken:
                operations[f"{consumer.service}.receive.{channel}"] = {
                    "action": "receive", "channel": _ref("channels", channel),
                    "title": f"{consumer.service} consumes from {address}",
                    "summary": "Each event is applied once (tracked by its id), in the order"
                               " of its key; other event types are skipped.",
                    "tags": [{"name": consumer.service}],
                    "bindings": {"kafka": _group(settings, consumer.group)},
                    "messages": [_ref("channels", channel, "messages", m.cloudevents_type())
                                 for m in taken],
                }
    messages["deadLetter"] = {
        "name": "deadLetter", "title": "A record no handler could apply",
        "summary": "The original record's key and value, unchanged, with where it came from"
                   " and why it failed.",
        "headers": {"type": "object", "properties": {
            "content-type": {"type": "string", "description": "the original record's"},
            "dlq_group": {"type": "string", "description": "the consumer group that gave up"},
            "dlq_topic": {"type": "string", "description": "the topic it was read from"},
            "dlq_partition": {"type": "string", "description": "its partition (decimal)"},
            "dlq_offset": {"type": "string", "description": "its offset (decimal)"},
            "dlq_reason": {"type": "string", "description": "the error (at most 1000 bytes)"},
        }, "required": ["dlq_group", "dlq_topic", "dlq_partition", "dlq_offset",
                        "dlq_reason"]},
        "payload": {"description": "the original record's value: usually one of the events"
                                   " above, or bytes that were no CloudEvent"},
        "bindings": {"kafka": {"key": {"type": "string",
                                       "description": "the original record's key"},
                               "bindingVersion": KAFKA_BINDING_VERSION}},
    }
    dead = settings.topic_dead_letter
    channels["deadLetter"] = {
        "address": dead, "title": dead,
        "summary": "Poison messages, for operators.",
        "description": "Setting `RESONANZ_TOPIC_DEAD_LETTER`. A consumer sends a record"
                       " here after its handler failed on it more than"
                       " `RESONANZ_CONSUMER_MAX_RETRIES` times, or when it is no CloudEvent.",
        "messages": {"deadLetter": _ref("components", "messages", "deadLetter")},
    }
    for consumer in CONSUMERS:
        operations[f"{consumer.service}.send.deadLetter"] = {
            "action": "send", "channel": _ref("channels", "deadLetter"),
            "title": f"{consumer.service} dead-letters a poison message",
            "tags": [{"name": consumer.service}],
            "messages": [_ref("channels", "deadLetter", "messages", "deadLetter")],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Resonanz events", "version": version,
            "description": "The domain events Resonanz services publish on Kafka: CloudEvents"
                           " 1.0 in the JSON event format, structured content mode (the"
                           " record's value is the whole event; its only header is"
                           " `content-type`). Consumers deduplicate by the event `id`; each"
                           " event carries a versioned snapshot, so redelivery and"
                           " reordering are harmless. Webhooks for shops are documented in"
                           " the OpenAPI document (`/openapi.json`).",
            "license": {"name": "Apache-2.0",
                        "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": STRUCTURED_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
