"""`make drill`: fault drills that prove an accepted write is never lost, then API fuzzing.

Starts its own PostgreSQL (temp dir), Tansu broker and the five services on 127.0.0.1
and a local webhook receiver. Each drill gets a fresh tenant subscribed to
`feedback_created`, runs a steady stream of `POST /v1/feedback` through the gateway,
injects one fault while the stream keeps going, then checks that every 201 is in the
database, that the analytics summary equals the source, that every entry reached the
receiver (duplicates only under the same `webhook-id`), and that no service other than
the one a drill killed had to be restarted. Results go to `.run/drill/results.json`;
the exit status is non-zero when anything was lost. Every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from resonanz.devstack.supervisor import SERVICES, EmbeddedPostgres, Stack, TansuBroker
from resonanz.shared.kafka import all_topics, ensure_topics
from resonanz.shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".run" / "drill"
QUOTAS = ("feedbackpro.reads", "feedbackpro.writes", "feedbackpro.users", "pay4feedback.api")
UNLIMITED = "100000"
PAYLOAD = {"body": "Die Lieferung kam zwei Tage zu spät, die Verpackung war beschädigt.",
           "rating": 2, "category": "delivery"}
CONVERGE_TIMEOUT = 120.0
RECOVER_TIMEOUT = 90.0


def say(message: str) -> None:
    print(f"[drill] {message}", flush=True)


# --- the platform ------------------------------------------------------------------------------


class Platform:
    """PostgreSQL, broker and services, with the handles a drill needs to hurt them."""

    def __init__(self, base: Path, log_level: str) -> None:
        self.postgres = EmbeddedPostgres(base / "pgdata")
        self.broker = TansuBroker(log_path=base / "broker.log")
        self.stack = Stack(base / "run", self.postgres.url, self.broker.bootstrap_servers,
                           extra_env={"RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8",
                                      "RESONANZ_LOG_LEVEL": log_level})

    @property
    def gateway(self) -> str:
        return self.stack.services["gateway"].url

    def start(self) -> None:
        self.postgres.start()
        self.broker.start()
        self.stack.plan()
        self.stack.migrate()
        asyncio.run(ensure_topics(self.stack.bootstrap_servers, all_topics(Settings())))
        self.stack.start(timeout=60)

    def stop(self) -> None:
        self.stack.stop()
        self.broker.stop()
        self.postgres.stop()

    def pids(self) -> dict[str, int | None]:
        return {name: svc.proc.pid if svc.proc else None
                for name, svc in self.stack.services.items()}

    def exited(self) -> list[str]:
        return [name for name, svc in self.stack.services.items()
                if svc.proc is None or svc.proc.poll() is not None]

    def admin(self, *args: str) -> Any:
        out = subprocess.run([sys.executable, "-m", "resonanz.gateway", "admin", *args],
                             env=self.stack.env(), check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def unlimited_tenant(self, name: str) -> tuple[str, str]:
        """A tenant and its admin key, with the reference rate limits lifted: the drill
        measures loss, not throttling."""
        out = self.admin("create-tenant", "--name", name,
                         "--owner-email", f"owner+{uuid.uuid4().hex[:6]}@drill.example")
        tenant = out["tenant"]["id"]
        for quota in QUOTAS:
            self.admin("set-rate-limit", "--tenant", tenant, "--name", quota,
                       "--limit", UNLIMITED)
        return tenant, out["api_key"]


# --- the webhook receiver ----------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    webhook_id: str
    entry_id: str
    verified: bool


@dataclass
class Receiver:
    """A local endpoint that checks every Standard Webhooks signature and remembers
    which entry arrived under which `webhook-id`."""

    secrets: list[str] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        entry = json.loads(body).get("data", {}).get("entry", {}).get("id", "")
        self.arrivals.append(Arrival(headers.get("webhook-id", ""), entry,
                                     self._verified(body, headers)))
        return web.Response(text="ok")

    def _verified(self, body: bytes, headers: dict[str, str]) -> bool:
        for secret in self.secrets:
            with contextlib.suppress(WebhookVerificationError):
                Webhook(secret).verify(body, headers)
                return True
        return False


# --- steady load -------------------------------------------------------------------------------


@dataclass
class Load:
    """Open-loop `POST /v1/feedback` at a fixed rate; remembers the id of every 201."""

    http: aiohttp.ClientSession
    url: str
    key: str
    rate: float
    max_in_flight: int = 64
    accepted: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    accepted_at: list[float] = field(default_factory=list)
    paused: bool = False
    _in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    _running: bool = False

    async def run_for(self, seconds: float) -> None:
        """Send for `seconds` (or until `stop`), then wait for the answers."""
        self._running = True
        deadline = time.monotonic() + seconds
        next_at = time.monotonic()
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            # After a stall catch up by at most a second's worth: a steady rate, no flood.
            next_at = max(next_at + 1 / self.rate, time.monotonic() - 1.0)
            if not self.paused:
                self._send()
        await asyncio.gather(*self._in_flight)

    def _send(self) -> None:
        if len(self._in_flight) >= self.max_in_flight:
            self.refused["client: too many in flight"] += 1
            return
        task = asyncio.create_task(self._post())
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def pause(self) -> None:
        """Stop sending and wait for the answers still outstanding."""
        self.paused = True
        await asyncio.gather(*self._in_flight)

    def stop(self) -> None:
        self._running = False

    async def _post(self) -> None:
        body = {**PAYLOAD, "body": f"{PAYLOAD['body']} Bestellung {uuid.uuid4().hex[:12]}."}
        try:
            async with self.http.post(f"{self.url}/v1/feedback", json=body,
                                      headers={"Authorization": f"Bearer {self.key}"}) as r:
                answer = await r.json(content_type=None)
                status = r.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.refused[type(exc).__name__] += 1
            return
        if status == 201:
            self.accepted.append(answer["data"]["id"])
            self.accepted_at.append(time.monotonic())
        else:
            self.refused[str(status)] += 1

    def longest_gap(self) -> float:
        """The longest stretch without an accepted write: the outage clients saw."""
        times = sorted(self.accepted_at)
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


# --- checks ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    drill: str
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    missing_in_db: int = 0
    entries_in_db: int = 0
    analytics_total: int | None = None
    analytics_match: bool = False
    webhooks_delivered: int = 0
    webhooks_expected: int = 0
    duplicates_same_id: int = 0
    duplicates_new_id: int = 0
    unverified: int = 0
    recovered: bool = False
    recover_s: float | None = None
    converge_s: float | None = None
    longest_write_gap_s: float = 0.0
    restarted_by_drill: list[str] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def lost(self) -> bool:
        return bool(self.missing_in_db or not self.analytics_match or self.duplicates_new_id
                    or self.webhooks_delivered < self.webhooks_expected or self.unverified
                    or not self.recovered or self.crashed)


async def poll(check: Callable[[], Awaitable[bool]], within: float, every: float = 0.5
               ) -> float | None:
    """Seconds until `check` held, or None when it never did `within` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        with contextlib.suppress(aiohttp.ClientError, OSError, asyncpg.PostgresError):
            if await check():
                return time.monotonic() - started
        await asyncio.sleep(every)
    return None


