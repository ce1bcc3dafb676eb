"""Settings shared by every service: read once from `RESONANZ_*` variables, validated at start."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS = {
    "gateway": 8080,
    "feedback": 8081,
    "widgets": 8082,
    "webhook_dispatcher": 8083,
    "analytics": 8084,
}

# Each service owns exactly one schema, reached through its own role.
SERVICE_SCHEMAS = {
    "gateway": "gateway",
    "feedback": "feedback",
    "widgets": "widgets",
    "webhook_dispatcher": "webhooks",
    "analytics": "analytics",
}


class Settings(BaseSettings):
    """What every service needs. A service subclasses it for its own knobs."""

    model_config = SettingsConfigDict(env_prefix="RESONANZ_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    # Superuser DSN: used by `migrate` and, with the user swapped for the service role, by the pool.
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/resonanz")
    db_role_password: SecretStr | None = None
    db_pool_min: int = 2
    db_pool_max: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    internal_token: SecretStr = SecretStr("dev-internal-token-change-me")
    max_body_bytes: int = 256 * 1024
    shutdown_timeout: float = 10.0
    topic_feedback: str = "feedback.events"
    topic_widgets: str = "widgets.events"
    topic_identity: str = "identity.events"
    topic_webhooks: str = "webhooks.events"
    topic_dead_letter: str = "resonanz.dead-letter"
    consumer_max_retries: int = Field(default=5, ge=0)
    # Must outlast the broker's retention: a group whose offsets expired re-reads the
    # topic from the start, and only tracking rows keep those events from being applied
    # again (Kafka keeps 7 days by default).
    processed_events_retention_days: float = Field(default=14.0, gt=0)
    # Deployments sharing one Kafka cluster keep their consumer groups apart with this.
    consumer_group_prefix: str = ""
    outbox_poll_interval: float = 1.0
    outbox_batch_size: int = 500
    # Rate-limit counts: `memory` (one process) or `redis` (shared by replicas).
    rate_limit_backend: str = Field(default="memory", pattern="^(memory|redis)$")
    redis_url: str = "redis://127.0.0.1:6379/0"
    rate_limit_fail_open: bool = False

    def service_dsn(self, service: str) -> str:
        """The service's own DSN: same server, its own least-privilege role."""
        return with_user(
            self.database_url.get_secret_value(),
            service_role(service),
            self.db_role_password.get_secret_value() if self.db_role_password else None,
        )

    def safe_summary(self) -> dict[str, object]:
        """Settings fit for a log line: secrets masked, DSN password hidden."""
        values = self.model_dump()
        values["database_url"] = mask_dsn(self.database_url.get_secret_value())
        return {key: ("***" if isinstance(v, SecretStr) else v) for key, v in values.items()}


def service_role(service: str) -> str:
    return f"resonanz_{service}"


def with_user(dsn: str, user: str, password: str | None) -> str:
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    auth = f"{user}:{password}" if password else user
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))


def mask_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if not parts.password:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

