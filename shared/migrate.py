"""`python -m resonanz.shared.migrate`: every service's role, schema and migrations, and the
Kafka topics, in one run before the services start (compose's `migrate` service, the
Kubernetes migration Job, `make run`, the tests).

It is the only program that needs a superuser DSN; each service then connects with its
own role, whose password this run sets from `RESONANZ_<SERVICE>_DB_PASSWORD`.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import Field, SecretStr

from .cli import fail, load_settings
from .db import ensure_database, migrate
from .kafka import all_topics, ensure_topics
from .logs import configure_logging
from .settings import ENV_PREFIX, SERVICE_SCHEMAS, Settings, mask_dsn

log = logging.getLogger(__name__)


class MigrationSettings(Settings):
    gateway_db_password: SecretStr | None = None
    feedback_db_password: SecretStr | None = None
    widgets_db_password: SecretStr | None = None
    webhook_dispatcher_db_password: SecretStr | None = None
    analytics_db_password: SecretStr | None = None
    # Set once, before the first start: Kafka never lowers a topic's partition count, and
    # consumers beyond it stand idle.
    kafka_topic_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)

    def role_password(self, service: str) -> str | None:
        secret: SecretStr | None = getattr(self, f"{service}_db_password")
        return secret.get_secret_value() if secret else None

    def missing_role_passwords(self) -> list[str]:
        if self.env == "development":
            return []
        return [f"{ENV_PREFIX}{service.upper()}_DB_PASSWORD is not set"
                for service in SERVICE_SCHEMAS if not self.role_password(service)]


async def migrate_all(settings: MigrationSettings) -> None:
    admin = settings.database_url.get_secret_value()
    log.info("migrating %s", mask_dsn(admin))
    await ensure_database(admin)
    for service in SERVICE_SCHEMAS:
        applied = await migrate(admin, service, settings.role_password(service))
        log.info("%s: %d migrations applied", service, len(applied))
    await ensure_topics(settings.kafka_bootstrap_servers, all_topics(settings),
                        settings.kafka_topic_partitions, settings.kafka_replication_factor)


def main() -> None:
    settings = load_settings(MigrationSettings)
    missing = settings.missing_role_passwords()
    if missing:
        fail("refusing to create roles without passwords", missing)
    configure_logging("migrate", settings.log_level)
    asyncio.run(migrate_all(settings))


if __name__ == "__main__":
    main()
