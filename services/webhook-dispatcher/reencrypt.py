"""`python -m resonanz.webhook_dispatcher reencrypt`: rewrite every webhook signing secret
under the first key of `RESONANZ_ENCRYPTION_KEYS`, the middle step of a key rotation
(docs/operations-secrets.md)."""

from __future__ import annotations

import argparse

from resonanz.shared.cli import add_reencrypt
from resonanz.shared.db import create_pool

from .app import SERVICE, WebhookDispatcherSettings
from .commands import Resealed, reseal_all
from .sealing import SecretBox


def register(commands: argparse._SubParsersAction, settings: WebhookDispatcherSettings
             ) -> None:
    add_reencrypt(commands, "every webhook signing secret", lambda: reencrypt(settings))


async def reencrypt(settings: WebhookDispatcherSettings) -> Resealed:
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    try:
        return await reseal_all(pool, SecretBox(settings.key_ring()))
    finally:
        await pool.close()
