"""Shared steps for end-to-end tests against a running stack."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from unittest import mock

import aiohttp

from resonanz.devstack.supervisor import Stack
from resonanz.gateway import admin as gateway_admin
from resonanz.gateway.app import GatewaySettings

from .documented import check_documented


async def admin(stack: Stack, *args: str) -> Any:
    """The gateway's operator CLI against the stack's database, in this process: its own
    parser and commands with the settings the stack gives its services, without starting
    Python for each call (two seconds on a slow machine, for each of the suite's tenants).
    The CLI as a process is what test_readme (its operator lines) and test_gateway_edge run."""
    # The settings as the CLI's own process reads them: from the stack's environment alone.
    with mock.patch.dict(os.environ, stack.env(), clear=True):
        settings = GatewaySettings()
    parser = argparse.ArgumentParser(prog="python -m resonanz.gateway")
    gateway_admin.register(parser.add_subparsers(dest="command"), settings)
    found = await gateway_admin.dispatch(parser.parse_args(["admin", *args]), settings)
    return json.loads(json.dumps(found, default=str))  # as the CLI prints it


GENEROUS = 100_000


async def new_tenant(stack: Stack, name: str = "Shop", *, limited: bool = False
                     ) -> tuple[str, str]:
    """A tenant and its owner's admin key. Unless `limited`, the reference rate limits
    are lifted so tests that poll are not throttled; limit tests ask for them."""
    generous = [] if limited else [
        f"--rate-limit={quota}={GENEROUS}" for quota in (
            "feedbackpro.reads", "feedbackpro.writes", "feedbackpro.users", "pay4feedback.api")]
    out = await admin(stack, "create-tenant", "--name", name, "--owner-email",
                      f"owner@{name.lower().replace(' ', '-')}.example", *generous)
    return out["tenant"]["id"], out["api_key"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def metric_value(session: aiohttp.ClientSession, url: str, name: str,
                       **labels: str) -> float:
    """Sum of a Prometheus sample over the series matching `labels`."""
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Api:
    """A client of the public API with one key, as an integrator would hold it."""

    def __init__(self, http: aiohttp.ClientSession, stack: Stack, key: str | None) -> None:
        self.http, self.base, self.key = http, stack.services["gateway"].url, key

    async def call(self, method: str, path: str, json: Any = None, *,
                   headers: dict[str, str] | None = None, data: bytes | None = None
                   ) -> tuple[int, Any, Any]:
        sent = {**(bearer(self.key) if self.key else {}), **(headers or {})}
        async with self.http.request(method, self.base + path, json=json, data=data,
                                     headers=sent) as response:
            body = await response.json(content_type=None)
            check_documented(method, path, response.status, body)
            return response.status, body, response.headers

    async def ok(self, method: str, path: str, json: Any = None, **kw: Any) -> Any:
        status, body, _ = await self.call(method, path, json, **kw)
        assert status < 300, (status, body)
        return body

    async def data(self, method: str, path: str, json: Any = None, status: int | None = None,
                   **kw: Any) -> Any:
        """The answer's `data`, of a success (exactly `status` when given)."""
        got, body, _ = await self.call(method, path, json, **kw)
        assert (got == status) if status else got < 300, (got, body)
        return body["data"]
