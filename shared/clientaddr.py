"""A client's address behind reverse proxies we trust (`RESONANZ_TRUSTED_PROXIES`).

A request's peer is the last proxy when there is one (an ingress controller, a load
balancer), so every shopper behind it would share one address and one rate limit. Only
when the peer is a proxy we trust do we read the chain it forwarded: `X-Forwarded-For`
(or, without it, the standard `Forwarded` header), from the right, skipping our own
trusted hops. The first address we do not trust is the client: everything left of it
was written by the client itself and may be forged.

A proxy that writes only `Forwarded` must drop an `X-Forwarded-For` sent by the
client, or the client writes the chain: nginx, Traefik, HAProxy and the cloud load
balancers all write `X-Forwarded-For`.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Annotated

from multidict import MultiMapping
from pydantic import AfterValidator

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_networks(setting: str) -> str:
    """A settings validator: refuse anything that is not a comma-separated list of CIDRs."""
    trusted_networks(setting)
    return setting


# The setting: comma-separated CIDRs, checked when a service starts.
TrustedProxies = Annotated[str, AfterValidator(check_networks)]


@functools.lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """`10.0.0.0/8, 192.168.1.7` → networks (a bare address is a network of one)."""
    networks = []
    for item in (part.strip() for part in setting.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP network in CIDR notation"
                             " (e.g. 10.0.0.0/8 or 192.0.2.7/32)") from None
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`,
    `"[2001:db8::1]"`; IPv4-mapped IPv6 as IPv4. None for `unknown`, `_hidden` and junk."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks)


def forwarded_for(values: Iterable[str]) -> list[str]:
    """The `for=` hops of `Forwarded` headers, left to right (RFC 7239)."""
    hops = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, hop = pair.partition("=")
                if name.strip().lower() == "for":
                    hops.append(hop)
    return hops


def forwarded_chain(headers: MultiMapping[str]) -> list[str]:
    """The hops proxies reported before the peer, left (the first) to right (the last)."""
    if "X-Forwarded-For" in headers:
        return [hop for value in headers.getall("X-Forwarded-For")
                for hop in value.split(",")]
    return forwarded_for(headers.getall("Forwarded", []))


def client_address(peer: str | None, headers: MultiMapping[str],
                   trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy."""
    nearest = parse_address(peer or "")
    if nearest is None:
        return peer or ""
    if not _is_trusted(nearest, trusted):
        return str(nearest)
    for hop in reversed(forwarded_chain(headers)):
        address = parse_address(hop)
        if address is None:
            # A trusted proxy wrote `unknown` or junk: it is the last address we know.
            break
        nearest = address
        if not _is_trusted(address, trusted):
            break
    return str(nearest)


def forwarded_proto(peer: str | None, headers: MultiMapping[str],
                    trusted: Sequence[Network]) -> str | None:
    """The scheme the client used, as the trusted proxy in front of us reports it
    (`X-Forwarded-Proto`, else `Forwarded: proto=`); None when the peer is no trusted
    proxy or says nothing. A secure cookie depends on it."""
    nearest = parse_address(peer or "")
    if nearest is None or not _is_trusted(nearest, trusted):
        return None
    if "X-Forwarded-Proto" in headers:
        return headers.getall("X-Forwarded-Proto")[-1].split(",")[-1].strip().lower() or None
    for value in reversed(headers.getall("Forwarded", [])):
        for element in reversed(value.split(",")):
            for pair in element.split(";"):
                name, _, proto = pair.partition("=")
                if name.strip().lower() == "proto":
                    return proto.strip().strip('"').lower()
    return None
