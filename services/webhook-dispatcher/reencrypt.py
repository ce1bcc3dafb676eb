"""`python -m resonanz.webhook_dispatcher reencrypt`: rewrite every webhook signing secret
under the first key of `RESONANZ_ENCRYPTION_KEYS`, the middle step of a key rotation
(docs/operations-secrets.md)."""

from __future__ import annotations

import argparse
import asyncio
import json

from resonanz.shared.db import create_pool

from .app import SERVICE, WebhookDispatcherSettings
from .commands import Resealed, reseal_all
from .sealing import SecretBox


def register(commands: argparse._SubParsersAction, settings: WebhookDispatcherSettings
             ) -> None:
    parser = commands.add_parser(
        "reencrypt", help="rewrite every webhook signing secret under the first key of"
                          " RESONANZ_ENCRYPTION_KEYS")
    parser.set_defaults(handler=lambda args: run(settings))


def run(settings: WebhookDispatcherSettings) -> None:
    report = asyncio.run(reencrypt(settings))
    print(json.dumps(report.__dict__))
    if report.undecryptable:
        # Those secrets are still sealed under a key the ring lacks: keep the old keys.
        raise SystemExit(1)


async def reencrypt(settings: WebhookDispatcherSettings) -> Resealed:
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    try:
        return await reseal_all(pool, SecretBox(settings.key_ring()))
    finally:
        await pool.close()
