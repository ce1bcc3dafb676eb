"""`make bench`: the platform's capacity, measured as ratios in one run on this machine.

Starts its own PostgreSQL, broker and the five services on 127.0.0.1, warms up,
runs each scenario for a bounded time, prints a table and writes
`.run/bench/results.json`. Traffic goes to loopback only and every loop stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import psutil
from aiohttp import web

from resonanz.analytics.domain import (
    DURATION_GRAINS,
    EPOCH,
    EVERY_WIDGET,
    FINE,
    GAMMA,
    STAT_GRAINS,
)
from resonanz.devstack.supervisor import EmbeddedPostgres, Stack, TansuBroker
from resonanz.feedback.scoring import score_feedback
from resonanz.shared.kafka import all_topics, ensure_topics
from resonanz.shared.settings import Settings, service_role, with_user

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".run" / "bench"
PAYLOAD = {"body": "Der Checkout-Button reagierte auf dem iPhone nicht, erst nach"
                   " dem dritten Versuch ging es weiter.", "rating": 3, "category": "usability"}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


BEGAN = time.monotonic()


def progress(message: str) -> None:
    """What the bench is doing now, on stderr: a run takes minutes."""
    print(f"[bench {time.monotonic() - BEGAN:6.1f} s] {message}", file=sys.stderr, flush=True)


# The isolation scenarios: the healthy tenant's webhooks a second, and the entries a second
# of the tenant whose endpoints hang (each fanned out to every one of them).
RATE_B = 50.0
RATE_A = 5.0
# How long the isolation scenarios wait after closing a hanging receiver (Bench.around).
SETTLE_AFTER_DEAD_S = 2.0


@dataclass
class Phase:
    """One measured run of a healthy endpoint: each webhook's latency, and its stages."""

    latencies: list[float]
    stages: dict[str, tuple[float, float]]
    # CPU milliseconds per webhook sent to the healthy endpoint, by part of the platform.
    cpu_ms: dict[str, float] = field(default_factory=dict)

    @property
    def p99_ms(self) -> float:
        return ms(pct(self.latencies, 99))


@dataclass
class Alternated:
    """Baseline runs with the measured runs between them (baseline, measured, baseline, …):
    a machine whose speed drifts, or that stalls for a second now and then, moves both
    alike.

    Compared by each run's p99: the measured runs' mean against the baselines' mean with
    the first and last at half the weight of the others, so that both sides are centred at
    the same time, and a steady drift (the in-memory broker grows slower with every record
    it holds) favours neither. The p99 of each side's latencies pooled, compared before,
    leant on the slowest run: with the platform growing slower run after run that was the
    last baseline, and a cost of the measured runs of 13 % read as none."""

    baselines: list[Phase]
    measured: list[Phase]

    @staticmethod
    def pooled_p99_ms(phases: list[Phase]) -> float:
        return ms(pct([t for p in phases for t in p.latencies], 99))

    def baselines_p99_ms(self) -> float:
        """The baselines' p99s, weighted 1, 2, …, 2, 1."""
        p99s = [p.p99_ms for p in self.baselines]
        weights = [1, *[2] * (len(p99s) - 2), 1] if len(p99s) > 1 else [1]
        return round(sum(w * v for w, v in zip(weights, p99s, strict=True)) / sum(weights), 2)

    def measured_p99_ms(self) -> float:
        return round(statistics.fmean(p.p99_ms for p in self.measured), 2)

    def within_tenth(self, expected: int) -> bool:
        """Every measured run delivered everything, and their p99 is within 10 % of the
        baselines' (both as above)."""
        return (all(len(p.latencies) == expected for p in self.measured)
                and self.measured_p99_ms() <= 1.1 * self.baselines_p99_ms())

    def report(self, baseline: str, measured: str, expected: int) -> dict[str, Any]:
        return {f"{baseline}_p99_ms": [p.p99_ms for p in self.baselines],
                f"{measured}_p99_ms": [p.p99_ms for p in self.measured],
                f"{baseline}_p99_weighted_mean_ms": self.baselines_p99_ms(),
                f"{measured}_p99_mean_ms": self.measured_p99_ms(),
                f"{baseline}_pooled_p99_ms": self.pooled_p99_ms(self.baselines),
                f"{measured}_pooled_p99_ms": self.pooled_p99_ms(self.measured),
                "delivered": [f"{len(p.latencies)}/{expected}" for p in self.measured],
                "stages_p50_p99_ms": {f"{baseline}_{i + 1}": p.stages
                                      for i, p in enumerate(self.baselines)}
                | {f"{measured}_{i + 1}": p.stages for i, p in enumerate(self.measured)},
                "cpu_ms_per_webhook": {f"{baseline}_{i + 1}": p.cpu_ms
                                       for i, p in enumerate(self.baselines)}
                | {f"{measured}_{i + 1}": p.cpu_ms for i, p in enumerate(self.measured)}}


@dataclass
class Load:
    """Closed-loop load: `concurrency` workers for `seconds`, latencies recorded."""

    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def summary(self) -> dict[str, float]:
        return {"rate_per_s": round(self.rate, 1), "ok": self.ok, "failed": self.failed,
                "p50_ms": ms(pct(self.latencies, 50)), "p95_ms": ms(pct(self.latencies, 95)),
                "p99_ms": ms(pct(self.latencies, 99))}


async def closed_loop(call: Callable[[], Awaitable[bool]], concurrency: int,
                      seconds: float) -> Load:
    load = Load()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            good = await call()
            load.latencies.append(time.perf_counter() - started)
            if good:
                load.ok += 1
            else:
                load.failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.elapsed = time.perf_counter() - started
    return load


async def open_loop(call: Callable[[], Awaitable[bool]], rate: float, seconds: float) -> Load:
    """Requests started at a fixed rate (not waiting for answers): latency at that rate."""
    load = Load()
    tasks = []

    async def one() -> None:
        started = time.perf_counter()
        good = await call()
        load.latencies.append(time.perf_counter() - started)
        load.ok += good
        load.failed += not good

    started = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    load.elapsed = time.perf_counter() - started
    return load


