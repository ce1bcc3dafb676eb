"""A bounded, seeded fuzz run over both dialects in every `make test`: schemathesis against
the gateway's own OpenAPI document, authenticated as a tenant admin. Any 5xx, any response
that does not match the document, or any undocumented status fails it. The long run is
`make drill`'s (tools/drill_fuzz.py, which shares the checks and the loopback-only hook)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from resonanz.devstack.supervisor import Stack

from .conftest import Infra, running_stack
from .helpers import new_tenant

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from drill_fuzz import CHECKS  # noqa: E402

EXAMPLES_PER_OPERATION = 20
SEED = 20261202
BUDGET_SECONDS = 60  # a budget: the run stops when it is spent, passing if nothing failed


@pytest.fixture
async def stack(infra: Infra, tmp_path: Path) -> AsyncIterator[Stack]:
    """The platform, with the per-address limit on failed authentication lifted: the run
    sends every operation without its key too, and 429s (with their `Retry-After` waits)
    would spend the budget on the limiter instead of the operations."""
    async with running_stack(infra, tmp_path / "run",
                             {"RESONANZ_AUTH_FAILURES_PER_MINUTE": "100000"}) as running:
        yield running


def _errors_of(output: str) -> str:
    """The run's ERRORS section (what went wrong in the tool, with its traceback), which the
    JSON report reduces to a title and a count."""
    start = output.find(" ERRORS ")
    end = output.find(" SUMMARY ", start)
    return output[start:end][:6000] if start >= 0 else ""


async def test_bounded_fuzz_run_over_both_dialects_finds_no_server_error(
        stack: Stack, tmp_path: Path) -> None:
    _, key = await new_tenant(stack, "Fuzz")
    report = tmp_path / "report.json"
    gateway = stack.services["gateway"].url
    command = [
        str(Path(sys.executable).with_name("st")), "run", f"{gateway}/v3/api-docs",
        "--header", f"Authorization: Bearer {key}",
        "--checks", ",".join(CHECKS),
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--phases", "examples,coverage,fuzzing",
        "--generation-deterministic", "--seed", str(SEED),
        # One worker: on Python 3.11, hypothesis parsing sources (ast) in two threads at once
        # sometimes fails inside CPython ("AST constructor recursion depth mismatch"), which
        # the run reports as a Runtime Error of its own (CI saw it on GET /api/v1/audit-log).
        "--workers", "1", "--request-timeout", "10", "--max-time", str(BUDGET_SECONDS),
        "--report", "json", "--report-json-path", str(report),
        "--output-sanitize", "true",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "drill_hooks",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tools"),
                                                       os.environ.get("PYTHONPATH")]))}
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True,
                                   text=True, timeout=BUDGET_SECONDS + 120, check=False)
    found = json.loads(report.read_text())
    failures = [f"{f['code']} {f['title']} (x{f['count']})" for f in found["failures"]]
    (tmp_path / "stdout.txt").write_text(done.stdout)
    assert not failures and done.returncode == 0, (
        f"{failures}\n{found['errors']}\n{_errors_of(done.stdout)}\n{done.stdout[-2000:]}")
    assert found["operations"]["selected"] >= 30, found["operations"]
