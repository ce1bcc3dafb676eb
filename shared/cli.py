"""`python -m resonanz.<service> [serve|migrate]`: the same entry point for every service."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from .db import ensure_database, migrate
from .logs import configure_logging
from .settings import Settings
from .web import serve


def main(
    service: str,
    settings_factory: Callable[[], Settings],
    app_factory: Callable[[Settings], web.Application],
    argv: list[str] | None = None,
    extra: Callable[[argparse._SubParsersAction, Settings], None] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m resonanz.{service}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (default)")
    commands.add_parser("migrate", help="create the role and schema, apply migrations")
    settings = settings_factory()
    if extra is not None:
        extra(commands, settings)
    args = parser.parse_args(argv)
    if args.command == "migrate":
        configure_logging(service, settings.log_level)
        asyncio.run(run_migrations(service, settings))
    elif args.command in (None, "serve"):
        serve(service, settings, lambda: app_factory(settings))
    else:
        args.handler(args)


async def run_migrations(service: str, settings: Settings) -> None:
    admin = settings.database_url.get_secret_value()
    await ensure_database(admin)
    password = settings.db_role_password.get_secret_value() if settings.db_role_password else None
    applied = await migrate(admin, service, password)
    logging.getLogger(__name__).info("%s: %d migrations applied", service, len(applied))