# --- the platform under test -----------------------------------------------------------------


class Platform:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.postgres = EmbeddedPostgres(base / "pgdata")
        self.broker = TansuBroker(log_path=base / "broker.log")
        self.stack: Stack | None = None
        self.started_in = 0.0

    def start(self) -> Stack:
        began = time.monotonic()
        self.postgres.start()
        self.broker.start()
        stack = Stack(self.base / "run", self.postgres.url, self.broker.bootstrap_servers,
                      extra_env={"RESONANZ_LOG_LEVEL": "WARNING",
                                 "RESONANZ_DB_POOL_MAX": "20",
                                 "RESONANZ_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "127.0.0.0/8"})
        stack.plan()
        stack.migrate()
        asyncio.run(ensure_topics(stack.bootstrap_servers, all_topics(Settings())))
        stack.start(timeout=60)
        self.started_in = time.monotonic() - began
        self.stack = stack
        return stack

    def stop(self) -> None:
        if self.stack:
            self.stack.stop()
        self.broker.stop()
        self.postgres.stop()


def admin(stack: Stack, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "resonanz.gateway", "admin", *args],
                         env=stack.env(), check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def unlimited_tenant(stack: Stack) -> tuple[str, str]:
    out = admin(stack, "create-tenant", "--name", f"Bench {uuid.uuid4().hex[:6]}",
                "--owner-email", "bench@example.com")
    tenant = out["tenant"]["id"]
    for quota in ("feedbackpro.reads", "feedbackpro.writes", "feedbackpro.users",
                  "pay4feedback.api"):
        admin(stack, "set-rate-limit", "--tenant", tenant, "--name", quota,
              "--limit", "100000000")
    return tenant, out["api_key"]


def rss_mb(stack: Stack) -> dict[str, float]:
    out = {}
    for name, svc in stack.services.items():
        assert svc.proc is not None
        out[name] = round(psutil.Process(svc.proc.pid).memory_info().rss / 2**20, 1)
    return out


class CpuMeter:
    """CPU seconds spent by each part of the platform (and the load generator itself)
    while a scenario runs: where an accepted write's cost goes. PostgreSQL's and the
    broker's child processes are counted too, including backends started meanwhile."""

    def __init__(self, platform: Platform) -> None:
        assert platform.stack is not None
        roots = {name: svc.proc.pid for name, svc in platform.stack.services.items()
                 if svc.proc is not None}
        for name, proc in (("postgres", platform.postgres.proc),
                           ("broker", platform.broker.proc)):
            if proc is not None:
                roots[name] = proc.pid
        roots["load_generator"] = os.getpid()
        self.roots = roots
        self.started: dict[int, float] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, pid in self.roots.items():
            out[name] = {}
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(pid)
                procs = [root, *(root.children(recursive=True) if name != "load_generator"
                                 else [])]
                for proc in procs:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        times = proc.cpu_times()
                        out[name][proc.pid] = times.user + times.system
        return out

    def start(self) -> None:
        self.started = {pid: cpu for part in self._sample().values()
                        for pid, cpu in part.items()}

    def per_item_ms(self, items: int) -> dict[str, float]:
        """CPU milliseconds per item since `start`, by part, with the total."""
        used = {name: sum(cpu - self.started.get(pid, 0.0) for pid, cpu in part.items())
                for name, part in self._sample().items()}
        out = {name: round(seconds * 1000 / max(1, items), 2) for name, seconds in used.items()}
        out["total"] = round(sum(used.values()) * 1000 / max(1, items), 2)
        return out


# --- scenarios --------------------------------------------------------------------------------


@dataclass
class Bench:
    stack: Stack
    http: aiohttp.ClientSession
    tenant: str
    key: str
    concurrency: int
    seconds: float
    meter: CpuMeter
    results: dict[str, Any] = field(default_factory=dict)
    # Every answer but the expected one, by status: a failed write is never just a number.
    refusals: collections.Counter[int] = field(default_factory=collections.Counter)

    async def other_tenant(self) -> Bench:
        """The same load generator on a tenant of its own (fresh subscriptions, own totals)."""
        tenant, key = await asyncio.to_thread(unlimited_tenant, self.stack)
        return Bench(self.stack, self.http, tenant, key, self.concurrency, self.seconds,
                     meter=self.meter, refusals=self.refusals)

    def refused_since(self, before: collections.Counter[int]) -> dict[str, int]:
        return {str(status): n for status, n in sorted((self.refusals - before).items())}

    @property
    def gateway(self) -> str:
        return self.stack.services["gateway"].url

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def internal(self) -> dict[str, str]:
        return {"X-Internal-Token": self.stack.env()["RESONANZ_INTERNAL_TOKEN"],
                "X-Tenant-Id": self.tenant}

    async def post_feedback(self) -> bool:
        # Distinct texts, as real shoppers write: identical ones would all be near-duplicates.
        body = {**PAYLOAD, "body": f"{PAYLOAD['body']} Bestellung {uuid.uuid4().hex[:12]}."}
        async with self.http.post(f"{self.gateway}/v1/feedback", json=body,
                                  headers=self.auth()) as r:
            await r.read()
            if r.status != 201:
                self.refusals[r.status] += 1
            return r.status == 201

    async def ingest(self) -> None:
        progress("ingest: warm-up, 2 s")
        await closed_loop(self.post_feedback, self.concurrency, 2)  # warm-up
        cpu: dict[str, dict[str, float]] = {}
        self.meter.start()
        before = self.refusals.copy()
        progress(f"ingest: capacity through the gateway, {self.concurrency} clients,"
                 f" {self.seconds:g} s")
        through = await closed_loop(self.post_feedback, self.concurrency, self.seconds)
        cpu["through_gateway"] = self.meter.per_item_ms(through.ok)
        progress(f"ingest: {through.rate:.0f} writes/s; now the raw durable write")
        raw = await self.raw_writes(cpu)
        # The raw writes left their outbox rows for the relay: publish them first, or the
        # latency at 80 % would pay for the raw scenario's events.
        drained = await self.drain()
        progress(f"ingest: raw {raw.rate:.0f} writes/s; now {0.8 * through.rate:.0f}/s"
                 " (80 %) open loop")
        at80 = await open_loop(self.post_feedback, 0.8 * through.rate, self.seconds)
        self.results["ingest"] = {
            "gateway": through.summary(), "raw_durable_write": raw.summary(),
            "ratio": round(through.rate / raw.rate, 3), "at_80_percent": at80.summary(),
            "refused": self.refused_since(before),
            "cpu_ms_per_write": cpu, "drain_before_80_percent_s": drained,
            "target": "ratio >= 0.5; p99 <= 100 ms at 80 %",
            "met": through.rate >= 0.5 * raw.rate and pct(at80.latencies, 99) <= 0.1,
        }

    async def raw_writes(self, cpu: dict[str, dict[str, float]]) -> Load:
        """The same durable write without the platform: entry row + outbox row, one tx."""
        dsn = with_user(self.stack.database_url, service_role("feedback"), None)
        pool = await asyncpg.create_pool(dsn, min_size=self.concurrency,
                                         max_size=self.concurrency)
        assert pool is not None
        body = json.dumps(PAYLOAD).encode()

        async def write() -> bool:
            async with pool.acquire() as conn, conn.transaction():
                entry_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO entries (id, tenant_id, body, rating, category)"
                    " VALUES ($1, $2, $3, $4, $5)", entry_id, self.tenant, PAYLOAD["body"],
                    PAYLOAD["rating"], PAYLOAD["category"])
                await conn.execute(
                    "INSERT INTO outbox (event_id, topic, key, payload)"
                    " VALUES ($1, 'bench.raw', $2, $3)", uuid.uuid4(), str(entry_id), body)
            return True

        try:
            await closed_loop(write, self.concurrency, 1)
            self.meter.start()
            load = await closed_loop(write, self.concurrency, self.seconds)
            cpu["raw_durable_write"] = self.meter.per_item_ms(load.ok)
            return load
        finally:
            await pool.close()

    async def gateway_overhead(self) -> None:
        progress("gateway_overhead: GET through the gateway, then direct")
        async with self.http.post(f"{self.gateway}/v1/feedback", json=PAYLOAD,
                                  headers=self.auth()) as r:
            entry = (await r.json())["data"]["id"]
        feedback = self.stack.services["feedback"].url

        async def through() -> bool:
            async with self.http.get(f"{self.gateway}/v1/feedback/{entry}",
                                     headers=self.auth()) as r:
                await r.read()
                return r.status == 200

        async def direct() -> bool:
            async with self.http.get(f"{feedback}/entries/{entry}",
                                     headers=self.internal()) as r:
                await r.read()
                return r.status == 200

        await closed_loop(through, self.concurrency, 1)
        gw = await closed_loop(through, self.concurrency, self.seconds)
        svc = await closed_loop(direct, self.concurrency, self.seconds)
        one_gw = await closed_loop(through, 1, 3)
        one_svc = await closed_loop(direct, 1, 3)
        added = pct(one_gw.latencies, 50) - pct(one_svc.latencies, 50)
        self.results["gateway_overhead"] = {
            "through_gateway": gw.summary(), "direct": svc.summary(),
            "ratio": round(gw.rate / svc.rate, 3), "added_p50_ms_single_client": ms(added),
            "target": "ratio >= 0.6; adds <= 1 ms at p50",
            "met": gw.rate >= 0.6 * svc.rate and added <= 0.001,
        }

    async def metric(self, service: str, name: str) -> float:
        async with self.http.get(f"{self.stack.services[service].ops_url}/metrics") as r:
            text = await r.text()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith((name + "{", name + " ")))

    async def drain(self, limit: float = 180.0) -> float:
        """Wait until the pipeline has caught up, so a latency scenario starts level."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit:
            pending = (await self.metric("feedback", "resonanz_outbox_backlog")
                       + await self.metric("analytics", "resonanz_consumer_lag")
                       + await self.metric("webhook_dispatcher", "resonanz_consumer_lag")
                       + await self.metric("webhook_dispatcher", "resonanz_webhook_queue_depth"))
            if pending == 0:
                break
            await asyncio.sleep(0.5)
        return round(time.perf_counter() - started, 1)

    async def visible_in_summary(self, samples: int = 30) -> list[float]:
        """POST one entry at a time, each timed until the summary counts it."""
        latencies = []
        for _ in range(samples):
            before = await self.summary_total()
            started = time.perf_counter()
            assert await self.post_feedback()
            while await self.summary_total() <= before:
                if time.perf_counter() - started > 10:
                    break
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - started)
        return latencies

    async def event_to_analytics(self, samples: int = 30) -> None:
        progress("event_to_analytics: POST -> summary, one at a time on an idle platform")
        latencies = await self.visible_in_summary(samples)
        self.results["event_to_analytics"] = {
            "samples": samples, "p50_ms": ms(pct(latencies, 50)),
            "p99_ms": ms(pct(latencies, 99)), "target": "p99 <= 1 s",
            "met": pct(latencies, 99) <= 1.0}

    def capacity(self) -> float:
        """Writes per second the platform took in the ingest scenario (closed loop)."""
        return float(self.results["ingest"]["gateway"]["rate_per_s"])

    async def analytics_at_capacity(self, fractions: tuple[float, ...] = (0.25, 0.5)) -> None:
        """POST → summary while another tenant writes at a fraction of the capacity: the
        pipeline (relay, broker, aggregator) is shared, so the samples wait behind the load."""
        out: dict[str, Any] = {"capacity_per_s": self.capacity()}
        met = True
        for fraction in fractions:
            rate = fraction * self.capacity()
            progress(f"analytics_at_capacity: {fraction:.0%} = {rate:.0f} writes/s")
            sampler, loader = await self.other_tenant(), await self.other_tenant()
            load = asyncio.create_task(loader.timed_posts(rate, self.seconds))
            await asyncio.sleep(1.0)  # the samples run inside the load, not before it
            latencies = await sampler.visible_in_summary()
            sent = len(await load)
            out[f"at_{fraction:.0%}"] = {"rate_per_s": round(rate, 1), "load_sent": sent,
                                         "p50_ms": ms(pct(latencies, 50)),
                                         "p99_ms": ms(pct(latencies, 99))}
            met = met and pct(latencies, 99) <= 1.0
            await self.drain()
        self.results["analytics_at_capacity"] = {
            **out, "target": "p99 <= 1 s at 25 % and 50 % of capacity", "met": met}

    async def summary_total(self, tenant_key: str | None = None) -> int:
        async with self.http.get(f"{self.gateway}/v1/analytics/summary?period=7d",
                                 headers={"Authorization": f"Bearer {tenant_key or self.key}"}
                                 ) as r:
            return int((await r.json())["data"]["total_submissions"])

    async def subscribe(self, url: str) -> str:
        async with self.http.post(f"{self.gateway}/api/v1/webhooks", headers=self.auth(),
                                  json={"url": url, "events": ["feedback_created"]}) as r:
            assert r.status == 201, await r.text()
            return str((await r.json())["data"]["id"])

    async def unsubscribe(self, subscriptions: list[str]) -> None:
        """Delete them: what was queued for them is cancelled."""
        for subscription in subscriptions:
            async with self.http.delete(f"{self.gateway}/api/v1/webhooks/{subscription}",
                                        headers=self.auth()) as r:
                assert r.status in (200, 204), await r.text()

    async def timed_posts(self, rate: float, seconds: float) -> dict[str, float]:
        """POST at a fixed rate; the start time of each accepted entry, by id."""
        sent: dict[str, float] = {}

        async def one() -> bool:
            started = time.perf_counter()
            body = {**PAYLOAD, "body": f"{PAYLOAD['body']} #{uuid.uuid4().hex[:10]}"}
            async with self.http.post(f"{self.gateway}/v1/feedback", json=body,
                                      headers=self.auth()) as r:
                if r.status != 201:
                    self.refusals[r.status] += 1
                    return False
                sent[(await r.json())["data"]["id"]] = started
            return True

        await open_loop(one, rate, seconds)
        return sent

    async def warm_up(self, receiver: Receiver, rate: float, seconds: float = 3.0) -> None:
        """Webhooks at `rate` for a few seconds, not measured: a baseline taken on a platform
        that has just started (pools, caches, the first connections to the receiver) reads
        slower than it is and would make "within 10 % of alone" too easy."""
        await self.delivered(receiver, await self.timed_posts(rate, seconds))

    async def delivered(self, receiver: Receiver, sent: dict[str, float]) -> list[float]:
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline and not sent.keys() <= receiver.arrived.keys():
            await receiver.wait_for_more(deadline - time.perf_counter())
        return [receiver.arrived[i] - t for i, t in sent.items() if i in receiver.arrived]

    async def webhook_latency(self, rate: float) -> dict[str, Any]:
        """POST at `rate` on a tenant of its own with one healthy endpoint: when each
        entry's signed webhook arrived, and where the time went."""
        tenant = await self.other_tenant()
        receiver = Receiver()
        await receiver.start()
        await tenant.subscribe(receiver.url)
        try:
            self.meter.start()
            sent = await tenant.timed_posts(rate, self.seconds)
            latencies = await tenant.delivered(receiver, sent)
            cpu = self.meter.per_item_ms(len(sent))
            stages = await tenant.stages(receiver, sent)
        finally:
            await receiver.stop()
        return {"rate_per_s": round(rate, 1), "sent": len(sent), "delivered": len(latencies),
                "p50_ms": ms(pct(latencies, 50)), "p99_ms": ms(pct(latencies, 99)),
                "stages_p50_p99_ms": stages, "cpu_ms_per_event": cpu,
                "complete": len(latencies) == len(sent) == int(rate * self.seconds),
                "within": pct(latencies, 50) <= 0.05 and pct(latencies, 99) <= 0.25}

    async def event_to_webhook(self, rate: float = 200.0) -> None:
        """The absolute 200 events/s of earlier runs, kept as a reported figure: on a slow
        machine it is most of what the platform can take at all (webhook_at_capacity is the
        target)."""
        progress(f"event_to_webhook: {rate:g} events/s for {self.seconds:g} s")
        found = await self.webhook_latency(rate)
        self.results["event_to_webhook"] = {
            **found, "reported": "p50 / p99 at an absolute 200 events/s (not a target)"}

    async def webhook_at_capacity(self, fractions: tuple[float, ...] = (0.25, 0.5)) -> None:
        out: dict[str, Any] = {"capacity_per_s": self.capacity()}
        for fraction in fractions:
            rate = fraction * self.capacity()
            progress(f"webhook_at_capacity: {fraction:.0%} = {rate:.0f} events/s")
            out[f"at_{fraction:.0%}"] = await self.webhook_latency(rate)
            await self.drain()
        half = out[f"at_{fractions[-1]:.0%}"]
        self.results["webhook_at_capacity"] = {
            **out, "target": "p50 <= 50 ms, p99 <= 250 ms at 50 % of capacity, all delivered",
            "met": all(out[f"at_{f:.0%}"]["complete"] for f in fractions) and half["within"]}

    async def stages(self, receiver: Receiver, sent: dict[str, float]
                     ) -> dict[str, tuple[float, float]]:
        """Where a webhook's time goes, from the rows' own timestamps: POST → outbox row
        (gateway, scoring), → relay's claim, → delivery row (publish, broker, consumer),
        → attempt (dispatcher's claim), → received."""
        to_wall = time.time() - time.perf_counter()
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            rows = await conn.fetch(
                "SELECT o.key, extract(epoch FROM o.created_at) AS queued,"
                " extract(epoch FROM o.published_at) AS claimed,"
                " extract(epoch FROM d.created_at) AS fanned_out,"
                " extract(epoch FROM a.attempted_at) AS attempted"
                " FROM feedback.outbox o JOIN webhooks.deliveries d ON d.event_id = o.event_id"
                " JOIN webhooks.attempts a ON a.delivery_id = d.id"
                " JOIN webhooks.subscriptions s ON s.id = d.subscription_id WHERE s.url = $1",
                receiver.url)
        finally:
            await conn.close()
        names = ["post_to_outbox", "outbox_to_relay", "relay_to_delivery_row",
                 "delivery_row_to_attempt", "attempt_to_received"]
        spans: dict[str, list[float]] = {name: [] for name in names}
        for row in rows:
            if row["key"] not in sent or row["key"] not in receiver.arrived:
                continue
            marks = [sent[row["key"]] + to_wall, *(float(row[c]) for c in
                     ("queued", "claimed", "fanned_out", "attempted")),
                     receiver.arrived[row["key"]] + to_wall]
            for name, start, end in zip(names, marks, marks[1:], strict=False):
                spans[name].append(end - start)
        return {name: (ms(pct(v, 50)), ms(pct(v, 99))) for name, v in spans.items()}

    async def phase(self, healthy: Receiver, beside: Bench | None = None) -> Phase:
        """This tenant at RATE_B for twice the bench's seconds (a p99 of 500 webhooks is
        the fifth-slowest one), `beside` posting at RATE_A meanwhile: the delivery latencies
        at `healthy` and their stages."""
        posts = [self.timed_posts(RATE_B, 2 * self.seconds)]
        if beside is not None:
            posts.append(beside.timed_posts(RATE_A, 2 * self.seconds))
        self.meter.start()
        sent = (await asyncio.gather(*posts))[0]
        latencies = await self.delivered(healthy, sent)
        cpu = self.meter.per_item_ms(len(sent))
        return Phase(latencies, await self.stages(healthy, sent), cpu)

    async def around(self, owner: Bench, baseline: Callable[[], Awaitable[Phase]],
                     beside: Callable[[Receiver], Awaitable[tuple[list[str], Phase]]],
                     rounds: int = 3) -> Alternated:
        """`baseline`, then `rounds` times `beside` (the same beside dead endpoints of
        `owner` at a fresh hanging receiver, which it returns) and `baseline` again once
        those are deleted and answer. The baseline runs bracket each other run, so that a
        machine growing slower during the scenario (the in-memory broker's CPU grows with
        the records it holds) or stalling for a while does not pass for a cost of the dead
        endpoints: on this 2-core machine one 20 s run's p99 moved by a third between
        runs minutes apart, more than the 10 % the target allows, so there are three
        rounds: two left the comparison to chance (one hanging endpoint of the same
        tenant, which costs a delivery row an entry, read as 23 % slower in one run and
        2 % in another)."""
        runs = Alternated([await baseline()], [])
        for _ in range(rounds):
            async with Receiver(hang=True) as dead:
                dead_endpoints, measured = await beside(dead)
                await owner.unsubscribe(dead_endpoints)
            runs.measured.append(measured)
            # Deleting the endpoints cancels their waiting deliveries, and closing the
            # hanging receiver answers every attempt still held there at once (a dead
            # tenant's whole share of slots): both are the dead endpoints' cost, so the next
            # baseline starts once they have been recorded, not while they are.
            await asyncio.sleep(SETTLE_AFTER_DEAD_S)
            runs.baselines.append(await baseline())
        return runs

    async def isolation(self) -> None:
        """A healthy endpoint's delivery p99 alone, beside a hanging endpoint of the same
        tenant, alternated."""
        progress(f"isolation: {RATE_B:g}/s to a healthy endpoint, alone and beside a hanging"
                 " one, alternated")
        b = await self.other_tenant()

        async def beside(dead: Receiver) -> tuple[list[str], Phase]:
            endpoints = [await b.subscribe(dead.url)]
            return endpoints, await b.phase(healthy)

        async with Receiver() as healthy:
            await b.subscribe(healthy.url)
            await b.warm_up(healthy, RATE_B)
            runs = await b.around(b, lambda: b.phase(healthy), beside)
        self.results["isolation"] = {
            **runs.report("healthy_alone", "healthy_beside_hanging", self.expected()),
            "target": "p99 beside a hanging endpoint within 10 % of alone (runs alternated:"
                      " alone, then beside and alone three times; the mean of the runs' p99s"
                      " beside against the alone runs' weighted 1, 2, 2, 1)",
            "met": runs.within_tenth(self.expected())}

    async def tenant_isolation(self, hanging: int = 100) -> None:
        """Tenant B's healthy endpoint beside tenant A's entries (RATE_A a second) without
        endpoints, alternated with the same entries fanned out to `hanging` endpoints of A's
        that never answer (500 deliveries a second by default): only the dead endpoints
        differ, and B's p99 beside them must stay within 10 %. B without A at all, first, is
        reported: what A's traffic itself costs on a shared machine."""
        progress(f"tenant_isolation: tenant B at {RATE_B:g}/s alone; then beside tenant A's"
                 f" {RATE_A:g}/s, alternated with them fanned out to {hanging} hanging"
                 " endpoints")
        a, b = await self.other_tenant(), await self.other_tenant()

        async def beside(dead: Receiver) -> tuple[list[str], Phase]:
            endpoints = [await a.subscribe(f"{dead.url}?endpoint={n}") for n in range(hanging)]
            measured = await b.phase(healthy, beside=a)
            progress(f"tenant_isolation: B's p99 {measured.p99_ms} ms beside A's hanging"
                     " endpoints; deleting them, then beside A's entries again")
            return endpoints, measured

        async with Receiver() as healthy:
            await b.subscribe(healthy.url)
            await b.warm_up(healthy, RATE_B)
            alone = await b.phase(healthy)
            progress(f"tenant_isolation: B's p99 {alone.p99_ms} ms alone; now beside A's"
                     " entries")
            runs = await b.around(a, lambda: b.phase(healthy, beside=a), beside)
        self.results["tenant_isolation"] = {
            "hanging_endpoints_of_tenant_a": hanging,
            "tenant_b_without_tenant_a_p99_ms": alone.p99_ms,
            "tenant_b_without_tenant_a_stages_p50_p99_ms": alone.stages,
            **runs.report("tenant_b_beside_a_entries_without_endpoints",
                          "tenant_b_beside_a_hanging_endpoints", self.expected()),
            "target": "tenant B's p99 beside A's entries fanned out to hanging endpoints within"
                      " 10 % of beside the same entries without endpoints (runs alternated:"
                      " without, then with and without three times; the mean of the runs' p99s"
                      " with against the runs' without weighted 1, 2, 2, 1)",
            "met": runs.within_tenth(self.expected())}

    def expected(self) -> int:
        """Webhooks a phase sends to the healthy endpoint."""
        return int(RATE_B * 2 * self.seconds)

    async def scale(self, rows: int) -> None:
        tenant, key = await asyncio.to_thread(unlimited_tenant, self.stack)
        began = time.monotonic()
        progress(f"scale: loading {rows:,} entries and their aggregates")
        await bulk_load(self.stack.database_url, tenant, rows)
        loaded = time.monotonic() - began
        progress(f"scale: loaded in {loaded:.0f} s; timing pages, summaries and inbox lists")
        auth = {"Authorization": f"Bearer {key}"}

        async def timed(path: str) -> tuple[float, Any]:
            started = time.perf_counter()
            async with self.http.get(self.gateway + path, headers=auth) as r:
                body = await r.json()
                assert r.status == 200, body
            return time.perf_counter() - started, body

        cursor_lat, page_lat, summary_lat = [], [], []
        _, body = await timed("/v1/feedback?limit=50&cursor=")
        for _ in range(200):
            took, body = await timed(body["links"]["next"])
            cursor_lat.append(took)
        for page in (1, 10, 100, 1000, 5000, 20000):
            took, _ = await timed(f"/v1/feedback?limit=50&page={page}")
            page_lat.append(took)
        first_page = [(await timed("/v1/feedback?limit=50&page=1"))[0] for _ in range(50)]
        p4f = []
        _, body = await timed("/api/v1/responses?limit=500")
        for _ in range(20):
            took, body = await timed(f"/api/v1/responses?limit=500&cursor={body['next']}")
            p4f.append(took)
        summary = "/v1/analytics/summary?period=90d&group_by="
        await timed(summary + "week")  # as for the cursors: the first request is not timed
        for _ in range(100):
            took, _ = await timed(summary + "week")
            summary_lat.append(took)
        by_day = [(await timed(summary + "day"))[0] for _ in range(21)][1:]
        inbox: dict[str, list[float]] = {name: [] for name in INBOX_QUERIES}
        for name, query in INBOX_QUERIES.items():
            await timed(f"/v1/feedback?{query}")  # warm, not timed
            for _ in range(50):
                inbox[name].append((await timed(f"/v1/feedback?{query}"))[0])
        inbox_all = [t for times in inbox.values() for t in times]
        self.results["scale"] = {
            "entries": rows, "bulk_load_s": round(loaded, 1),
            "cursor_page_50": {"p50_ms": ms(pct(cursor_lat, 50)),
                               "p99_ms": ms(pct(cursor_lat, 99))},
            "p4f_cursor_page_500": {"p50_ms": ms(pct(p4f, 50)), "p99_ms": ms(pct(p4f, 99))},
            "page_by_number_ms": dict(zip(["1", "10", "100", "1000", "5000", "20000"],
                                          [ms(x) for x in page_lat], strict=True)),
            "page_1_with_total": {"p50_ms": ms(pct(first_page, 50)),
                                  "p99_ms": ms(pct(first_page, 99))},
            "summary": {"p50_ms": ms(pct(summary_lat, 50)), "p99_ms": ms(pct(summary_lat, 99))},
            "summary_90d_by_day": {"p50_ms": ms(pct(by_day, 50)), "max_ms": ms(max(by_day))},
            "inbox": {name: {"p50_ms": ms(pct(t, 50)), "p99_ms": ms(pct(t, 99))}
                      for name, t in inbox.items()},
            "target": "p99 <= 25 ms for cursor pages (50 and 500 rows), page 1 with its"
                      " total and the summary; inbox p99 <= 100 ms",
            "met": max(pct(cursor_lat, 99), pct(p4f, 99), pct(first_page, 99),
                       pct(summary_lat, 99)) <= 0.025 and pct(inbox_all, 99) <= 0.1,
        }


