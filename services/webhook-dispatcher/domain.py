"""Webhook rules: event names, Standard Webhooks signing, the retry schedule, endpoint
health and which network destinations may be dialled. Pure: no I/O, the clock and the
randomness are passed in."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import orjson
from yarl import URL

from resonanz.shared.events import (
    EndpointDisabled,
    EventData,
    FeedbackAssigned,
    FeedbackCreated,
    FeedbackDeleted,
    FeedbackNoteAdded,
    FeedbackStatusChanged,
    FeedbackUpdated,
    MessageAttemptExhausted,
    PayoutCompleted,
    PayoutFailed,
    PrivacyErasureRequested,
    RewardApproved,
    RewardRejected,
    WidgetCreated,
    WidgetEnded,
    WidgetPaused,
    WidgetResumed,
    WidgetUpdated,
)
from resonanz.shared.timestamps import rfc3339

# --- event types → webhook names ------------------------------------------------------


@dataclass(frozen=True)
class WebhookRoute:
    """What an internal event becomes on the wire.

    `name` is the reference's webhook name and the payload `type`; `aliases` are finer
    names a subscription may use instead to receive only that kind of change
    (`feedback_status_changed` still arrives as `feedback_updated`, with `change`).
    """

    name: str
    change: str | None = None
    aliases: tuple[str, ...] = ()
    # Fields of the event that never go out in a webhook (a voucher code is money: it goes
    # to the shopper's email and the payout API only).
    omit: tuple[str, ...] = ()

    @property
    def subscribable(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# The event types (payload classes) that go out as webhooks, and how.
WEBHOOK_ROUTES: dict[type[EventData], WebhookRoute] = {
    FeedbackCreated: WebhookRoute("feedback_created"),
    FeedbackUpdated: WebhookRoute("feedback_updated", "updated"),
    FeedbackStatusChanged: WebhookRoute("feedback_updated", "status_changed",
                                        ("feedback_status_changed",)),
    FeedbackAssigned: WebhookRoute("feedback_updated", "assigned", ("feedback_assigned",)),
    FeedbackNoteAdded: WebhookRoute("feedback_updated", "note_added",
                                    ("feedback_note_added",)),
    FeedbackDeleted: WebhookRoute("feedback_deleted"),
    RewardApproved: WebhookRoute("reward_approved"),
    RewardRejected: WebhookRoute("reward_rejected"),
    PayoutCompleted: WebhookRoute("payout_completed",
                                  omit=("voucher_code", "voucher_code_sealed", "language")),
    PayoutFailed: WebhookRoute("payout_failed"),
    WidgetCreated: WebhookRoute("widget_created"),
    WidgetUpdated: WebhookRoute("widget_updated"),
    WidgetPaused: WebhookRoute("widget_paused"),
    WidgetResumed: WebhookRoute("widget_resumed"),
    WidgetEnded: WebhookRoute("widget_ended"),
    EndpointDisabled: WebhookRoute("endpoint_disabled"),
    MessageAttemptExhausted: WebhookRoute("message_attempt_exhausted"),
    PrivacyErasureRequested: WebhookRoute("customer_erased"),
}

KNOWN_WEBHOOKS: frozenset[str] = frozenset(
    name for route in WEBHOOK_ROUTES.values() for name in route.subscribable
)


def unknown_webhooks(names: Iterable[str]) -> list[str]:
    return [name for name in names if name not in KNOWN_WEBHOOKS]


def webhook_body(route: WebhookRoute, event_id: str, time: datetime,
                 data: Mapping[str, Any]) -> bytes:
    """The Standard Webhooks payload `{type, timestamp, data}`, serialised once per delivery
    so that every retry sends the same bytes."""
    payload = {**{k: v for k, v in data.items() if k not in route.omit}, "event_id": event_id}
    if route.change is not None:
        payload["change"] = route.change
    return orjson.dumps({"type": route.name, "timestamp": rfc3339(time), "data": payload})


# --- secrets and signatures -------------------------------------------------------------

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SECRET_MIN_BYTES, SECRET_MAX_BYTES = 24, 64
SECRET_MIN_CHARS = 16
SECRET_OVERLAP = timedelta(hours=24)
# Retired secrets that sign beside the current one, at most: a sixth rotation within the
# overlap retires the oldest at once, so that the signature header stays small for any
# number of rotations (every secret adds ~50 bytes to each POST).
MAX_RETIRED_SECRETS = 4


# The webhook-id of a delivery: `msg_` and a UUID's 32 hex digits (store.deliveries.FAN_OUT_SQL).
DELIVERY_ID_PREFIX = "msg_"
_DELIVERY_ID = re.compile(r"msg_([0-9a-fA-F]{32})")


def parse_delivery_id(text: str) -> uuid.UUID | None:
    """The UUID a delivery id carries, or None when `text` is not one."""
    match = _DELIVERY_ID.fullmatch(text)
    return uuid.UUID(hex=match[1]) if match else None


def delivery_id(value: uuid.UUID) -> str:
    return DELIVERY_ID_PREFIX + value.hex


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key. `whsec_` + base64 is decoded, as `standardwebhooks` does; any other
    secret of at least 16 characters is used as its UTF-8 bytes, because Pay4Feedback
    clients send their own strings (its reference example: `whsec_generate_a_random_one`)."""
    if len(secret) < SECRET_MIN_CHARS:
        raise ValueError(f"secret must be at least {SECRET_MIN_CHARS} characters")
    decoded = _standard_key(secret)
    return decoded if decoded is not None else secret.encode()


