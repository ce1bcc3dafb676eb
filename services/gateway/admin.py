"""`python -m resonanz.gateway admin …`: what an operator needs before the first API call."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from resonanz.shared.db import create_pool
from resonanz.shared.errors import DomainError
from resonanz.shared.params import path_uuid

from . import commands, identity, store
from .app import GatewaySettings
from .limits import DEFAULT_LIMITS

SERVICE = "gateway"
MAX_LIMIT = 2**31 - 1  # what set-rate-limit stores (a PostgreSQL integer)


def register(commands: argparse._SubParsersAction, settings: GatewaySettings) -> None:
    admin = commands.add_parser("admin", help="operator commands").add_subparsers(
        dest="admin_command", required=True)
    tenant = admin.add_parser("create-tenant", help="create a tenant, its owner and an admin key")
    tenant.add_argument("--name", required=True)
    tenant.add_argument("--owner-email", required=True)
    tenant.add_argument("--rate-limit", type=_rate_limit, action="append", default=[],
                        metavar="NAME=PER_MINUTE",
                        help="a limit other than the default (repeatable): "
                        + ", ".join(sorted(DEFAULT_LIMITS)))
    key = admin.add_parser("create-key", help="issue an API key (shown once)")
    key.add_argument("--tenant", required=True)
    key.add_argument("--role", choices=["admin", "editor", "viewer"], default="editor")
    key.add_argument("--name", default="")
    listing = admin.add_parser("list-keys", help="list a tenant's keys (prefixes only)")
    listing.add_argument("--tenant", required=True)
    revoke = admin.add_parser("revoke-key", help="revoke a key; no gateway accepts it once"
                              " this returns")
    revoke.add_argument("--id", required=True)
    rotate = admin.add_parser("rotate-key", help="issue a successor; the old key lives 24 h")
    rotate.add_argument("--id", required=True)
    role = admin.add_parser("set-key-role", help="change what a key may do; every gateway"
                            " applies it before this returns")
    role.add_argument("--id", required=True)
    role.add_argument("--role", required=True, choices=["admin", "editor", "viewer"])
    admin.add_parser("list-tenants", help="list tenants")
    limit = admin.add_parser("set-rate-limit", help="override a tenant's requests per minute")
    limit.add_argument("--tenant", required=True)
    limit.add_argument("--name", required=True, choices=sorted(DEFAULT_LIMITS))
    limit.add_argument("--limit", type=int, help="requests per minute; omit for the default")
    limit.set_defaults(handler=lambda args: run(args, settings))
    password = admin.add_parser("set-password", help="set a member's sign-in password (read"
                                " from stdin, or --generate one); their sessions end")
    password.add_argument("--email", required=True)
    password.add_argument("--tenant", help="when the email is a member of several tenants")
    password.add_argument("--generate", action="store_true",
                          help="generate a password and print it once")
    for parser in (tenant, key, listing, revoke, rotate, role, password):
        parser.set_defaults(handler=lambda args: run(args, settings))
    admin.choices["list-tenants"].set_defaults(handler=lambda args: run(args, settings))


def _rate_limit(value: str) -> tuple[str, int]:
    """`feedbackpro.reads=600`: a limit's name and its requests per minute."""
    name, _, limit = value.partition("=")
    if name not in DEFAULT_LIMITS:
        raise argparse.ArgumentTypeError(
            f"{name!r} is no limit; one of {', '.join(sorted(DEFAULT_LIMITS))}")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(
            f"{name}: requests per minute, a whole number from 1 to {MAX_LIMIT}")
    return name, int(limit)


def run(args: argparse.Namespace, settings: GatewaySettings) -> None:
    result = asyncio.run(dispatch(args, settings))
    print(json.dumps(result, indent=2, default=str))


async def dispatch(args: argparse.Namespace, settings: GatewaySettings) -> Any:
    """One parsed `admin` command against the database; what `run` prints."""
    pepper = settings.api_key_pepper.get_secret_value().encode()
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    topic = settings.topic_identity
    actions: dict[str, Callable[[], Awaitable[Any]]] = {
        "create-tenant": lambda: commands.create_tenant(pool, pepper, topic, args.name,
                                                        args.owner_email,
                                                        dict(args.rate_limit)),
        "create-key": lambda: commands.issue_key(pool, pepper, topic, args.tenant, args.role,
                                                 args.name),
        "list-keys": lambda: store.list_keys(pool, args.tenant),
        "revoke-key": lambda: commands.revoke_key(pool, topic, args.id),
        "rotate-key": lambda: commands.rotate_key_by_operator(pool, pepper, topic, args.id),
        "set-key-role": lambda: commands.set_key_role(pool, args.id, args.role),
        "list-tenants": lambda: store.list_tenants(pool),
        "set-rate-limit": lambda: commands.set_rate_limit(pool, args.tenant, args.name,
                                                          args.limit),
        "set-password": lambda: set_password(pool, args),
    }
    try:
        return await actions[args.admin_command]()
    finally:
        await pool.close()


async def set_password(pool: asyncpg.Pool, args: argparse.Namespace) -> dict[str, Any]:
    """The password comes from stdin (one line), never from the command line, which
    other users of the machine can read; with --generate it is printed once."""
    password = secrets.token_urlsafe(15) if args.generate else sys.stdin.readline().rstrip("\n")
    try:
        tenant = path_uuid(args.tenant, "tenant") if args.tenant else None
        member = await identity.set_password_by_operator(pool, args.email, tenant, password)
    except DomainError as exc:
        raise SystemExit(f"set-password: {exc.message}") from None
    return {"member": member, **({"password": password} if args.generate else {})}