class Receiver:
    """A local webhook endpoint: records when each entry's delivery arrived; can hang."""

    def __init__(self, hang: bool = False) -> None:
        self.arrived: dict[str, float] = {}
        self.hang = hang
        self.released = asyncio.Event()
        self.more = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.hang:  # read first: a request its sender gave up on has no body to read
            await self.released.wait()
        self.arrived.setdefault(body["data"]["entry"]["id"], time.perf_counter())
        self.more.set()
        return web.Response(status=204)

    async def wait_for_more(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.more.wait(), max(0.0, seconds))
        self.more.clear()

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def release(self) -> None:
        """Stop hanging: the requests held so far are answered, later ones at once."""
        self.hang = False
        self.released.set()

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()  # no handler left waiting when the server shuts down
        await self.stop()


# Bodies from a few German and English sentences (so full-text search has stems to find,
# some common, some rare), quality labels and scores, assignees on a tenth.
BULK_ENTRIES = """
    INSERT INTO feedback.entries (id, tenant_id, body, rating, category, status, assignee,
                                  quality, quality_score, reward_status, answers,
                                  created_at, updated_at, first_response_at, resolved_at)
    SELECT gen_random_uuid(), $1::uuid,
           (ARRAY['Die Lieferung kam pünktlich, alles gut verpackt.',
                  'Lieferungen dauern zu lange, Paket beschädigt.',
                  'The parcel shipped quickly, great fabric.',
                  'Size guide is wrong, trousers too small.',
                  'Checkout button was unresponsive on mobile Safari.',
                  'Rücksendung war einfach, Geld schnell zurück.',
                  'Customer service answered within an hour.'])[1 + g % 7]
           || ' Bestellung ' || g, 1 + g % 5,
           (ARRAY['usability','delivery','price'])[1 + g % 3], status,
           CASE WHEN g % 10 = 0 THEN '00000000-0000-0000-0000-00000000000' || (g / 10 % 10)
           END,
           jsonb_build_object('label', (ARRAY['good','fair','poor','spam'])[1 + g % 4],
                              'score', (g * 37) % 101) || $3::jsonb,
           (g * 37) % 101,
           (ARRAY['pending','approved','rejected','none'])[1 + g / 7 % 4],
           CASE WHEN g % 3 = 0 THEN jsonb_build_object('q2', 'Tracking worked ' || g)
                ELSE '{}'::jsonb END,
           created, now(), CASE WHEN status <> 'new' THEN created + exp(u * ln(172800))
                       * interval '1 second' END,
           CASE WHEN status IN ('resolved', 'archived') THEN created
                + exp(u * ln(604800)) * interval '1 second' END
    FROM generate_series(1, $2) AS g,
         LATERAL (SELECT (ARRAY['new','pending','resolved','resolved','archived',
                                'in_progress'])[1 + g % 6] AS status,
                         now() - (g % 80) * interval '1 day'
                         - (g % 86400) * interval '1 second' AS created,
                         ((g::bigint * 7919) % 10007) / 10007.0 AS u) AS x
"""

