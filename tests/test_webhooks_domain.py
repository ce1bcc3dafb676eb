"""The dispatcher's pure rules: names, signatures, the retry schedule, endpoint health.
No infrastructure."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from standardwebhooks import Webhook

from resonanz.shared.events import EVENT_TYPES
from resonanz.webhook_dispatcher.delivery import EndpointSlots
from resonanz.webhook_dispatcher.domain import (
    KNOWN_WEBHOOKS,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    WEBHOOK_ROUTES,
    AttemptResult,
    Outcome,
    WebhookRoute,
    generate_secret,
    judge,
    live_secrets,
    next_attempt_delay,
    outcome_of,
    parse_retry_after,
    secret_key,
    signature_header,
    standard_secret,
    unknown_webhooks,
    webhook_body,
)
from resonanz.webhook_dispatcher.store.deliveries import Fresh

NOW = datetime(2026, 4, 19, 14, 22, 51, tzinfo=UTC)


def route(event_type: str) -> WebhookRoute:
    return WEBHOOK_ROUTES[EVENT_TYPES[event_type]]


# --- names ---------------------------------------------------------------------------------


def test_reference_webhook_names_are_subscribable() -> None:
    reference = {"feedback_created", "feedback_updated", "reward_approved", "reward_rejected",
                 "payout_completed", "widget_paused", "widget_resumed"}
    assert reference <= KNOWN_WEBHOOKS


@pytest.mark.parametrize(("event_type", "name"), [
    ("feedback.created", "feedback_created"),
    ("feedback.updated", "feedback_updated"),
    ("feedback.status_changed", "feedback_updated"),
    ("feedback.assigned", "feedback_updated"),
    ("feedback.note_added", "feedback_updated"),
    ("feedback.deleted", "feedback_deleted"),
    ("reward.approved", "reward_approved"),
    ("reward.rejected", "reward_rejected"),
    ("payout.completed", "payout_completed"),
    ("widget.paused", "widget_paused"),
    ("widget.resumed", "widget_resumed"),
    ("widget.created", "widget_created"),
    ("webhook.endpoint_disabled", "endpoint_disabled"),
])
def test_event_types_map_to_reference_webhook_names(event_type: str, name: str) -> None:
    assert route(event_type).name == name


def test_every_routed_event_type_is_a_known_event() -> None:
    assert all(EVENT_TYPES[model.cloudevents_type()] is model for model in WEBHOOK_ROUTES)


def test_a_status_change_reaches_subscribers_of_either_name() -> None:
    assert route("feedback.status_changed").subscribable == ("feedback_updated",
                                                             "feedback_status_changed")


def test_unknown_names_are_reported() -> None:
    assert unknown_webhooks(["reward_approved", "reward_exploded"]) == ["reward_exploded"]


def test_invitations_are_never_webhooks() -> None:
    assert EVENT_TYPES["user.invited"] not in WEBHOOK_ROUTES


def test_payload_has_type_timestamp_and_data_with_the_change() -> None:
    body = webhook_body(route("feedback.assigned"), "e1", NOW, {"entry": {"id": "x"}})
    payload = orjson.loads(body)
    assert payload == {"type": "feedback_updated", "timestamp": "2026-04-19T14:22:51.000Z",
                       "data": {"entry": {"id": "x"}, "event_id": "e1", "change": "assigned"}}


def test_a_payout_webhook_never_carries_the_voucher_code() -> None:
    data = {"payout_id": "p1", "voucher_code": "DANKE-10", "voucher_code_sealed": "v1:…",
            "customer_email": "lars.mueller@web.de"}
    payload = orjson.loads(webhook_body(route("payout.completed"), "e1", NOW, data))
    assert payload["data"] == {"payout_id": "p1", "customer_email": "lars.mueller@web.de",
                               "event_id": "e1"}


# --- secrets and signatures -------------------------------------------------------------------


def test_generated_secrets_are_whsec_base64_of_at_least_24_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) >= 24
    assert generate_secret() != secret


@pytest.mark.parametrize("bad", ["too-short", "whsec_", "whsec_c2hvcnQ="])
def test_secrets_shorter_than_16_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="secret"):
        secret_key(bad)


def test_a_pay4feedback_style_secret_signs_with_its_own_bytes() -> None:
    # The reference's example secret is not base64: it is used as it stands.
    assert secret_key("whsec_generate_a_random_one") == b"whsec_generate_a_random_one"
    standard = "whsec_" + base64.b64encode(b"k" * 32).decode()
    assert secret_key(standard) == b"k" * 32


def test_signature_verifies_with_the_standardwebhooks_library() -> None:
    secret = generate_secret()
    body = webhook_body(route("reward.approved"), "e1", NOW, {"reward_id": "r1"})
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp),
               "webhook-signature": signature_header([secret], "msg_1", timestamp, body)}
    assert Webhook(secret).verify(body, headers)["type"] == "reward_approved"


@pytest.mark.parametrize("secret", [
    "whsec_generate_a_random_one",                                  # the P4F reference's
    "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # URL-safe base64
    "whsec_" + base64.b64encode(b"k" * 16).decode(),                # a 16-byte key
    "my-own-shared-secret-without-prefix",                          # no prefix
    generate_secret(),                                               # ours
])
def test_the_standard_webhooks_form_of_any_accepted_secret_verifies(secret: str) -> None:
    """Whatever form the client chose, `standard_webhooks_secret` loads in the library as is
    and verifies what the secret signed."""
    body = webhook_body(route("reward.approved"), "e1", NOW, {"reward_id": "r1"})
    timestamp = int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(timestamp),
               "webhook-signature": signature_header([secret], "msg_1", timestamp, body)}
    assert Webhook(standard_secret(secret)).verify(body, headers)["type"] == "reward_approved"


def test_during_rotation_both_secrets_sign_and_each_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    signing = live_secrets(new, [(old, NOW + timedelta(hours=24))], NOW)
    assert signing == [new, old]
    body, timestamp = b'{"type":"x"}', int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(timestamp),
               "webhook-signature": signature_header(signing, "msg_2", timestamp, body)}
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)


def test_the_previous_secret_stops_signing_after_the_overlap() -> None:
    assert live_secrets("whsec_new", [("whsec_old", NOW - timedelta(seconds=1))], NOW) == [
        "whsec_new"]


def test_every_retired_secret_signs_until_its_own_time() -> None:
    retired = [("whsec_second", NOW + timedelta(hours=23)),
               ("whsec_first", NOW + timedelta(hours=2)),
               ("whsec_expired", NOW - timedelta(minutes=1))]
    assert live_secrets("whsec_third", retired, NOW) == ["whsec_third", "whsec_second",
                                                         "whsec_first"]


# --- the retry schedule --------------------------------------------------------------------------


def test_schedule_is_the_standard_webhooks_one_after_an_immediate_attempt() -> None:
    assert [d.total_seconds() for d in RETRY_DELAYS] == [
        5, 300, 1800, 7200, 18000, 36000, 36000]
    assert MAX_ATTEMPTS == 8
    assert [next_attempt_delay(n, None, 0.5) for n in range(1, 8)] == list(RETRY_DELAYS)
    assert next_attempt_delay(8, None, 0.5) is None


@pytest.mark.parametrize("unit_random", [0.0, 0.25, 0.999999])
def test_jitter_stays_within_twenty_percent(unit_random: float) -> None:
    for attempts, base in enumerate(RETRY_DELAYS, start=1):
        delay = next_attempt_delay(attempts, None, unit_random)
        assert delay is not None
        assert base * 0.8 <= delay < base * 1.2


def test_retry_after_is_honoured_but_never_shortens_the_schedule() -> None:
    assert next_attempt_delay(1, timedelta(seconds=120), 0.5) == timedelta(seconds=120)
    assert next_attempt_delay(2, timedelta(seconds=1), 0.5) == timedelta(minutes=5)


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("30", NOW) == timedelta(seconds=30)
    assert parse_retry_after("Sun, 19 Apr 2026 14:23:51 GMT", NOW) == timedelta(seconds=60)
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("999999999", NOW) == timedelta(hours=24)


@pytest.mark.parametrize("value", ["100000000000000", "9" * 5000, "0" * 30 + "86400"])
def test_a_retry_after_of_any_length_is_capped_at_24_hours(value: str) -> None:
    assert parse_retry_after(value, NOW) == timedelta(hours=24)


def test_a_retry_after_in_digits_other_than_ascii_is_ignored() -> None:
    assert parse_retry_after("\u00b2", NOW) is None  # '²' passes str.isdigit()
    assert parse_retry_after("\u0663\u0660", NOW) is None  # Arabic-Indic 30


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.SUCCESS), (204, Outcome.SUCCESS), (301, Outcome.REDIRECT),
    (302, Outcome.REDIRECT), (307, Outcome.REDIRECT), (400, Outcome.HTTP_4XX),
    (410, Outcome.GONE), (429, Outcome.THROTTLED), (500, Outcome.HTTP_5XX),
    (503, Outcome.THROTTLED),
])
def test_only_2xx_counts_as_delivered(status: int, outcome: Outcome) -> None:
    assert outcome_of(status) is outcome


# --- endpoint health ------------------------------------------------------------------------


def test_a_failure_starts_the_failing_run_and_schedules_a_retry() -> None:
    verdict = judge(AttemptResult(Outcome.HTTP_5XX, 3.0, 500), 1, None, NOW, 0.5)
    assert (verdict.status, verdict.next_attempt_at, verdict.failing_since) == (
        "pending", NOW + timedelta(seconds=5), NOW)


def test_410_gone_fails_the_delivery_and_disables_the_endpoint() -> None:
    verdict = judge(AttemptResult(Outcome.GONE, 3.0, 410), 1, None, NOW, 0.5)
    assert verdict.status == "failed"
    assert verdict.disable_reason is not None


def test_an_endpoint_failing_for_five_days_is_disabled() -> None:
    recently = NOW - timedelta(hours=10)  # the run's previous failure
    almost = judge(AttemptResult(Outcome.TIMEOUT, 1.0), 1, NOW - timedelta(days=4, hours=23),
                   NOW, 0.5, recently)
    assert almost.disable_reason is None
    verdict = judge(AttemptResult(Outcome.TIMEOUT, 1.0), 1, NOW - timedelta(days=5), NOW, 0.5,
                    recently)
    assert verdict.status == "failed"
    assert verdict.disable_reason == "endpoint failing continuously for 5 days"


def test_a_single_failure_after_a_quiet_spell_starts_a_new_run_and_does_not_disable() -> None:
    """A 503 a week after the endpoint's last failure (no traffic in between) is no five days
    of failing."""
    verdict = judge(AttemptResult(Outcome.THROTTLED, 1.0, 503), 1, NOW - timedelta(days=7),
                    NOW, 0.5, NOW - timedelta(days=7))
    assert (verdict.status, verdict.failing_since, verdict.disable_reason) == (
        "pending", NOW, None)


def test_the_receiver_may_abort_a_message_or_disable_itself() -> None:
    aborted = judge(AttemptResult(Outcome.HTTP_5XX, 1.0, 500, delivery_control="abort-message"),
                    1, None, NOW, 0.5)
    assert (aborted.status, aborted.next_attempt_at, aborted.aborted) == ("failed", None, True)
    assert not aborted.exhausted and aborted.disable_reason is None
    for outcome, status in ((Outcome.SUCCESS, 200), (Outcome.HTTP_4XX, 400)):
        asked = judge(AttemptResult(outcome, 1.0, status, delivery_control="Disable"),
                      1, None, NOW, 0.5)
        assert asked.disable_reason == "the endpoint asked to be disabled" \
            " (webhook-delivery: disable)"


def test_the_last_failed_attempt_of_the_schedule_exhausts_the_message() -> None:
    last = judge(AttemptResult(Outcome.HTTP_5XX, 1.0, 500), MAX_ATTEMPTS, NOW, NOW, 0.5, NOW)
    assert (last.status, last.exhausted) == ("failed", True)
    before = judge(AttemptResult(Outcome.HTTP_5XX, 1.0, 500), MAX_ATTEMPTS - 1, NOW, NOW, 0.5,
                   NOW)
    assert (before.status, before.exhausted) == ("pending", False)


def test_success_ends_the_failing_run() -> None:
    verdict = judge(AttemptResult(Outcome.SUCCESS, 1.0, 200), 3, NOW - timedelta(days=1),
                    NOW, 0.5)
    assert (verdict.status, verdict.failing_since) == ("delivered", None)


def test_a_slot_given_back_frees_waiting_work_only_where_a_limit_was_reached() -> None:
    """The dispatcher starts a claim round after an attempt only when its slot may let
    deliveries go that were left for want of it."""
    slots = EndpointSlots(per_endpoint=2, total=10, per_tenant=3)
    assert slots.take("healthy", "b")
    assert not slots.give_back("healthy", "b"), "nothing can have waited for this slot"
    assert slots.take("busy", "b") and slots.take("busy", "b")
    assert not slots.has_room("busy", "b")
    assert slots.give_back("busy", "b"), "the endpoint was full"
    for endpoint in ("x", "y", "z"):
        assert slots.take(endpoint, "a")
    assert not slots.has_room("w", "a")
    assert slots.give_back("x", "a"), "the tenant was at its share"
    full = EndpointSlots(per_endpoint=4, total=2)
    assert full.take("p", "c") and full.take("q", "d")
    assert full.give_back("p", "c"), "the dispatcher was full"
    assert not full.give_back("q", "d")


def test_a_slot_given_back_where_deliveries_were_left_for_a_round_starts_one() -> None:
    """Deliveries left for a claim round (beyond the free slots of a hand-over, a round's
    surplus) go with the next slot given back at their endpoint, full or not; once."""
    slots = EndpointSlots(per_endpoint=4, total=20)
    assert slots.take("e", "a") and slots.take("e", "a")
    slots.leave(["e"])
    assert slots.give_back("e", "a"), "work was left for this endpoint"
    assert not slots.give_back("e", "a"), "the round it started takes what was left"
    assert slots.take("f", "a")
    slots.leave(["other"])
    assert not slots.give_back("f", "a"), "work left elsewhere waits for its own endpoint"


def test_a_tenants_silent_endpoints_share_a_few_slots_and_its_answering_ones_keep_theirs(
        ) -> None:
    """Attempts to endpoints that have not answered (new, timed out, unreachable) count
    against the tenant's small room for them as well as its share; giving one back lets
    waiting work go when that room was full."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    slots = EndpointSlots(per_endpoint=2, total=20, per_tenant=10, silent_per_tenant=3)
    for endpoint in ("d1", "d2", "d3"):
        assert slots.take(endpoint, a, silent=True)
    assert not slots.has_room("d4", a, silent=True), "the room for silent ones is full"
    assert not slots.take("d4", a, silent=True)
    assert slots.has_room("d4", b, silent=True), "another tenant has its own"
    assert slots.take("live", a) and slots.take("other", a), "answering ones go on"
    assert slots.silent_rooms() == {uuid.UUID(a): 0}, "claims leave a's silent ones out"
    assert slots.give_back("d1", a, silent=True), "the room was full"
    assert slots.silent_rooms() == {uuid.UUID(a): 1}
    assert slots.take("d4", a, silent=True)
    assert not slots.give_back("live", a), "nothing waited for an answering one's slot"
    for endpoint in ("d2", "d3", "d4"):
        slots.give_back(endpoint, a, silent=True)
    assert (slots.silent, slots.tenants, slots.busy) == ({}, {a: 1}, {"other": 1})


def test_of_fresh_deliveries_only_as_many_are_taken_as_the_free_slots_hold() -> None:
    """A batch of ten for one endpoint with 4 slots, one of them busy: three are leased at
    once, the rest wait for a claim round (they were all leased, and seven given back)."""
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    slots = EndpointSlots(per_endpoint=4, total=20, per_tenant=10, silent_per_tenant=2)
    assert slots.take("e", a)
    fresh = [Fresh(f"d{n}", "e", a, answering=True) for n in range(10)]
    new = [Fresh(f"s{n}", f"new{n}", b, answering=False) for n in range(5)]
    assert slots.fitting(fresh + new) == ["d0", "d1", "d2", "s0", "s1"]
    assert slots.busy == {"e": 1}, "nothing is taken by counting"
