"""`python -m resonanz.<service> [serve|…]`: the same entry point for every service."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from aiohttp import web
from pydantic import ValidationError
from pydantic_settings import SettingsError

from .settings import ENV_PREFIX, Settings
from .web import serve

S = TypeVar("S", bound=Settings)


def main(
    service: str,
    settings_factory: Callable[[], S],
    app_factory: Callable[[S], web.Application],
    argv: list[str] | None = None,
    extra: Callable[[argparse._SubParsersAction, S], None] | None = None,
) -> None:
    command = (sys.argv[1:] if argv is None else argv)[:1]
    if command and command[0] not in ("serve", "-h", "--help"):
        adopt_local_platform()
    parser = argparse.ArgumentParser(prog=f"python -m resonanz.{service}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the service (default)")
    settings = load_settings(settings_factory)
    if extra is not None:
        extra(commands, settings)
    args = parser.parse_args(argv)
    refuse_weak_secrets(settings)
    if args.command in (None, "serve"):
        serve(service, settings, lambda: app_factory(settings))
    else:
        args.handler(args)


LOCAL_PLATFORM_ENV = Path(".run") / "env"


def adopt_local_platform() -> None:
    """Run in a checkout where `make run` is up, an operator command reaches that platform
    (its database, secrets and services) unless the environment says otherwise."""
    if not LOCAL_PLATFORM_ENV.is_file():
        return
    for line in LOCAL_PLATFORM_ENV.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            os.environ.setdefault(name, "".join(shlex.split(value)))
    print(f"resonanz: using the platform of `make run` ({LOCAL_PLATFORM_ENV})", file=sys.stderr)


def load_settings(factory: Callable[[], S]) -> S:
    """The settings, or a clear message naming the variable instead of a traceback."""
    try:
        return factory()
    except ValidationError as exc:
        lines = [f"{ENV_PREFIX}{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                 for e in exc.errors()]
        fail("invalid configuration", lines)
    except SettingsError as exc:
        fail("invalid configuration", [str(exc)])


def refuse_weak_secrets(settings: Settings) -> None:
    problems = settings.weak_secrets()
    if problems:
        fail("refusing to start with weak secrets", [
            *problems,
            "set each to a random value, e.g. python3 -c 'import secrets;"
            " print(secrets.token_urlsafe(32))' (or give it as a file with the _FILE suffix);"
            f" for a local development setup set {ENV_PREFIX}ENV=development",
        ])


def fail(what: str, lines: list[str]) -> NoReturn:
    print(f"resonanz: {what}:", *(f"  - {line}" for line in lines), sep="\n", file=sys.stderr)
    raise SystemExit(2)


class Resealing(Protocol):
    """What a `reencrypt` command reports (a dataclass): the values no key of the ring
    opens, among its counts."""

    undecryptable: list[str]


def add_reencrypt(commands: argparse._SubParsersAction, what: str,
                  reencrypt: Callable[[], Coroutine[Any, Any, Resealing]]) -> None:
    """`reencrypt`: rewrite `what` under the first key of RESONANZ_ENCRYPTION_KEYS; prints
    the report as JSON, exit 1 when a value opens under no key."""
    parser = commands.add_parser(
        "reencrypt", help=f"rewrite {what} under the first key of RESONANZ_ENCRYPTION_KEYS")
    parser.set_defaults(handler=lambda args: _report(asyncio.run(reencrypt())))


def _report(report: Any) -> None:
    print(json.dumps(dataclasses.asdict(report)))
    if report.undecryptable:
        # Those values are still sealed under a key the ring lacks: keep the old keys.
        raise SystemExit(1)
