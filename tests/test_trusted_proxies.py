"""Behind a reverse proxy we trust (RESONANZ_TRUSTED_PROXIES), every shopper keeps an
address of their own and so their own per-address limits; from anyone else, a forged
X-Forwarded-For (or X-Client-Ip) changes nothing.

The proxy is a tiny aiohttp reverse proxy in the test: shoppers reach it from 127.0.0.3
and 127.0.0.4, it reaches the gateway from 127.0.0.2 and appends the address it saw to
X-Forwarded-For, as nginx and the ingress controllers do."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from resonanz.devstack.supervisor import Stack

from .conftest import Infra, running_stack
from .helpers import new_tenant
from .support import serving
from .test_widgets_support import create_active_widget, gateway

PROXY_ADDRESS = "127.0.0.2"
SHOPPER_A, SHOPPER_B, STRANGER = "127.0.0.3", "127.0.0.4", "127.0.0.5"
HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "content-length"}
SUBMISSIONS_PER_ADDRESS = 10  # the widgets service's default
AUTH_FAILURES_PER_ADDRESS = 30  # the gateway's


@pytest.fixture(scope="module")
async def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    env = {"RESONANZ_TRUSTED_PROXIES": f"{PROXY_ADDRESS}/32, 10.0.0.0/8"}
    async with running_stack(infra, Path(tmp_path_factory.mktemp("proxies")), env) as running:
        yield running


@contextlib.asynccontextmanager
async def reverse_proxy(upstream: str) -> AsyncIterator[str]:
    """Forwards everything to `upstream` from PROXY_ADDRESS, appending X-Forwarded-For."""
    connector = aiohttp.TCPConnector(local_addr=(PROXY_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as client:

        async def forward(request: web.Request) -> web.Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            chain = request.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{chain}, {request.remote}" if chain else str(
                request.remote)
            async with client.request(request.method, upstream + request.path_qs,
                                      headers=headers, data=await request.read()) as answer:
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=await answer.read(),
                                    headers=kept)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", forward)
        async with serving(app) as url:
            yield url


@contextlib.asynccontextmanager
async def client_at(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from `address` (any 127.x is loopback)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def statuses(session: aiohttp.ClientSession, times: int, method: str, url: str,
                   forged: bool = False, headers: dict[str, str] | None = None,
                   **kwargs: Any) -> list[int]:
    """Status of each of `times` identical requests; `forged` claims another address each
    time, in every header a client might try."""
    found = []
    for n in range(times):
        claims = {"X-Forwarded-For": f"198.51.100.{n}", "X-Client-Ip": f"198.51.100.{n}",
                  "Forwarded": f"for=198.51.100.{n}"} if forged else {}
        async with session.request(method, url, headers={**(headers or {}), **claims},
                                   **kwargs) as response:
            found.append(response.status)
    return found


async def test_shoppers_behind_a_trusted_proxy_have_limits_of_their_own(stack: Stack) -> None:
    _, key = await new_tenant(stack)
    async with aiohttp.ClientSession() as owner:
        widget = await create_active_widget(owner, stack, key)
    path = f"/public/widgets/{widget['public_id']}/submissions"
    five_stars = {"answers": {"stars": 5}}

    async with reverse_proxy(gateway(stack)) as proxy, client_at(SHOPPER_A) as a, \
            client_at(SHOPPER_B) as b:
        # Shopper A even tries a new address each time: the proxy appends the real one.
        first = await statuses(a, SUBMISSIONS_PER_ADDRESS + 1, "POST", proxy + path,
                               forged=True, json=five_stars)
        assert first == [201] * SUBMISSIONS_PER_ADDRESS + [429]
        assert await statuses(b, 1, "POST", proxy + path, json=five_stars) == [201]


async def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(
    stack: Stack,
) -> None:
    _, key = await new_tenant(stack)
    async with aiohttp.ClientSession() as owner:
        widget = await create_active_widget(owner, stack, key)
    url = gateway(stack) + f"/public/widgets/{widget['public_id']}/submissions"
    async with client_at(STRANGER) as stranger:
        found = await statuses(stranger, SUBMISSIONS_PER_ADDRESS + 1, "POST", url, forged=True,
                               json={"answers": {"stars": 5}})
    assert found == [201] * SUBMISSIONS_PER_ADDRESS + [429]


async def test_failed_authentication_is_counted_per_shopper_behind_the_proxy(
    stack: Stack,
) -> None:
    wrong = {"Authorization": "Bearer rsz_live_not-a-key"}
    async with reverse_proxy(gateway(stack)) as proxy, client_at(SHOPPER_A) as a, \
            client_at(SHOPPER_B) as b:
        first = await statuses(a, AUTH_FAILURES_PER_ADDRESS + 1, "GET", proxy + "/v1/me",
                               forged=True, headers=wrong)
        assert first == [401] * AUTH_FAILURES_PER_ADDRESS + [429]
        assert await statuses(b, 1, "GET", proxy + "/v1/me", headers=wrong) == [401]