async def tenant_entries(database_url: str, tenant: str) -> set[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id::text FROM feedback.entries WHERE tenant_id = $1"
                                " AND deleted_at IS NULL", tenant)
    finally:
        await conn.close()
    return {row["id"] for row in rows}


async def analytics_total(http: aiohttp.ClientSession, gateway: str, key: str) -> int | None:
    async with http.get(f"{gateway}/v1/analytics/summary?period=7d",
                        headers={"Authorization": f"Bearer {key}"}) as r:
        if r.status != 200:
            return None
        return int((await r.json())["data"]["total_submissions"])


def delivery_counts(arrivals: list[Arrival], entries: set[str]) -> tuple[int, int, int, int]:
    """(entries delivered, extra arrivals under the same webhook-id, entries delivered under
    more than one webhook-id, unverified signatures) for this drill's entries."""
    ids_by_entry: dict[str, set[str]] = {}
    same_id_extra = unverified = 0
    seen: set[tuple[str, str]] = set()
    for arrival in arrivals:
        if arrival.entry_id not in entries:
            continue
        unverified += not arrival.verified
        pair = (arrival.webhook_id, arrival.entry_id)
        same_id_extra += pair in seen
        seen.add(pair)
        ids_by_entry.setdefault(arrival.entry_id, set()).add(arrival.webhook_id)
    new_id = sum(len(ids) > 1 for ids in ids_by_entry.values())
    return len(ids_by_entry), same_id_extra, new_id, unverified