# The inbox's typical lists (issue 16): newest first, a filter or two, a search term;
# `me` is one of the bulk assignees.
INBOX_QUERIES = {
    "newest": "limit=50&cursor=",
    "status_open": "limit=50&cursor=&status=new,pending,in_progress",
    "rating_low_quality_good": "limit=50&cursor=&rating=1,2&quality=good",
    "assignee": "limit=50&cursor=&assignee=00000000-0000-0000-0000-000000000003",
    "search_common": "limit=50&cursor=&q=Lieferung",
    "search_rare": "limit=50&cursor=&q=Bestellung%20123457",
    "search_and_filters": "limit=50&cursor=&q=shipping&rating_min=4&score_min=50",
    "reward_pending": "limit=50&cursor=&reward_status=pending",
}


async def bulk_load(database_url: str, tenant: str, rows: int) -> None:
    """1 M entries straight into the feedback schema, and their aggregates computed in SQL
    as the analytics service keeps them: a benchmark fixture, standing in for months of
    traffic. Two thirds were answered within two days, a third resolved within a week
    (a third of those archived afterwards), spread over hundreds of duration buckets; each
    carries a quality breakdown of the scorer's size (before 2026-12-04 only its label)."""
    conn = await asyncpg.connect(database_url)
    try:
        # Beside its label and score, each entry's quality as the scorer writes it: the
        # components with their reasons are most of an entry's bytes (1.3 kB).
        quality = score_feedback("Checkout button was unresponsive on mobile Safari.", 2, None,
                                 []).as_dict()
        parts = {k: v for k, v in quality.items() if k not in ("label", "score")}
        await conn.execute(BULK_ENTRIES, tenant, rows, orjson.dumps(parts).decode())
        # Months of traffic would have been through autovacuum (insert-triggered since
        # PostgreSQL 13): the visibility map is set, so index-only scans are possible.
        await conn.execute("VACUUM (ANALYZE) feedback.entries")
        for statement in BULK_AGGREGATES:
            await conn.execute(statement, tenant)
        await conn.execute("VACUUM (ANALYZE) analytics.stats, analytics.counts,"
                           " analytics.durations")
    finally:
        await conn.close()