def standard_secret(secret: str) -> str:
    """The same key as `whsec_` + standard base64 of exactly the HMAC key bytes: what
    `standardwebhooks.Webhook(...)` (and Svix's libraries) load as is, whatever form the
    client chose for its own secret."""
    return SECRET_PREFIX + base64.b64encode(secret_key(secret)).decode()


def _standard_key(secret: str) -> bytes | None:
    if not secret.startswith(SECRET_PREFIX):
        return None
    encoded = secret[len(SECRET_PREFIX):].rstrip("=")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        return None
    return key if SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES else None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(signing_secrets: Iterable[str], msg_id: str, timestamp: int,
                     body: bytes) -> str:
    """One signature per live secret, space-separated: receivers accept any that matches."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in signing_secrets)


def live_secrets(current: str, previous: Iterable[tuple[str, datetime]], now: datetime
                 ) -> list[str]:
    """The current secret and every retired one still within its promised time."""
    return [current, *(secret for secret, until in previous if until > now)]


# --- attempts, retries, endpoint health ---------------------------------------------------

# Standard Webhooks / Svix: immediately, then these delays after each failure.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
MAX_RETRY_AFTER = timedelta(hours=24)
DISABLE_AFTER_FAILING = timedelta(days=5)
RESPONSE_BODY_LIMIT = 4096


class Outcome(StrEnum):
    SUCCESS = "success"
    REDIRECT = "redirect"
    GONE = "gone"
    THROTTLED = "throttled"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    BLOCKED = "blocked"


def outcome_of(status: int) -> Outcome:
    """Only 2xx counts as delivered; a redirect is a failure and is never followed."""
    if 200 <= status < 300:
        return Outcome.SUCCESS
    if 300 <= status < 400:
        return Outcome.REDIRECT
    if status == 410:
        return Outcome.GONE
    if status in (429, 503):
        return Outcome.THROTTLED
    return Outcome.HTTP_4XX if status < 500 else Outcome.HTTP_5XX


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as delta-seconds or an HTTP date; nonsense is ignored."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Capped before it is a number: int() refuses over 4,300 digits and timedelta over
        # 999,999,999 days, and an attempt whose answer raised here went unrecorded.
        digits = value.lstrip("0") or "0"
        cap = int(MAX_RETRY_AFTER.total_seconds())
        delay = timedelta(seconds=cap if len(digits) > len(str(cap)) else int(digits))
    else:
        try:
            delay = parsedate_to_datetime(value) - now
        except (TypeError, ValueError):
            return None
    return min(max(delay, timedelta(0)), MAX_RETRY_AFTER)


def jittered(delay: timedelta, unit_random: float) -> timedelta:
    """±20 %: `unit_random` in [0, 1) maps onto [0.8, 1.2) of the delay."""
    return delay * (1 - JITTER + 2 * JITTER * unit_random)


def next_attempt_delay(attempts_made: int, retry_after: timedelta | None,
                       unit_random: float) -> timedelta | None:
    """Delay before the next attempt after `attempts_made` failures; None when exhausted.

    A receiver's Retry-After is honoured: never sooner than it asked."""
    if attempts_made >= MAX_ATTEMPTS:
        return None
    delay = jittered(RETRY_DELAYS[attempts_made - 1], unit_random)
    return max(delay, retry_after) if retry_after is not None else delay


