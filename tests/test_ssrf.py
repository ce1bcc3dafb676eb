"""SSRF guard: webhooks reach only public unicast addresses, checked on the address
actually dialled; redirects are never followed. Real sockets against local receivers."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from resonanz.webhook_dispatcher.delivery import guarded_session, post_webhook
from resonanz.webhook_dispatcher.destinations import destination_problem
from resonanz.webhook_dispatcher.domain import (
    NetworkPolicy,
    Outcome,
    blocked_reason,
    generate_secret,
    url_problem,
)
from resonanz.webhook_dispatcher.store.deliveries import Claim

from .test_webhooks_support import Receiver, receiving

CLOSED = NetworkPolicy()
LOOPBACK_ALLOWED = NetworkPolicy.from_setting("127.0.0.0/8")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
    "198.18.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::808:808", "64:ff9b:1::1", "2002:7f00:1::1", "2002:a00:1::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "fec0::1",
])
def test_non_public_addresses_are_refused(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8",
    "2002:808:808::1",
])
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


def test_nat64_is_refused_whatever_it_embeds() -> None:
    assert blocked_reason(ipaddress.ip_address("64:ff9b::808:808")) == "nat64"


def test_the_allow_list_opens_only_what_it_names() -> None:
    policy = NetworkPolicy.from_setting("127.0.0.0/8, receivers.internal")
    assert policy.refusal("x", ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal("x", ipaddress.ip_address("10.0.0.1")) == "private"
    assert policy.refusal("receivers.internal", ipaddress.ip_address("10.0.0.1")) is None


def test_the_allow_list_is_off_by_default() -> None:
    assert not NetworkPolicy.from_setting("").is_open


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://example.com/hook", "http or https"),
    ("file:///etc/passwd", "http or https"),
    ("gopher://127.0.0.1:70/", "http or https"),
    ("http:///hook", "name a host"),
    ("http://127.0.0.1/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "forbidden"),
    ("http://169.254.169.254/latest/meta-data", "link_local"),
    ("http://example.com:99999/", "valid URL"),
])
def test_subscription_urls_are_checked_before_any_dns(url: str, problem: str) -> None:
    found = url_problem(url, CLOSED)
    assert found is not None and problem in found


@pytest.mark.parametrize("host", [
    "127\u30020\u30020\u30021", "127\uff0e0\uff0e0\uff0e1", "127.0.0.\U0001fbf1",
    "169.254.169.25\U0001fbf4", "10.0.0.\U0001fbf1",
])
async def test_a_host_the_client_reads_as_an_ip_address_is_judged_as_that_address(
    host: str,
) -> None:
    """The check judges the host the client dials: yarl maps these to 127.0.0.1,
    169.254.169.254 and 10.0.0.1, and aiohttp connects to an IP literal without a resolver.
    The segmented digits are newer than the IDNA codec's Unicode, so the system resolver
    does not find them, and no DNS answer could refuse them either."""
    url = f"http://{host}/hook"
    for problem in (url_problem(url, CLOSED), await destination_problem(url, CLOSED)):
        assert problem is not None and "forbidden address" in problem, problem


def test_public_https_urls_pass() -> None:
    assert url_problem("https://api.yourapp.com/p4f-webhook", CLOSED) is None


# --- real dialling -------------------------------------------------------------------------


def claim_for(url: str) -> Claim:
    return Claim(id="msg_test", subscription_id="00000000-0000-0000-0000-000000000001",
                 tenant_id="00000000-0000-0000-0000-000000000002",
                 event_id="00000000-0000-0000-0000-000000000003", webhook_type="x",
                 body=b'{"type":"x"}', event_time=datetime.now(UTC), attempts=0, url=url,
                 secret=generate_secret(), previous=())


class FixedDns(AbstractResolver):
    """A DNS that answers every name with one address: what a rebinding attacker serves."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=self.address, port=port,
                              family=socket.AF_INET, proto=0, flags=0)]

    async def close(self) -> None:
        return None


@pytest.fixture
async def target() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with receiving(receiver):
        yield receiver


async def attempt(policy: NetworkPolicy, url: str, dns: AbstractResolver | None = None
                  ) -> tuple[Outcome, int | None, str | None]:
    async with guarded_session(policy, 3.0, dns) as session:
        result = await post_webhook(session, policy, claim_for(url), datetime.now(UTC))
    return result.outcome, result.status_code, result.error


@pytest.mark.parametrize("host", [
    "127.0.0.1", "10.0.0.1", "169.254.169.254", "[::1]", "[::ffff:127.0.0.1]",
    "[64:ff9b::7f00:1]", "localhost", "[::127.0.0.1]", "[2002:7f00:1::1]",
    # Hosts the client maps through IDNA (UTS 46) to an IP literal, which it then dials
    # without a resolver: ideographic full stops, a segmented digit (Unicode 13).
    "127\u30020\u30020\u30021", "127.0.0.\U0001fbf1",
])
async def test_with_the_allow_list_off_loopback_and_private_targets_are_refused(
    target: Receiver, host: str,
) -> None:
    outcome, status, error = await attempt(CLOSED, f"http://{host}:{target.port}/hook")
    assert outcome is Outcome.BLOCKED, (outcome, status, error)
    assert target.received == []


async def test_a_name_rebound_to_loopback_is_refused_at_dial_time(target: Receiver) -> None:
    url = f"http://hooks.example.com:{target.port}/hook"
    outcome, _, error = await attempt(CLOSED, url, FixedDns("127.0.0.1"))
    assert outcome is Outcome.BLOCKED
    assert error is not None and "loopback" in error
    assert target.received == []


async def test_the_resolved_address_is_the_one_dialled(target: Receiver) -> None:
    url = f"http://hooks.example.com:{target.port}/hook"
    outcome, status, _ = await attempt(LOOPBACK_ALLOWED, url, FixedDns("127.0.0.1"))
    assert (outcome, status) == (Outcome.SUCCESS, 200)
    assert len(target.received) == 1


async def test_a_redirect_to_loopback_is_not_followed(target: Receiver) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(target.url)

    # Only the redirecting receiver's own address is allowed; it points at loopback.
    redirector = Receiver(redirect, host="127.0.0.2")
    async with receiving(redirector):
        policy = NetworkPolicy.from_setting("127.0.0.2/32")
        outcome, status, _ = await attempt(policy, redirector.url)
    assert (outcome, status) == (Outcome.REDIRECT, 302)
    assert len(redirector.received) == 1
    assert target.received == []


async def test_the_allow_list_lets_tests_reach_local_receivers(target: Receiver) -> None:
    outcome, status, _ = await attempt(LOOPBACK_ALLOWED, target.url)
    assert (outcome, status) == (Outcome.SUCCESS, 200)