def _contributing(spans: tuple[int, ...]) -> str:
    """Each entry's contribution at each of the grains `spans` (minutes), for the whole
    shop and for its widget if it has one, as resonanz.analytics.domain.contribution and
    store.by_row compute it."""
    grains = ", ".join(f"({span}::smallint)" for span in spans)
    return f"""
    WITH m AS (
        SELECT tenant_id, e.w, created_at, status, rating, category,
               CASE WHEN first_response_at IS NOT NULL THEN greatest(0, round(
                   extract(epoch FROM first_response_at - created_at) * 1000))::bigint
               END AS response_ms,
               CASE WHEN status IN ('resolved', 'archived') THEN greatest(0, round(
                   extract(epoch FROM resolved_at - created_at) * 1000))::bigint
               END AS resolve_ms
        FROM feedback.entries
        CROSS JOIN LATERAL (VALUES (widget_id), ('{EVERY_WIDGET}'::uuid)) AS e(w)
        WHERE tenant_id = $1 AND deleted_at IS NULL AND e.w IS NOT NULL
    ), c AS (
        SELECT m.*, g.span, date_bin(g.span * interval '1 minute', created_at,
                                     timestamptz '{EPOCH.isoformat()}') AS start
        FROM m CROSS JOIN (VALUES {grains}) AS g(span)
    )"""


