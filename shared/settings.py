"""Settings shared by every service: read once from `RESONANZ_*` variables, validated at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from .clientaddr import TrustedProxies
from .crypto import DEVELOPMENT_KEY, KeyRing

ENV_PREFIX = "RESONANZ_"

SERVICE_PORTS = {
    "gateway": 8080,
    "feedback": 8081,
    "widgets": 8082,
    "webhook_dispatcher": 8083,
    "analytics": 8084,
    "dashboard": 8085,
}

# Each service owns exactly one schema, reached through its own role.
SERVICE_SCHEMAS = {
    "gateway": "gateway",
    "feedback": "feedback",
    "widgets": "widgets",
    "webhook_dispatcher": "webhooks",
    "analytics": "analytics",
}


# Development values of secrets, and those older compose files defaulted to: never valid
# outside development.
WELL_KNOWN_SECRETS = frozenset({
    "dev-internal-token-change-me", "dev-pepper-change-me", "resonanz-dev-internal-token",
    "resonanz-dev-api-key-pepper", "resonanz-dev-role-password", "change-me", "changeme",
    "secret", "password", "postgres", DEVELOPMENT_KEY,
})
MIN_SECRET_LENGTH = 32


class SecretFilesSource(PydanticBaseSettingsSource):
    """`RESONANZ_X_FILE=/run/secrets/x` sets X to that file's content, as Docker and
    Kubernetes secrets are mounted. A variable set directly wins over its file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            variable = f"{ENV_PREFIX}{name.upper()}_FILE"
            path = os.environ.get(variable)
            if not path or f"{ENV_PREFIX}{name.upper()}" in os.environ:
                continue
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from None
        return values


class Settings(BaseSettings):
    """What every service needs. A service subclasses it for its own knobs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # Secrets that must be set to a strong value outside development (checked at start).
    required_secrets: ClassVar[tuple[str, ...]] = ("internal_token",)

    # `development` accepts the built-in development secrets; anything else refuses them.
    env: Literal["production", "development"] = "production"
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    # The service's DSN. Production: the service's own role (resonanz_<service>), with its
    # password here or in db_role_password. Development: a superuser DSN, whose user the
    # service swaps for its role; `python -m resonanz.shared.migrate` needs a superuser.
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/resonanz")
    db_role_password: SecretStr | None = None
    db_pool_min: int = 2
    db_pool_max: int = 10
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # How long a consumer's fetch may wait at the broker for new records (see consumer.py).
    kafka_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5000)
    internal_token: SecretStr = SecretStr("dev-internal-token-change-me")
    # Keys sealing secrets at rest (webhook secrets, replayed one-time values): see crypto.
    encryption_keys: SecretStr | None = None
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
    # Reverse proxies (CIDRs, comma-separated) whose X-Forwarded-For/Forwarded names the
    # client: behind an ingress every shopper would otherwise share its address and its
    # per-address limits. Empty: trust none, the peer is the client (see clientaddr).
    trusted_proxies: TrustedProxies = ""
    # Who started this process may name it: /readyz then answers with the name, so a
    # readiness probe cannot take another process that holds the port for this one.
    instance_id: str = Field(default="", max_length=64)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings)

    def service_dsn(self, service: str) -> str:
        """The service's own DSN: same server, its own least-privilege role."""
        dsn = self.database_url.get_secret_value()
        role = service_role(service)
        password = self.db_role_password.get_secret_value() if self.db_role_password else None
        if urlsplit(dsn).username == role:
            password = password or urlsplit(dsn).password
        return with_user(dsn, role, password)

    def weak_secrets(self) -> list[str]:
        """What keeps this configuration from running outside development: one line per
        secret that is missing, a well-known development value, or too short."""
        if self.env == "development":
            return []
        problems = []
        for name in self.required_secrets:
            value: SecretStr | None = getattr(self, name)
            secret = value.get_secret_value() if value is not None else ""
            variable = f"{ENV_PREFIX}{name.upper()}"
            if not secret:
                problems.append(f"{variable} is not set")
            elif secret in WELL_KNOWN_SECRETS:
                problems.append(f"{variable} is a well-known development value")
            elif len(secret) < MIN_SECRET_LENGTH:
                problems.append(f"{variable} is shorter than {MIN_SECRET_LENGTH} characters")
        if "encryption_keys" in self.required_secrets and self.encryption_keys is not None:
            try:
                KeyRing.from_setting(self.encryption_keys.get_secret_value())
            except ValueError as exc:
                problems.append(f"{ENV_PREFIX}ENCRYPTION_KEYS: {exc}")
        return problems

    def key_ring(self) -> KeyRing:
        """The keys sealing secrets at rest; a fixed one in development when none is set."""
        if self.encryption_keys is None:
            if self.env != "development":
                raise ValueError(f"{ENV_PREFIX}ENCRYPTION_KEYS is not set")
            return KeyRing.from_setting(DEVELOPMENT_KEY)
        return KeyRing.from_setting(self.encryption_keys.get_secret_value())

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

