"""The client's address behind trusted proxies (shared.clientaddr): pure unit tests."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import ValidationError

from resonanz.shared.clientaddr import client_address, parse_address, trusted_networks
from resonanz.shared.settings import Settings

INGRESS = trusted_networks("10.0.0.0/8, 192.0.2.7")


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() -> None:
    forged = headers(("X-Forwarded-For", "203.0.113.9"), ("Forwarded", "for=203.0.113.9"))
    assert client_address("10.1.2.3", forged, ()) == "10.1.2.3"


def test_an_untrusted_peer_cannot_forge_its_address() -> None:
    forged = headers(("X-Forwarded-For", "203.0.113.9, 10.1.1.1"))
    assert client_address("198.51.100.4", forged, INGRESS) == "198.51.100.4"


def test_behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() -> None:
    # The client wrote "1.1.1.1" itself; the ingress appended the address it saw.
    chain = headers(("X-Forwarded-For", "1.1.1.1, 198.51.100.4"))
    assert client_address("10.1.2.3", chain, INGRESS) == "198.51.100.4"


def test_trusted_hops_are_skipped_from_the_right() -> None:
    chain = headers(("X-Forwarded-For", "198.51.100.4, 192.0.2.7"),
                    ("X-Forwarded-For", "10.9.9.9"))
    assert client_address("10.1.2.3", chain, INGRESS) == "198.51.100.4"


def test_a_chain_of_only_trusted_hops_names_the_leftmost() -> None:
    chain = headers(("X-Forwarded-For", "10.0.0.5, 10.0.0.6"))
    assert client_address("10.1.2.3", chain, INGRESS) == "10.0.0.5"


def test_a_trusted_proxy_without_a_header_is_the_client() -> None:
    assert client_address("10.1.2.3", headers(), INGRESS) == "10.1.2.3"


def test_the_standard_forwarded_header_when_there_is_no_x_forwarded_for() -> None:
    chain = headers(("Forwarded", 'for=1.1.1.1, for="[2001:db8::17]:4711";proto=https'),
                    ("Forwarded", "for=192.0.2.7;by=10.0.0.1"))
    assert client_address("10.1.2.3", chain, INGRESS) == "2001:db8::17"


def test_an_unknown_hop_stops_at_the_proxy_that_reported_it() -> None:
    chain = headers(("Forwarded", "for=unknown, for=192.0.2.7"))
    assert client_address("10.1.2.3", chain, INGRESS) == "192.0.2.7"


@pytest.mark.parametrize(("written", "meant"), [
    ("198.51.100.4", "198.51.100.4"), (" 198.51.100.4:5120 ", "198.51.100.4"),
    ('"[2001:db8::1]:80"', "2001:db8::1"), ("2001:db8::1", "2001:db8::1"),
    ("::ffff:198.51.100.4", "198.51.100.4"), ("unknown", None), ("_hidden", None), ("", None),
])
def test_addresses_as_proxies_write_them(written: str, meant: str | None) -> None:
    parsed = parse_address(written)
    assert (str(parsed) if parsed else None) == meant


def test_a_mapped_peer_address_is_matched_as_ipv4() -> None:
    chain = headers(("X-Forwarded-For", "198.51.100.4"))
    assert client_address("::ffff:10.1.2.3", chain, INGRESS) == "198.51.100.4"


def test_the_setting_is_checked_when_a_service_starts() -> None:
    assert Settings(trusted_proxies=" 10.0.0.0/8,fd00::/8 ").trusted_proxies
    assert Settings().trusted_proxies == ""
    with pytest.raises(ValidationError, match="not an IP network"):
        Settings(trusted_proxies="10.0.0.0/8, ingress.local")