BULK_AGGREGATES = (
    _contributing(STAT_GRAINS) + """
    INSERT INTO analytics.stats (tenant_id, span, start, widget_id, submissions, rating_count,
                                 rating_sum, responded, response_ms, resolved, resolve_ms)
    SELECT tenant_id, span, start, w, count(*), count(rating), coalesce(sum(rating), 0),
           count(response_ms), coalesce(sum(response_ms), 0), count(resolve_ms),
           coalesce(sum(resolve_ms), 0)
    FROM c GROUP BY tenant_id, span, start, w""",
    _contributing(STAT_GRAINS) + """
    INSERT INTO analytics.counts (tenant_id, span, start, widget_id, dimension, value, n)
    SELECT tenant_id, span, start, w, dimension, value, count(*)
    FROM c, LATERAL (VALUES ('status', status), ('category', category),
                            ('rating', rating::text)) AS d(dimension, value)
    WHERE value IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6""",
    # Rows of FINE log-scale buckets (domain.duration_bucket), each row's counts an array.
    _contributing(DURATION_GRAINS) + f"""
    INSERT INTO analytics.durations (tenant_id, span, start, widget_id, measure, first_bucket,
                                     n, counts)
    SELECT tenant_id, span, start, w, measure, first_bucket, sum(n),
           analytics.dense_counts(array_agg(bucket - first_bucket), array_agg(n))
    FROM (SELECT tenant_id, span, start, w, measure, bucket,
                 bucket / {FINE} * {FINE} AS first_bucket, count(*) AS n
          FROM c, LATERAL (VALUES ('response', response_ms), ('resolve', resolve_ms))
               AS d(measure, ms),
               LATERAL (SELECT CASE WHEN ms < 1 THEN 0 ELSE 1 + floor(ln(ms::float8)
                               / ln({GAMMA}::float8))::int END AS bucket) AS b
          WHERE ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6) f
    GROUP BY 1, 2, 3, 4, 5, 6""",
)


