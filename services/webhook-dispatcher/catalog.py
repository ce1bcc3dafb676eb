"""The event catalog: every webhook a subscription may choose, with what its receiver gets.

Built from the code that sends webhooks, never copied by hand: the names from
WEBHOOK_ROUTES, each payload's JSON Schema from its typed model in shared/events.py
(with the fields `webhook_body` adds or leaves out), and each sample payload made by
`webhook_body` itself from a validated instance of that model (shared/event_samples.py).
Only the descriptions are prose. A name without a description or sample is left out of
the catalog (`uncatalogued` lists it) rather than failing the service; the catalog test
fails on it.

Test events (`POST …/webhooks/{id}/test`) are sample payloads too, marked with
`"test": true` in `data` and logged under the event type `webhook.test`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from resonanz.shared.event_samples import SAMPLE_TIME, sample_of
from resonanz.shared.events import EventData

from .domain import KNOWN_WEBHOOKS, WEBHOOK_ROUTES, WebhookRoute, webhook_body

# The event type a test delivery is logged under; its `type` on the wire is the one chosen.
TEST_EVENT_TYPE = "webhook.test"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

DESCRIPTIONS: dict[str, str] = {
    "feedback_created": "A shopper left feedback (the entry, its text and, if given, the"
                        " shopper's email).",
    "feedback_updated": "Any change to an entry: status, assignee, a note, other fields;"
                        " `data.change` says which.",
    "feedback_status_changed": "Only status changes (delivered as `feedback_updated` with"
                               " `change: status_changed`).",
    "feedback_assigned": "Only assignments (delivered as `feedback_updated` with"
                         " `change: assigned`).",
    "feedback_note_added": "Only new internal notes (delivered as `feedback_updated` with"
                           " `change: note_added`).",
    "feedback_deleted": "An entry was deleted.",
    "reward_approved": "A response's reward was approved.",
    "reward_rejected": "A response's reward was rejected, with the reason.",
    "payout_completed": "A reward was paid: a voucher's code handed out (never in the"
                        " webhook), or cash the shop marked paid; never on approval alone.",
    "payout_failed": "A payout will not be paid: `status` is `failed` (the payment did not"
                     " go through) or `cancelled`, with the shop's `reason`.",
    "widget_created": "A widget (campaign) was created.",
    "widget_updated": "A widget's settings changed.",
    "widget_paused": "A widget was paused, possibly until a set time.",
    "widget_resumed": "A paused widget serves again.",
    "widget_ended": "A widget was ended for good.",
    "endpoint_disabled": "One of your webhook endpoints was disabled, with the reason.",
    "message_attempt_exhausted": "A webhook message failed every attempt of the retry"
                                 " schedule; it stays in the log for resend or recover.",
    "customer_erased": "A shopper's data was erased on request (GDPR Art. 17): erase it"
                       " downstream too. The shopper is named by `subject_sha256`, the"
                       " SHA-256 of the email trimmed and lower-cased, never the email;"
                       " `entry_ids` are the erased entries (responses).",
}

SAMPLE_EVENT_ID = "6a1f0c2e-9b8d-4e7f-a6c5-b4d3e2f1a0b9"


@dataclass(frozen=True)
class Variant:
    """One internal event type that a subscribable name receives."""

    model: type[EventData]
    route: WebhookRoute

    @property
    def event_type(self) -> str:
        return self.model.cloudevents_type()


def variants(name: str) -> list[Variant]:
    """The event types a subscription to `name` receives."""
    return [Variant(m, r) for m, r in WEBHOOK_ROUTES.items() if name in r.subscribable]


def primary(name: str) -> Variant:
    """The variant a sample or a test event of `name` is made from: for `feedback_updated`
    the plain update, for an alias the change it stands for."""
    found = variants(name)
    aliased = [v for v in found if name in v.route.aliases]
    return aliased[0] if aliased else found[0]


def sample_body(name: str, event_id: str, time: datetime, *, test: bool = False) -> bytes:
    """A payload of `name` exactly as a delivery of it is serialised."""
    variant = primary(name)
    sample = sample_of(variant.model)
    if sample is None:
        raise KeyError(f"{variant.model.__name__} has no sample")
    data = sample.model_dump(mode="json")
    if test:
        data["test"] = True
    return webhook_body(variant.route, event_id, time, data)


def _data_schema(variant: Variant, defs: dict[str, Any]) -> dict[str, Any]:
    """The model's schema as `webhook_body` shapes it: omitted fields gone, `event_id`
    (and `change`) added; `test` marks a test event."""
    schema = variant.model.model_json_schema(mode="serialization")
    defs.update(schema.pop("$defs", {}))
    properties = {k: v for k, v in schema["properties"].items() if k not in variant.route.omit}
    properties["event_id"] = {"type": "string", "format": "uuid",
                              "description": "the event's id; the same in every delivery of it"}
    required = [k for k in schema.get("required", []) if k in properties and k != "event_id"]
    required.append("event_id")
    if variant.route.change is not None:
        properties["change"] = {"const": variant.route.change}
        required.append("change")
    properties["test"] = {"const": True,
                          "description": "present only in test events sent from the portal"}
    return {**schema, "properties": properties, "required": required}


def payload_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of the whole body a receiver of `name` gets."""
    defs: dict[str, Any] = {}
    shapes = [_data_schema(v, defs) for v in variants(name)]
    data = shapes[0] if len(shapes) == 1 else {"anyOf": shapes}
    return {
        "$schema": JSON_SCHEMA_DIALECT, "title": name, "type": "object",
        "required": ["type", "timestamp", "data"], "additionalProperties": False,
        "properties": {
            "type": {"const": primary(name).route.name},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": data,
        },
        **({"$defs": defs} if defs else {}),
    }


def _entry(name: str) -> dict[str, Any]:
    return {
        "name": name, "delivered_as": primary(name).route.name,
        "description": DESCRIPTIONS[name],
        "event_types": [v.event_type for v in variants(name)],
        "schema": payload_schema(name),
        "sample": orjson.loads(sample_body(name, SAMPLE_EVENT_ID, SAMPLE_TIME)),
    }


def uncatalogued() -> list[str]:
    """Subscribable names the catalog cannot describe yet (no description or sample)."""
    return sorted(name for name in KNOWN_WEBHOOKS if name not in DESCRIPTIONS
                  or any(sample_of(v.model) is None for v in variants(name)))


def build_catalog() -> list[dict[str, Any]]:
    missing = set(uncatalogued())
    return [_entry(name) for name in sorted(KNOWN_WEBHOOKS) if name not in missing]


# Rendered once: the catalog changes only with the code.
CATALOG: list[dict[str, Any]] = build_catalog()
