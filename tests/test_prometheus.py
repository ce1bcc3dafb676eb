"""A real Prometheus scrapes the running platform and sees every service: the five and the
dashboard."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from resonanz.devstack.supervisor import Stack, free_port, wait_for_port, wait_until_ok
from resonanz.shared.settings import SERVICE_PORTS

from .support import eventually


@pytest.fixture
def prometheus(shared_stack: Stack, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus package is needed (tools/system-deps.sh)"
    targets = [{"targets": [svc.ops_url.removeprefix("http://")], "labels": {"service": name}}
               for name, svc in shared_stack.services.items()]
    config = {"global": {"scrape_interval": "1s"},
              "scrape_configs": [{"job_name": "resonanz", "honor_labels": True,
                                  "static_configs": targets}]}
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (tmp_path / "prometheus.log").open("ab") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        wait_for_port(port, deadline, "prometheus", proc)
        # It listens before it is ready: queries answer 503 until its storage is up.
        wait_until_ok(f"http://127.0.0.1:{port}/-/ready", deadline, "prometheus")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(20)


async def query(http: aiohttp.ClientSession, base: str, promql: str) -> list[dict[str, Any]]:
    async with http.get(f"{base}/api/v1/query", params={"query": promql}) as response:
        body = await response.json()
    result: list[dict[str, Any]] = body.get("data", {}).get("result", [])
    return result


async def test_prometheus_scrapes_a_metric_from_every_service(
    shared_stack: Stack, prometheus: str,
) -> None:
    # What the deployments scrape: every service with a port of its own (the dashboard too).
    assert set(shared_stack.services) == set(SERVICE_PORTS)
    count = len(SERVICE_PORTS)
    async with aiohttp.ClientSession() as http:
        up = await eventually(lambda: query(http, prometheus, "up == 1"),
                              lambda r: len(r) == count, within=30,
                              what=f"all {count} targets up")
        assert {r["metric"]["service"] for r in up} == set(shared_stack.services)
        series = await eventually(
            lambda: query(http, prometheus,
                          "sum by (service) (resonanz_http_requests_total)"),
            lambda r: len(r) == count, within=30, what=f"request counters of all {count}")
        assert {r["metric"]["service"] for r in series} == set(shared_stack.services)
        relay = await eventually(
            lambda: query(http, prometheus, "resonanz_outbox_backlog"),
            lambda r: len(r) >= 3, within=30, what="outbox metrics")
        assert {"gateway", "feedback", "widgets"} <= {r["metric"]["service"] for r in relay}


# What the README names (pool, latency, consumer lag, event age, dead letters) beside every
# series the alert rules and the Grafana dashboard read.
README_METRICS = {"resonanz_db_pool_connections", "resonanz_http_request_duration_seconds",
                  "resonanz_consumer_lag", "resonanz_event_age_at_consumption_seconds",
                  "resonanz_consumer_dead_lettered_total"}
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SUFFIXES = ("_bucket", "_sum", "_count", "_created")


def families(exposition: str) -> set[str]:
    return {line.split()[2] for line in exposition.splitlines() if line.startswith("# TYPE ")}


async def test_every_metric_the_alerts_and_dashboard_read_is_exposed(
    shared_stack: Stack, http: aiohttp.ClientSession,
) -> None:
    read = set(README_METRICS)
    for used in (DEPLOY / "prometheus" / "alerts.yml",
                 DEPLOY / "grafana" / "dashboards" / "resonanz.json"):
        read |= set(re.findall(r"\bresonanz_[a-z_]+", used.read_text()))
    exposed: set[str] = set()
    for service in shared_stack.services.values():
        async with http.get(f"{service.ops_url}/metrics") as response:
            assert response.status == 200
            exposed |= families(await response.text())
    missing = {name for name in read if name not in exposed
               and not any(name.endswith(s) and name[:-len(s)] in exposed for s in SUFFIXES)}
    assert not missing, f"read by alerts or dashboard, exposed by no service: {sorted(missing)}"