# The *_at_capacity scenarios load at fractions of what ingest measured, so ingest runs first.
# Each group starts on a platform of its own. The in-memory broker keeps every record it was
# sent (Tansu cannot trim a topic) and answers slower the more it holds: after the capacity
# scenarios its CPU per event at 50 entries a second had grown from 3 to 12-17 ms, most of a
# core, and the isolation scenarios measured its decline (tenant B's p99 93, 202, 596 and
# 812 ms in four runs without any dead endpoint) instead of isolation. A production broker's
# fetch does not cost more for a longer log.
PLATFORM_GROUPS = (
    ("ingest", "gateway_overhead", "event_to_analytics", "analytics_at_capacity",
     "webhook_at_capacity", "event_to_webhook"),
    ("isolation",), ("tenant_isolation", "scale"))
SCENARIOS = tuple(name for group in PLATFORM_GROUPS for name in group)
# The isolation scenarios end by deleting their dead endpoints (what was queued for them is
# cancelled), and the scale scenario after them needs no level start: no drain after them.
DRAINED_AFTER = ("ingest", "gateway_overhead", "event_to_analytics", "analytics_at_capacity",
                 "webhook_at_capacity", "event_to_webhook")


def table(results: dict[str, Any]) -> str:
    lines = []
    for name, result in results.items():
        if isinstance(result, dict) and ("met" in result or "reported" in result):
            flag = ("INFO" if "met" not in result else "MET " if result["met"] else "MISS")
            lines.append(f"[{flag}] {name:<22} {result.get('target', result.get('reported'))}")
            for key, value in result.items():
                if key not in ("met", "target", "reported"):
                    lines.append(f"         {key}: {value}")
        else:
            lines.append(f"       {name}: {result}")
    return "\n".join(lines)