async def metric_sum(http: aiohttp.ClientSession, url: str, name: str) -> float:
    async with http.get(f"{url}/metrics") as r:
        text = await r.text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith((name + "{", name + " ")))


# --- one drill ---------------------------------------------------------------------------------

Fault = Callable[["Drill"], Awaitable[None]]


@dataclass
class Drill:
    """One fault, injected while a tenant's steady write stream runs."""

    platform: Platform
    http: aiohttp.ClientSession
    receiver: Receiver
    args: argparse.Namespace
    name: str
    tenant: str = ""
    key: str = ""
    load: Load | None = None
    outcome: Outcome = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = Outcome(self.name)

    async def run(self, fault: Fault) -> Outcome:
        await self.prepare()
        pids = self.platform.pids()
        assert self.load is not None
        writing = asyncio.create_task(self.load.run_for(self.args.max_load_seconds))
        await asyncio.sleep(self.args.before)
        await fault(self)
        await self.wait_recovered()
        await asyncio.sleep(self.args.after)
        self.load.stop()
        await writing
        self.check_processes(pids)
        await self.verify()
        return self.outcome

    async def prepare(self) -> None:
        self.tenant, self.key = await asyncio.to_thread(
            self.platform.unlimited_tenant, f"Drill {self.name}")
        async with self.http.post(f"{self.platform.gateway}/api/v1/webhooks",
                                  json={"url": self.receiver.url, "events": ["feedback_created"]},
                                  headers=self.auth()) as r:
            created = await r.json()
            assert r.status == 201, created
        self.receiver.secrets.append(created["data"]["secret"])
        self.load = Load(self.http, self.platform.gateway, self.key, self.args.rate)

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def wait_recovered(self) -> None:
        """From the end of the fault until every service is ready and a write is accepted."""
        took = await poll(self.healthy, RECOVER_TIMEOUT, every=0.2)
        self.outcome.recovered = took is not None
        self.outcome.recover_s = None if took is None else round(took, 2)

    async def healthy(self) -> bool:
        if not all(await asyncio.gather(*(asyncio.to_thread(svc.ready) for svc in
                                          self.platform.stack.services.values()))):
            return False
        async with self.http.post(f"{self.platform.gateway}/v1/feedback", json=PAYLOAD
                                  | {"body": f"Probe {uuid.uuid4().hex}"},
                                  headers=self.auth()) as r:
            return r.status == 201

    def check_processes(self, before: dict[str, int | None]) -> None:
        """Only the service the drill itself killed may have a new process."""
        now = self.platform.pids()
        changed = [n for n in SERVICES if now[n] != before[n]]
        self.outcome.crashed = sorted(
            set(self.platform.exited())
            | {n for n in changed if n not in self.outcome.restarted_by_drill})

    async def verify(self) -> None:
        assert self.load is not None
        out, load = self.outcome, self.load
        out.accepted, out.refused = len(load.accepted), dict(load.refused)
        out.longest_write_gap_s = round(load.longest_gap(), 2)
        url = self.platform.stack.database_url
        entries = await tenant_entries(url, self.tenant)
        out.entries_in_db = len(entries)
        out.missing_in_db = len(set(load.accepted) - entries)
        took = await poll(lambda: self.converged(entries), CONVERGE_TIMEOUT)
        out.converge_s = None if took is None else round(took, 2)
        await asyncio.sleep(self.args.grace)  # late duplicates would show up here
        self.count_webhooks(entries)
        out.analytics_total = await analytics_total(self.http, self.platform.gateway, self.key)
        out.analytics_match = out.analytics_total == len(entries)

    async def converged(self, entries: set[str]) -> bool:
        total = await analytics_total(self.http, self.platform.gateway, self.key)
        delivered = delivery_counts(self.receiver.arrivals, entries)[0]
        return total == len(entries) and delivered == len(entries)

    def count_webhooks(self, entries: set[str]) -> None:
        out = self.outcome
        out.webhooks_expected = len(entries)
        (out.webhooks_delivered, out.duplicates_same_id, out.duplicates_new_id,
         out.unverified) = delivery_counts(self.receiver.arrivals, entries)

    async def drained(self) -> bool:
        """Nothing waits in any outbox and no consumer is behind the partition ends."""
        urls = [svc.ops_url for svc in self.platform.stack.services.values()]
        backlog = sum(await asyncio.gather(
            *(metric_sum(self.http, u, "resonanz_outbox_backlog") for u in urls)))
        lag = sum(await asyncio.gather(
            *(metric_sum(self.http, u, "resonanz_consumer_lag") for u in urls)))
        unpublished = await unpublished_rows(self.platform.stack.database_url)
        return backlog == 0 and lag == 0 and unpublished == 0