def failing_too_long(failing_since: datetime | None, now: datetime) -> bool:
    return failing_since is not None and now - failing_since >= DISABLE_AFTER_FAILING


def truncate_body(raw: bytes) -> str:
    return raw[:RESPONSE_BODY_LIMIT].decode("utf-8", errors="replace")



@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    duration_ms: float
    status_code: int | None = None
    response_body: str | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    # The receiver's `webhook-delivery` header (Svix's delivery control): `abort-message`
    # stops the retries of this message, `disable` stops the endpoint.
    delivery_control: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What an attempt means for its delivery and for the endpoint's health."""

    status: str  # pending | delivered | failed
    next_attempt_at: datetime | None
    failing_since: datetime | None
    disable_reason: str | None = None
    # Failed for good: every attempt of the schedule made (the tenant is told), or the
    # receiver asked to stop retrying this message.
    exhausted: bool = False
    aborted: bool = False


# A failure more than this after the endpoint's previous one starts a new run of failures:
# a single 429 after a quiet week does not count as five days of failing (Svix's rule).
FAILURE_RUN_GAP = timedelta(hours=24)
ABORT_MESSAGE, DISABLE_ENDPOINT = "abort-message", "disable"


def failure_run_start(failing_since: datetime | None, last_failed_at: datetime | None,
                      now: datetime) -> datetime:
    """When the endpoint's current run of failures began, this failure included."""
    if failing_since is None or last_failed_at is None or now - last_failed_at > FAILURE_RUN_GAP:
        return now
    return failing_since


def judge(result: AttemptResult, attempts_made: int, failing_since: datetime | None,
          now: datetime, unit_random: float, last_failed_at: datetime | None = None
          ) -> Verdict:
    """`attempts_made` counts this retry cycle's attempts, this one included."""
    control = (result.delivery_control or "").strip().lower()
    if result.outcome is Outcome.SUCCESS:
        if control == DISABLE_ENDPOINT:
            return Verdict("delivered", None, None, "the endpoint asked to be disabled"
                                                    " (webhook-delivery: disable)")
        return Verdict("delivered", None, None)
    if result.outcome is Outcome.GONE:
        return Verdict("failed", None, failing_since or now, "endpoint answered 410 Gone")
    failing_since = failure_run_start(failing_since, last_failed_at, now)
    if control == DISABLE_ENDPOINT:
        return Verdict("failed", None, failing_since, "the endpoint asked to be disabled"
                                                      " (webhook-delivery: disable)")
    if failing_too_long(failing_since, now):
        return Verdict("failed", None, failing_since, "endpoint failing continuously for 5 days")
    if control == ABORT_MESSAGE:
        return Verdict("failed", None, failing_since, aborted=True)
    delay = next_attempt_delay(attempts_made, result.retry_after, unit_random)
    if delay is None:
        return Verdict("failed", None, failing_since, exhausted=True)
    return Verdict("pending", now + delay, failing_since)

