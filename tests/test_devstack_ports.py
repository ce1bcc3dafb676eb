"""The development supervisor's ports: one stack's services never share one."""

from __future__ import annotations

import socket

import pytest

from resonanz.devstack import supervisor


class KernelOffering:
    """A socket whose bind to port 0 gets the ports of `offers` in turn, as the kernel may
    offer a port again as soon as the probe that had it is closed."""

    offers: list[int] = []

    def __init__(self) -> None:
        self.port = 0

    def __enter__(self) -> KernelOffering:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def bind(self, address: tuple[str, int]) -> None:
        self.port = address[1] or self.offers.pop(0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_port_offered_twice_is_handed_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KernelOffering, "offers", [47001, 47001, 47001, 47002])
    monkeypatch.setattr(supervisor, "_HANDED_OUT", set())
    monkeypatch.setattr(supervisor.socket, "socket", KernelOffering)
    assert [supervisor.free_port(), supervisor.free_port()] == [47001, 47002]


def test_ports_handed_out_are_free_and_distinct() -> None:
    ports = [supervisor.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # nothing listens there
