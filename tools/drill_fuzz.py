"""The fuzz stage of `make drill`: schemathesis against the gateway's own OpenAPI document.

Both dialects, positive and negative data, authenticated as a tenant admin whose rate
limits are lifted. Checks: no 5xx, every response matches the documented schema, every
status is one the document lists. The request count is taken from the gateway's own
metrics, so it is what the platform served, not what the fuzzer planned.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from drill import Platform

TOOLS = Path(__file__).resolve().parent
CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance")
MIN_REQUESTS = 5000
# Schemathesis reports failure codes; these are the checks that raise them.
CHECK_OF_CODE = {"ST101": "not_a_server_error", "ST102": "not_a_server_error",
                 "ST103": "status_code_conformance", "ST108": "response_schema_conformance",
                 "ST109": "response_schema_conformance", "ST110": "response_schema_conformance"}


def served_by_dialect(gateway_ops: str) -> dict[str, int]:
    """Requests the gateway answered on the public paths, by dialect (from its metrics, on
    its operations listener)."""
    with urllib.request.urlopen(f"{gateway_ops}/metrics", timeout=5) as r:
        text = r.read().decode()
    counts = {"FeedBackPro": 0, "Pay4Feedback": 0}
    for line in text.splitlines():
        if not line.startswith("resonanz_http_requests_total{"):
            continue
        value = int(float(line.rsplit(" ", 1)[1]))
        if 'route="/api/v1/' in line:
            counts["Pay4Feedback"] += value
        elif 'route="/v1/' in line:
            counts["FeedBackPro"] += value
    return counts


def st_command(gateway: str, key: str, args: argparse.Namespace, report: Path) -> list[str]:
    return [
        str(Path(sys.executable).with_name("st")), "run", f"{gateway}/v3/api-docs",
        "--header", f"Authorization: Bearer {key}",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(args.fuzz_examples),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--workers", "1", "--seed", str(args.fuzz_seed),  # one: see tests/test_fuzz.py
        "--request-timeout", "10",
        "--report", "json", "--report-json-path", str(report),
        "--output-sanitize", "true",
    ]


def fuzz(platform: Platform, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    gateway = platform.gateway
    _, key = platform.unlimited_tenant("Fuzz")
    report, log = out / "fuzz-report.json", out / "fuzz.log"
    report.unlink(missing_ok=True)
    gateway_ops = platform.stack.services["gateway"].ops_url
    before = served_by_dialect(gateway_ops)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "drill_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TOOLS), os.environ.get("PYTHONPATH")]))}
    print(f"[drill] fuzz: schemathesis, both dialects, log in {log}", flush=True)
    started = time.monotonic()
    with log.open("w") as sink:
        try:
            done = subprocess.run(st_command(gateway, key, args, report), env=env,
                                  stdout=sink, stderr=subprocess.STDOUT,
                                  timeout=args.fuzz_max_time, check=False)
        except subprocess.TimeoutExpired:
            # The run is bounded: out of time is a failed drill with what it served, not a
            # traceback (a loaded machine can stretch the phases past --fuzz-max-time).
            after = served_by_dialect(gateway_ops)
            print(f"[drill] fuzz: stopped after --fuzz-max-time {args.fuzz_max_time:.0f} s:"
                  " FAILED (out of time; see the log)", flush=True)
            return {"exit_code": None, "timed_out": True, "passed": False,
                    "seconds": round(time.monotonic() - started, 1),
                    "requests_by_dialect": {d: after[d] - before[d] for d in after}}
    after = served_by_dialect(gateway_ops)
    return summarise(json.loads(report.read_text()), done.returncode,
                     {d: after[d] - before[d] for d in after}, time.monotonic() - started)


def summarise(doc: dict[str, Any], exit_code: int, served: dict[str, int], took: float
              ) -> dict[str, Any]:
    by_check: dict[str, int] = {check: 0 for check in CHECKS}
    for group in doc["failures"]:
        check = CHECK_OF_CODE.get(group["code"], f"{group['code']} {group['title']}")
        by_check[check] = by_check.get(check, 0) + group["count"]
    requests = sum(served.values())
    result = {
        "exit_code": exit_code, "seconds": round(took, 1),
        "requests_served": requests, "requests_by_dialect": served,
        "test_cases": doc["test_cases"], "operations": doc["operations"],
        "failures_by_check": by_check, "failures": doc["failures"], "errors": doc["errors"],
        "passed": exit_code == 0 and requests >= MIN_REQUESTS and not doc["failures"],
    }
    print(f"[drill] fuzz: {requests} requests ({served}), test cases {doc['test_cases']},"
          f" failures by check {by_check}, errors {doc['errors']}: "
          f"{'passed' if result['passed'] else 'FAILED'}", flush=True)
    return result
