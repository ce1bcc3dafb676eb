"""The README's configuration table, generated from the settings classes.

`python tools/settings_table.py` prints it; `--write` replaces the table in README.md.
The tests fail when a setting exists that this file does not explain, or when the README's
table differs from what this prints, so the two cannot drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from resonanz.analytics.app import AnalyticsSettings
from resonanz.dashboard.app import DashboardSettings
from resonanz.feedback.app import FeedbackSettings
from resonanz.gateway.app import GatewaySettings
from resonanz.shared.migrate import MigrationSettings
from resonanz.shared.settings import ENV_PREFIX, Settings
from resonanz.webhook_dispatcher.app import WebhookDispatcherSettings
from resonanz.widgets.app import WidgetsSettings

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- settings table: start -->", "<!-- settings table: end -->"

CLASSES: dict[str, type[Settings]] = {
    "gateway": GatewaySettings,
    "feedback": FeedbackSettings,
    "widgets": WidgetsSettings,
    "webhook_dispatcher": WebhookDispatcherSettings,
    "analytics": AnalyticsSettings,
    "dashboard": DashboardSettings,
    "migrate": MigrationSettings,
}

MEANING = {
    "env": "`development` accepts the built-in development secrets; `production` refuses"
           " missing, well-known and short (< 32 characters) secrets at start",
    "host": "listen address",
    "port": "listen port (gateway 8080, feedback 8081, widgets 8082, webhook_dispatcher 8083,"
            " analytics 8084, dashboard 8085)",
    "ops_port": "the gateway's operations listener (`/metrics`, `/readyz`, `/healthz`), kept"
                " off the public port",
    "log_level": "JSON logs with `request_id` and `tenant_id`",
    "database_url": "the service's DSN: its own role `resonanz_<service>` in production; a"
                    " superuser DSN in development (the service swaps in its role) and for"
                    " `migrate`",
    "db_role_password": "the service role's password, when not in the DSN",
    "db_pool_min": "database pool size, lower bound",
    "db_pool_max": "database pool size, upper bound (connections = replicas times this)",
    "kafka_bootstrap_servers": "Kafka brokers",
    "kafka_fetch_max_wait_ms": "how long a consumer's fetch that finds no records waits at"
                               " the broker. Consumers fetch when a relay's `NOTIFY"
                               " resonanz_published` names one of their topics (or after 1 s),"
                               " so such fetches are rare: a ring for a partition another"
                               " replica owns",
    "internal_token": "shared secret of service-to-service calls (`X-Internal-Token`)",
    "encryption_keys": "keys sealing secrets at rest (AES-256-GCM; required for the gateway,"
                       " feedback and the webhook dispatcher): 32 random bytes each in base64url,"
                       " comma-separated; the first encrypts, all decrypt (rotation)",
    "max_body_bytes": "request body cap",
    "shutdown_timeout": "seconds to drain requests and background work on SIGTERM",
    "topic_feedback": "topic of feedback, reward and payout events",
    "topic_widgets": "topic of widget events",
    "topic_identity": "topic of user and key events",
    "topic_webhooks": "topic of webhook-endpoint events",
    "topic_dead_letter": "where events that keep failing go after the retries",
    "consumer_max_retries": "attempts before an event is dead-lettered",
    "processed_events_retention_days": "how long consumers remember processed event ids"
                                       " (hourly pruning); keep it above the broker's"
                                       " retention",
    "consumer_group_prefix": "keeps the consumer groups of deployments sharing one Kafka apart",
    "outbox_poll_interval": "seconds between outbox polls when no NOTIFY arrives",
    "outbox_batch_size": "outbox rows published per round",
    "rate_limit_backend": "`memory` (one gateway) or `redis` (exact counts shared by replicas)",
    "redis_url": "Redis of the `redis` rate-limit backend",
    "rate_limit_fail_open": "while Redis is unreachable: `true` lets requests through,"
                            " `false` answers 503",
    "trusted_proxies": "reverse proxies (CIDRs, comma-separated: an ingress, a load"
                       " balancer) whose `X-Forwarded-For` (else `Forwarded`) names the"
                       " client, read from the right; empty: trust none, the connection's"
                       " peer is the client",
    "instance_id": "a name for this process, given by whatever starts it (`make run` and the"
                   " tests give each process its own): `/readyz` answers with it, so a probe"
                   " cannot take another process on the same port for this one",
    "api_key_pepper": "server-side pepper of API key digests; changing it invalidates every key",
    "feedback_url": "where the feedback service answers",
    "widgets_url": "where the widgets service answers",
    "webhook_dispatcher_url": "where the webhook dispatcher answers",
    "analytics_url": "where the analytics service answers",
    "gateway_url": "where the gateway answers (the dispatcher asks it for admins' addresses)",
    "upstream_timeout": "seconds the gateway waits for a service",
    "dashboard_url": "where the dashboard service answers (the gateway forwards `/app/` to it)",
    "session_idle_minutes": "a dashboard sign-in (browser session) ends after this long unused",
    "session_absolute_hours": "a dashboard sign-in ends this long after it began, used or not",
    "auth_failures_per_minute": "failed authentications one client address may make a minute"
                                " before it gets 429 (raise it where many clients share an"
                                " address the gateway cannot see behind)",
    "public_dashboard_url": "the dashboard as people reach it (through the gateway): the"
                            " base of the links in invitation and password-reset emails",
    "public_config_max_age": "browser cache of a widget's public config (≤ 15 s: a change is"
                             " live within 15 s)",
    "submission_max_bytes": "cap of one widget submission",
    "submissions_per_address_per_minute": "widget submissions per client address",
    "submissions_per_widget_per_minute": "widget submissions per widget",
    "configs_per_address_per_minute": "widget config fetches per client address",
    "configs_per_widget_per_minute": "widget config fetches per widget",
    "webhook_allow_private_networks": "CIDRs and hosts webhooks may reach although private"
                                      " (tests, on-premise receivers); empty: none",
    "webhook_timeout": "seconds a webhook receiver has to answer (≤ 15)",
    "webhook_lease_seconds": "claim on an attempt; outlives the request so no one retries early",
    "webhook_per_endpoint_concurrency": "deliveries in flight per endpoint",
    "webhook_max_in_flight": "deliveries in flight in all",
    "retention_interval": "seconds between runs of the job anonymising entries past their"
                          " organization's retention (it also runs at start)",
    "paypal_base_url": "PayPal's REST API (`https://api-m.paypal.com`; sandbox:"
                       " `https://api-m.sandbox.paypal.com`): with the client id and secret,"
                       " claimed PayPal payouts are paid through PayPal's Payouts API; unset:"
                       " the shop marks them paid by hand (README: Paying rewards through"
                       " PayPal)",
    "paypal_client_id": "client id of the shop's PayPal REST app (Payouts enabled)",
    "paypal_client_secret": "its secret",
    "paypal_poll_interval": "seconds before a sent PayPal payout's status is first asked for"
                            " and a failed send is retried (doubling up to an hour); later"
                            " polls come at a tenth of the payout's age, at most hourly",
    "webhook_log_retention_days": "days the delivery log (also what was recorded while an"
                                  " endpoint was disabled) and sent mail are kept",
    "webhook_per_tenant_concurrency": "deliveries in flight per tenant (its share of the"
                                      " total, so one tenant's dead endpoints cannot take"
                                      " every slot)",
    "webhook_silent_per_tenant": "of a tenant's share, deliveries in flight to its silent"
                                 " endpoints: new ones, or ones whose last attempt got no"
                                 " answer (timed out, unreachable), until they answer",
    "webhook_batch_size": "deliveries claimed per round",
    "webhook_poll_interval": "seconds between delivery polls when no NOTIFY arrives (what a"
                             " replica's consumer hands its own worker goes out at once;"
                             " other replicas find what it leaves within this)",
    "smtp_host": "SMTP server of outgoing mail (invitations, notices, payouts)",
    "smtp_port": "SMTP port",
    "smtp_from": "sender of outgoing mail",
    "smtp_username": "SMTP login",
    "smtp_password": "SMTP password",
    "smtp_starttls": "`true`/`false`; unset: STARTTLS when the server offers it",
    "smtp_use_tls": "implicit TLS (port 465)",
    "smtp_timeout": "seconds per SMTP conversation",
    "mail_poll_interval": "seconds between mail-queue polls when no NOTIFY arrives",
    "invitation_link_template": "link in invitation emails, `{token}` replaced; unset:"
                                " the dashboard's invitation page",
    "gateway_db_password": "password `migrate` sets on `resonanz_gateway`",
    "feedback_db_password": "password `migrate` sets on `resonanz_feedback`",
    "widgets_db_password": "password `migrate` sets on `resonanz_widgets`",
    "webhook_dispatcher_db_password": "password `migrate` sets on"
                                      " `resonanz_webhook_dispatcher`",
    "analytics_db_password": "password `migrate` sets on `resonanz_analytics`",
    "kafka_topic_partitions": "partitions of each topic `migrate` creates (set once; Kafka"
                              " never lowers it)",
    "kafka_replication_factor": "replication factor of the topics `migrate` creates (3 on a"
                                " real cluster)",
}


def rows() -> list[tuple[str, str, str, str]]:
    users: dict[str, list[str]] = {}
    fields: dict[str, FieldInfo] = {}
    for user, cls in CLASSES.items():
        for name, info in cls.model_fields.items():
            users.setdefault(name, []).append(user)
            fields.setdefault(name, info)
    out = []
    for name, info in fields.items():
        who = "all" if set(users[name]) == set(CLASSES) else ", ".join(users[name])
        out.append((f"`{ENV_PREFIX}{name.upper()}`", who, _default(name, info), MEANING[name]))
    return out


def _default(name: str, info: FieldInfo) -> str:
    if name == "port":
        return "per service"
    if isinstance(info.default, SecretStr):
        return "development value" if name != "database_url" else \
            "`postgresql://postgres@127.0.0.1:5432/resonanz`"
    if info.default is None or info.default == "":
        return "—"
    return f"`{info.default}`"


def table() -> str:
    lines = ["| variable | used by | default | meaning |", "|---|---|---|---|"]
    lines += [f"| {name} | {who} | {default} | {meaning} |"
              for name, who, default, meaning in rows()]
    return "\n".join(lines)


def readme_table(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def main() -> None:
    if "--write" in sys.argv:
        text = README.read_text(encoding="utf-8")
        head, rest = text.split(START, 1)
        README.write_text(f"{head}{START}\n{table()}\n{END}{rest.split(END, 1)[1]}",
                          encoding="utf-8")
    else:
        print(table())


if __name__ == "__main__":
    main()