async def unpublished_rows(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        schemas = await conn.fetch("SELECT table_schema FROM information_schema.tables"
                                   " WHERE table_name = 'outbox'")
        total = 0
        for row in schemas:
            total += await conn.fetchval(
                f'SELECT count(*) FROM "{row["table_schema"]}".outbox'
                " WHERE published_at IS NULL")
        return total
    finally:
        await conn.close()


# --- the faults --------------------------------------------------------------------------------


def kill_service(name: str) -> Fault:
    async def fault(drill: Drill) -> None:
        svc = drill.platform.stack.services[name]
        assert svc.proc is not None
        say(f"  kill -9 {name} (pid {svc.proc.pid})")
        svc.proc.kill()
        await asyncio.to_thread(svc.proc.wait)
        # The supervisor's part (systemd, compose restart: always), after its usual delay.
        await asyncio.sleep(drill.args.supervisor_delay)
        svc.start()
        drill.outcome.restarted_by_drill.append(name)

    return fault


async def broker_outage(drill: Drill) -> None:
    """Tansu keeps everything in memory: a restarted broker is empty. Events it acknowledged
    and nobody consumed yet would die with it, so unless told otherwise the drill pauses the
    writes and lets the pipeline drain before pulling the plug, as an operator would."""
    assert drill.load is not None
    broker = drill.platform.broker
    if drill.args.broker_drain:
        await drill.load.pause()
        took = await poll(drill.drained, CONVERGE_TIMEOUT)
        drill.outcome.notes.append(
            "writes paused, pipeline drained in "
            f"{'(never)' if took is None else round(took, 1)} s before the broker stopped")
    say(f"  broker stopped for {drill.args.broker_outage:.0f} s")
    await asyncio.to_thread(broker.stop)
    drill.load.paused = False
    await asyncio.sleep(drill.args.broker_outage)
    await asyncio.to_thread(broker.start)
    say("  broker started again (empty)")


async def postgres_restart(drill: Drill) -> None:
    postgres = drill.platform.postgres
    say(f"  PostgreSQL stopped for {drill.args.postgres_outage:.0f} s")
    await asyncio.to_thread(postgres.stop)
    await asyncio.sleep(drill.args.postgres_outage)
    await asyncio.to_thread(postgres.start)
    say("  PostgreSQL started again (same data, same port)")


def drills(args: argparse.Namespace) -> list[tuple[str, Fault]]:
    chosen: list[tuple[str, Fault]] = [(f"kill -9 {name}", kill_service(name))
                                       for name in SERVICES]
    chosen += [(f"broker down {args.broker_outage:.0f} s", broker_outage),
               ("postgres restart", postgres_restart)]
    return [(name, fault) for name, fault in chosen
            if not args.drill or any(word in name for word in args.drill)]


# --- report ------------------------------------------------------------------------------------

COLUMNS = ("drill", "accepted", "missing in DB", "analytics", "webhooks", "dup same id",
           "dup new id", "recovered", "recover s", "converge s", "write gap s")


LEGEND = """accepted: 201s during the drill; analytics: summary total / entries in the database
(the drill's probe writes included); webhooks: entries delivered / entries in the database;
dup same id: extra arrivals under a webhook-id already seen (allowed); dup new id: entries
delivered under two webhook-ids (a lost idempotency); recover s: from the end of the fault
(killed service restarted, broker or database back) until all five /readyz answer 200 and a
write is accepted; converge s: after the load stopped, until analytics and webhooks caught up;
write gap s: the longest stretch without an accepted write, as clients saw it."""


def row(o: Outcome) -> tuple[str, ...]:
    analytics = f"{'yes' if o.analytics_match else 'NO'} ({o.analytics_total}/{o.entries_in_db})"
    return (o.drill, str(o.accepted), str(o.missing_in_db), analytics,
            f"{o.webhooks_delivered}/{o.webhooks_expected}", str(o.duplicates_same_id),
            str(o.duplicates_new_id), "yes" if o.recovered and not o.crashed else "NO",
            str(o.recover_s), str(o.converge_s), str(o.longest_write_gap_s))


def table(outcomes: list[Outcome]) -> str:
    rows = [COLUMNS, *(row(o) for o in outcomes)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(LEGEND)
    for o in outcomes:
        extra = [f"refused: {o.refused}"] if o.refused else []
        extra += [f"crashed/restarted unasked: {o.crashed}"] if o.crashed else []
        extra += [f"unverified signatures: {o.unverified}"] if o.unverified else []
        lines += [f"  {o.drill}: {note}" for note in [*extra, *o.notes]]
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------


async def run_drills(platform: Platform, args: argparse.Namespace) -> list[Outcome]:
    receiver = Receiver()
    await receiver.start()
    outcomes = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for name, fault in drills(args):
                say(f"drill: {name}")
                drill = Drill(platform, http, receiver, args, name)
                outcome = await drill.run(fault)
                say(f"  {'LOST SOMETHING' if outcome.lost else 'ok'}: "
                    + ", ".join(f"{k}={v}" for k, v in zip(COLUMNS[1:], row(outcome)[1:],
                                                           strict=True)))
                outcomes.append(outcome)
    finally:
        await receiver.stop()
    return outcomes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/drill.py", description=__doc__)
    parser.add_argument("--only", choices=["drills", "fuzz"], help="run one stage")
    parser.add_argument("--skip-fuzz", action="store_true")
    parser.add_argument("--drill", action="append", help="only drills whose name contains this")
    parser.add_argument("--rate", type=float, default=40.0, help="writes per second")
    parser.add_argument("--before", type=float, default=5.0, help="load before the fault, s")
    parser.add_argument("--after", type=float, default=5.0, help="load after recovery, s")
    parser.add_argument("--grace", type=float, default=2.0,
                        help="wait for late duplicates after convergence, s")
    parser.add_argument("--supervisor-delay", type=float, default=2.0,
                        help="seconds a killed service stays down before its restart")
    parser.add_argument("--broker-outage", type=float, default=60.0)
    parser.add_argument("--no-broker-drain", dest="broker_drain", action="store_false",
                        help="stop the broker with events in flight (Tansu loses them)")
    parser.add_argument("--postgres-outage", type=float, default=5.0)
    parser.add_argument("--max-load-seconds", type=float, default=300.0)
    parser.add_argument("--fuzz-examples", type=int, default=100,
                        help="schemathesis examples per operation and phase")
    parser.add_argument("--fuzz-seed", type=int, default=20240601)
    parser.add_argument("--fuzz-max-time", type=float, default=480.0,
                        help="the fuzz run is stopped after this many seconds")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args()


def keep_logs(base: Path) -> None:
    """The platform's logs outlive its temp dir, for whoever reads a failed drill."""
    logs = OUT / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    for log in [*base.glob("*.log"), *(base / "run").glob("*.log")]:
        shutil.copy(log, logs / log.name)


def main() -> int:
    args = parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "settings": {k: v for k, v in vars(args).items()}}
    failed = False
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="resonanz-drill-") as base:
        platform = Platform(Path(base), args.log_level)
        try:
            say(f"starting the platform in {base}")
            platform.start()
            if args.only != "fuzz":
                outcomes = asyncio.run(run_drills(platform, args))
                results["drills"] = [asdict(o) | {"lost": o.lost} for o in outcomes]
                failed |= any(o.lost for o in outcomes)
                print(table(outcomes), flush=True)
            if args.only != "drills" and not args.skip_fuzz:
                from drill_fuzz import fuzz

                results["fuzz"] = fuzz(platform, args, OUT)
                failed |= not results["fuzz"]["passed"]
        finally:
            platform.stop()
            keep_logs(Path(base))
    results["seconds"] = round(time.monotonic() - started, 1)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    say(f"results in {OUT / 'results.json'}: {'FAILED' if failed else 'nothing lost'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
