"""A subscription URL checked when it is set: its form (domain.url_problem) and, for a
host name, every address the name resolves to now, under the same policy and the same
rule as at dial time (one forbidden address taints the name).

The check at dial time (delivery.GuardedResolver) stays the real guard: a name can be
rebound to another address after this check. This one only refuses early, with a clear
400, what would be refused at every attempt anyway.

A name that does not resolve (no such name, no answer in time, DNS away) is accepted:
receivers often set up their DNS after subscribing, a resolver can be down for a moment,
and what matters is refused at dial time all the same; its attempts then fail as
connection errors in the delivery log.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable

from .domain import NetworkPolicy, answers_refusal, dialled_host, ip_literal, url_problem

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT = 3.0

# host → every address it resolves to (as text); raises OSError when it does not.
Lookup = Callable[[str], Awaitable[list[str]]]


async def system_lookup(host: str) -> list[str]:
    """The addresses the system resolver gives (/etc/hosts, then DNS), as the dialler's."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def destination_problem(url: str, policy: NetworkPolicy, lookup: Lookup = system_lookup,
                              resolve_seconds: float = RESOLVE_TIMEOUT) -> str | None:
    """What keeps `url` from being subscribed to, or None."""
    problem = url_problem(url, policy)
    if problem is not None:
        return problem
    host = dialled_host(url)
    if host is None:
        return "url must name a host"
    if ip_literal(host) is not None or policy.host_allowed(host):
        return None
    return await _name_problem(host, policy, lookup, resolve_seconds)


async def _name_problem(host: str, policy: NetworkPolicy, lookup: Lookup,
                        resolve_seconds: float) -> str | None:
    try:
        async with asyncio.timeout(resolve_seconds):
            # `localhost.` is `localhost`: /etc/hosts knows only the latter.
            answers = await lookup(host.rstrip(".") or host)
    except UnicodeError:
        # The IDNA codec refuses it (an empty or over-long label): it can never be dialled.
        return f"url host {host!r} is not a valid host name"
    except OSError as exc:  # socket.gaierror and TimeoutError among them
        log.info("webhook host %s does not resolve now (%r): checked at dial time", host, exc)
        return None
    reason = answers_refusal(host, answers, policy)
    return f"url host {host!r} resolves to a forbidden address ({reason})" if reason else None