async def run(platform: Platform, args: argparse.Namespace, chosen: tuple[str, ...]
              ) -> dict[str, Any]:
    stack = platform.stack
    assert stack is not None
    tenant, key = await asyncio.to_thread(unlimited_tenant, stack)
    idle = rss_mb(stack)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        bench = Bench(stack, http, tenant, key, args.concurrency, args.seconds,
                      meter=CpuMeter(platform))
        bench.results["machine"] = {"cpus": os.cpu_count(),
                                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                                    "concurrency": args.concurrency}
        bench.results["stack_start_s"] = round(platform.started_in, 1)
        for name in chosen:
            if name == "ingest":
                await bench.ingest()
                bench.results["rss_mb"] = {"idle": idle, "after_load": rss_mb(stack)}
            elif name == "scale":
                if args.rows:
                    await bench.scale(args.rows)
            else:
                await getattr(bench, name)()
            if name in DRAINED_AFTER:  # the next scenario starts level
                bench.results[f"drain_after_{name}_s"] = await bench.drain()
    return bench.results


def main() -> None:
    parser = argparse.ArgumentParser(prog="tools/bench.py")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", default="",
                        help=f"comma-separated scenarios to run, of: {', '.join(SCENARIOS)}")
    args = parser.parse_args()
    chosen = SCENARIOS if not args.only else tuple(args.only.split(","))
    if unknown := set(chosen) - set(SCENARIOS):
        parser.error(f"no such scenario: {', '.join(sorted(unknown))}")
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    starts: list[float] = []
    for group in PLATFORM_GROUPS:
        names = tuple(name for name in chosen if name in group)
        if not names:
            continue
        progress(f"a fresh platform for: {', '.join(names)}")
        with tempfile.TemporaryDirectory(prefix="resonanz-bench-") as base:
            platform = Platform(Path(base))
            try:
                platform.start()
                found = asyncio.run(run(platform, args, names))
            finally:
                platform.stop()
        starts.append(found.pop("stack_start_s"))
        results |= {key: value for key, value in found.items() if key not in results}
    results["stack_start_s"] = starts  # one per platform; the first platform's machine
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {OUT / 'results.json'}")


if __name__ == "__main__":
    main()