# --- where a webhook may go (SSRF) --------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CGNAT = ipaddress.ip_network("100.64.0.0/10")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries straight to an IPv4 host (mapped, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _ipv6_reason(ip: ipaddress.IPv6Address) -> str | None:
    if any(ip in net for net in NAT64):
        return "nat64"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        inner = blocked_reason(embedded)
        return f"ipv4_embedded_{inner}" if inner else None
    if ip.sixtofour is not None:
        inner = blocked_reason(ip.sixtofour)
        return f"6to4_{inner}" if inner else None
    if ip.teredo is not None:
        return "teredo"
    if ip in UNIQUE_LOCAL:
        return "unique_local"
    if ip.is_site_local:
        return "site_local"
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a webhook may not be sent to `ip`, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        special = _ipv6_reason(ip)
        if special is not None or _embedded_ipv4(ip) is not None or ip.sixtofour is not None:
            return special
    checks: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
        ("unspecified", lambda a: a.is_unspecified), ("loopback", lambda a: a.is_loopback),
        ("link_local", lambda a: a.is_link_local), ("multicast", lambda a: a.is_multicast),
        ("cgnat", lambda a: a in CGNAT), ("private", lambda a: a.is_private),
        ("reserved", lambda a: a.is_reserved), ("not_global", lambda a: not a.is_global),
    )
    return next((reason for reason, hit in checks if hit(ip)), None)


@dataclass(frozen=True)
class NetworkPolicy:
    """Which destinations are allowed: public unicast, plus an explicit allow-list
    (networks and host names) for tests and on-premise receivers. Off by default."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    allowed_hosts: frozenset[str] = frozenset()

    @classmethod
    def from_setting(cls, value: str) -> NetworkPolicy:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    @property
    def is_open(self) -> bool:
        return bool(self.allowed_networks or self.allowed_hosts)

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """None when a connection to `ip` (resolved from `host`) may be made."""
        if self.host_allowed(host):
            return None
        plain = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        if any(candidate in net for candidate in (ip, plain) if candidate is not None
               for net in self.allowed_networks if candidate.version == net.version):
            return None
        return blocked_reason(ip)


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


# A label the way inet_aton and browsers (WHATWG URL) read a number: decimal, octal
# (leading 0) or hex (0x). A host ending in one is an IPv4 address to them, however
# it is written: 2130706433, 0x7f000001, 127.1 and 0177.0.0.1 are all 127.0.0.1.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)


def non_canonical_ipv4(host: str) -> bool:
    """Whether `host` is an IPv4 address in any form but dotted-quad decimal: the policy
    judges only the canonical form, so every other spelling is refused outright."""
    if ":" in host:
        return False
    labels = host.split(".")
    last = labels[-1] or (labels[-2] if len(labels) > 1 else "")
    if not _NUMERIC_LABEL.fullmatch(last):
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


def answers_refusal(host: str, answers: Iterable[str], policy: NetworkPolicy) -> str | None:
    """Why `host` may not be reached, given every address it resolves to: one forbidden
    answer taints the name as a whole (the next connection might pick that one)."""
    for answer in answers:
        address = ip_literal(answer)
        reason = "unparsable" if address is None else policy.refusal(host, address)
        if reason is not None:
            return reason
    return None


def dialled_host(url: str) -> str | None:
    """The host as the HTTP client dials it (raises ValueError where it cannot parse the URL).

    The client maps a non-ASCII host through IDNA (UTS 46) first, and when that yields an IP
    address it connects to it without asking any resolver: 127.0.0.1 written with ideographic
    full stops (U+3002), or ending in a segmented digit one (U+1FBF1), is 127.0.0.1 to it. So
    every check judges this host, never the host as written."""
    return URL(url).raw_host


def url_problem(url: str, policy: NetworkPolicy) -> str | None:
    """What is wrong with a subscription URL before any DNS: scheme, host, IP literals."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on an invalid port
        host = dialled_host(url)
    except ValueError:
        return "url is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "url must use http or https"
    if not host:
        return "url must name a host"
    literal = ip_literal(host)
    if literal is None:
        return _name_problem(host)
    reason = policy.refusal(host, literal)
    return f"url points to a forbidden address ({reason})" if reason else None


def _name_problem(host: str) -> str | None:
    if non_canonical_ipv4(host):
        return (f"url host {host!r} is an IPv4 address in a non-canonical form (its last"
                " label is a number): write it as four decimal numbers, a.b.c.d")
    return None
