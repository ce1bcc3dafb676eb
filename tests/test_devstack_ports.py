"""The development supervisor's ports: one stack's services never share one."""

from __future__ import annotations

import socket
import time
from pathlib import Path

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


def test_a_process_of_another_stack_on_the_port_is_not_taken_for_ready(tmp_path: Path) -> None:
    # Two stacks started at the same instant can be handed the same free port: the loser's
    # process fails to bind, and until it has exited its readiness probe reached the
    # winner's, answered 200 and took it for its own. /readyz names the process now.
    winner = supervisor.ServiceProcess("dashboard", supervisor.free_port(),
                                       tmp_path / "winner.log", env={"RESONANZ_ENV":
                                                                     "development"})
    loser = supervisor.ServiceProcess("dashboard", winner.port, tmp_path / "loser.log",
                                      env={})
    winner.start()
    try:
        supervisor.wait_until_ok(f"{winner.ops_url}/readyz", time.monotonic() + 20,
                                 "the dashboard")
        assert winner.ready() and winner.instance != loser.instance
        assert not loser.ready()
    finally:
        winner.stop()
