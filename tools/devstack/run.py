"""`make run`: the whole platform on this machine, without Docker.

Starts PostgreSQL (embedded, data under .run/) and a Kafka-protocol broker
(Tansu, in memory) unless RESONANZ_DATABASE_URL / RESONANZ_KAFKA_BOOTSTRAP_SERVERS
point elsewhere, migrates, starts the five services, creates a demo tenant once,
prints where everything is and writes it to .run/stack.json. Ctrl-C stops it all.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from resonanz.shared.settings import SERVICE_PORTS

from .supervisor import (
    SERVICES,
    EmbeddedPostgres,
    MailCatcher,
    Stack,
    TansuBroker,
    free_port,
    write_json,
)

DEMO_WIDGET: dict[str, Any] = {
    "name": "Demo-Shop Feedback",
    "is_active": True,
    "placement": "bottom-right",
    "trigger": {"type": "manual"},
    "theme": {"primary_color": "#a85a1a", "font_family": "Georgia, serif", "border_radius": 10},
    "questions": [
        {"id": "rating", "type": "rating", "required": True,
         "label": {"de": "Wie zufrieden sind Sie mit unserem Shop?",
                   "en": "How happy are you with our shop?"}},
        {"id": "found", "type": "single_choice",
         "label": {"de": "Haben Sie gefunden, was Sie gesucht haben?",
                   "en": "Did you find what you were looking for?"},
         "options": [{"id": "yes", "label": {"de": "Ja", "en": "Yes"}},
                     {"id": "no", "label": {"de": "Nein", "en": "No"}}]},
        {"id": "comment", "type": "text",
         "label": {"de": "Was können wir besser machen?", "en": "What could we do better?"}},
    ],
}


DEMO_OWNER = "owner@demo-shop.example"


def say(message: str) -> None:
    print(f"[resonanz] {message}", flush=True)


class Platform:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.postgres: EmbeddedPostgres | None = None
        self.broker: TansuBroker | None = None
        self.mail: MailCatcher | None = None
        self.stack: Stack | None = None

    def start(self) -> dict[str, Any]:
        started = time.monotonic()
        database_url = os.environ.get("RESONANZ_DATABASE_URL") or self._start_postgres()
        bootstrap = os.environ.get("RESONANZ_KAFKA_BOOTSTRAP_SERVERS") or self._start_broker()
        smtp = self._smtp_env()
        self.stack = Stack(self.run_dir, database_url, bootstrap, preferred_ports=True,
                           inherit_settings=True, extra_env={**_webhook_allow_list(), **smtp})
        self.stack.plan()
        self._step("database migrations", lambda: self._migrate(database_url))
        self._step("services", self._start_services)
        write_env_file(self.run_dir / "env", self.stack)
        demo = self._demo_tenant()
        self._step("demo widget", lambda: self._demo_widget(demo))
        self._step("demo admin's sign-in", lambda: self._demo_sign_in(demo))
        gateway = self.stack.services["gateway"].url
        info = {
            "gateway": self.stack.services["gateway"].url,
            "services": self.stack.describe(),
            "database_url": database_url,
            "kafka_bootstrap_servers": bootstrap,
            "mail_dir": str(self.mail.directory) if self.mail else None,
            "tenant_id": demo["tenant_id"],
            "admin_api_key": demo["admin_api_key"],
            "demo_widget_public_id": demo["demo_widget_public_id"],
            "demo_page": f"{gateway}/demo/{demo['demo_widget_public_id']}",
            "dashboard": {"url": f"{gateway}/app/", "email": DEMO_OWNER,
                          "password": demo["dashboard_password"]},
            "started_in_seconds": round(time.monotonic() - started, 1),
        }
        write_json(self.run_dir / "stack.json", info)
        (self.run_dir / "stack.json").chmod(0o600)
        return info

    def _step(self, what: str, action: Any) -> None:
        say(f"{what}…")
        try:
            action()
        except Exception as exc:
            say(f"FAILED: {what}: {exc}")
            say(f"logs are in {self.run_dir}/")
            raise SystemExit(1) from exc

    def _smtp_env(self) -> dict[str, str]:
        """Mail goes to a local catcher unless RESONANZ_SMTP_HOST names a real server."""
        if os.environ.get("RESONANZ_SMTP_HOST"):
            return {}
        self.mail = MailCatcher(self.run_dir / "mail", free_port(1025))
        self._step(f"mail catcher on 127.0.0.1:{self.mail.port}: every email lands in"
                   f" {self.mail.directory}/", self.mail.start)
        return {"RESONANZ_SMTP_HOST": "127.0.0.1", "RESONANZ_SMTP_PORT": str(self.mail.port)}

    def _start_postgres(self) -> str:
        self.postgres = EmbeddedPostgres(self.run_dir / "pgdata", _port(55432, "PostgreSQL"))
        self._step(f"PostgreSQL on 127.0.0.1:{self.postgres.port} (log {self.postgres.log_path})",
                   self.postgres.start)
        return self.postgres.url

    def _start_broker(self) -> str:
        self.broker = TansuBroker(_port(19092, "the broker"), log_path=self.run_dir / "broker.log")
        self._step(f"Kafka-protocol broker (Tansu, in-memory) on {self.broker.bootstrap_servers}",
                   self.broker.start)
        return self.broker.bootstrap_servers

    def _migrate(self, database_url: str) -> None:
        assert self.stack is not None
        self.stack.migrate()

    def _start_services(self) -> None:
        assert self.stack is not None
        self.stack.start(timeout=30)
        for name, svc in self.stack.services.items():
            moved = "" if svc.port == SERVICE_PORTS[name] else \
                f"  (port {SERVICE_PORTS[name]} is taken)"
            say(f"  {name:<20} {svc.url}{moved}  (log {svc.log_path})")

    def _demo_tenant(self) -> dict[str, str]:
        assert self.stack is not None
        saved = self.run_dir / "demo.json"
        if saved.exists():
            demo: dict[str, str] = json.loads(saved.read_text())
            if self._tenant_exists(demo["tenant_id"]):
                return demo
        out = self._admin("create-tenant", "--name", "Demo Shop", "--owner-email", DEMO_OWNER)
        demo = {"tenant_id": out["tenant"]["id"], "admin_api_key": out["api_key"]}
        write_json(saved, demo)
        saved.chmod(0o600)
        return demo

    def _demo_widget(self, demo: dict[str, str]) -> None:
        """A live widget for the demo shop page, created once and then kept as it is."""
        widget_id = demo.get("demo_widget_id")
        if widget_id and self._gateway("GET", f"/v1/widgets/{widget_id}", demo) is not None:
            return
        created = self._gateway("POST", "/v1/widgets", demo, DEMO_WIDGET)
        assert created is not None
        demo["demo_widget_id"] = created["data"]["id"]
        demo["demo_widget_public_id"] = created["data"]["public_id"]
        write_json(self.run_dir / "demo.json", demo)

    def _demo_sign_in(self, demo: dict[str, str]) -> None:
        """The demo admin's dashboard password, set once and then kept as it is."""
        if demo.get("dashboard_password"):
            return
        out = self._admin("set-password", "--email", DEMO_OWNER, "--tenant", demo["tenant_id"],
                          "--generate")
        demo["dashboard_password"] = out["password"]
        write_json(self.run_dir / "demo.json", demo)

    def _gateway(self, method: str, path: str, demo: dict[str, str],
                 body: dict[str, Any] | None = None) -> Any:
        """One call to the public API as the demo tenant's admin; None when not found."""
        assert self.stack is not None
        request = urllib.request.Request(
            self.stack.services["gateway"].url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {demo['admin_api_key']}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def _tenant_exists(self, tenant_id: str) -> bool:
        return any(t["id"] == tenant_id for t in self._admin("list-tenants"))

    def _admin(self, *args: str) -> Any:
        assert self.stack is not None
        result = subprocess.run([sys.executable, "-m", "resonanz.gateway", "admin", *args],
                                env=self.stack.env(), check=True, capture_output=True, text=True)
        return json.loads(result.stdout)

    def stop(self) -> None:
        say("stopping…")
        (self.run_dir / "env").unlink(missing_ok=True)
        if self.stack is not None:
            self.stack.stop()
        if self.mail is not None:
            self.mail.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        say("stopped")


def _port(preferred: int, what: str) -> int:
    port = free_port(preferred)
    if port != preferred:
        say(f"port {preferred} is taken: {what} uses {port} instead")
    return port


# What the operator CLIs need to reach this platform; they read it from `.run/env` when
# run in the checkout while `make run` is up, and a shell can `source` it.
CLI_SETTINGS = ("RESONANZ_ENV", "RESONANZ_DATABASE_URL", "RESONANZ_KAFKA_BOOTSTRAP_SERVERS",
                "RESONANZ_INTERNAL_TOKEN", "RESONANZ_API_KEY_PEPPER", "RESONANZ_ENCRYPTION_KEYS",
                *(f"RESONANZ_{name.upper()}_URL" for name in SERVICES))


def write_env_file(path: Path, stack: Stack) -> None:
    env = stack.env()
    lines = [f"export {name}={shlex.quote(env[name])}" for name in CLI_SETTINGS if name in env]
    path.touch(0o600)
    path.write_text("# Written by `make run` while it is up; removed when it stops.\n"
                    + "\n".join(lines) + "\n")


# Webhook receivers on this machine are private addresses, which the dispatcher refuses
# by default (SSRF guard). For local development `make run` lets loopback through.
DEV_WEBHOOK_ALLOW_LIST = "127.0.0.0/8,::1/128"


def _webhook_allow_list() -> dict[str, str]:
    allowed = os.environ.get("RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS", DEV_WEBHOOK_ALLOW_LIST)
    if allowed:
        say(f"webhooks may reach private addresses {allowed} (development only;"
            " set RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS= to refuse them)")
    return {"RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS": allowed}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m resonanz.devstack")
    parser.add_argument("--run-dir", default=".run")
    parser.add_argument("--detach-after-start", action="store_true",
                        help="start, print the summary, stop again (a smoke check)")
    args = parser.parse_args()
    platform = Platform(Path(args.run_dir).resolve())
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        info = platform.start()
        say(f"ready in {info['started_in_seconds']} s")
        say(f"gateway:        {info['gateway']}  (metrics, readiness: "
            f"{info['services']['gateway_ops']})")
        say(f"demo tenant:    {info['tenant_id']}")
        say(f"admin API key:  {info['admin_api_key']}")
        say(f"demo shop page: {info['demo_page']}")
        say(f"dashboard:      {info['dashboard']['url']}  (sign in as"
            f" {info['dashboard']['email']}, password {info['dashboard']['password']})")
        if info["mail_dir"]:
            say(f"outgoing mail:  {info['mail_dir']}/")
        say(f"try: curl -H 'Authorization: Bearer {info['admin_api_key']}' {info['gateway']}/v1/me")
        say(f"details in {platform.run_dir / 'stack.json'}; Ctrl-C stops everything")
        if not args.detach_after_start:
            while True:
                _watch(platform)
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        platform.stop()


def _watch(platform: Platform) -> None:
    assert platform.stack is not None
    for name, svc in platform.stack.services.items():
        if svc.proc is not None and svc.proc.poll() is not None:
            say(f"{name} exited ({svc.proc.returncode}); restarting, log {svc.log_path}")
            svc.start()


if __name__ == "__main__":
    main()


__all__ = ["SERVICES", "Platform", "main"]
