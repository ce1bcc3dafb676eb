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
from pathlib import Path

from resonanz.shared.devstack import Stack

from .helpers import new_tenant

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from drill_fuzz import CHECKS  # noqa: E402

EXAMPLES_PER_OPERATION = 20
SEED = 20261202
BUDGET_SECONDS = 90  # a budget: the run stops when it is spent, passing if nothing failed


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
        "--workers", "2", "--request-timeout", "10", "--max-time", str(BUDGET_SECONDS),
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
    assert not failures and done.returncode == 0, (
        f"{failures}\n{found['errors']}\n{done.stdout[-4000:]}")
    assert found["operations"]["selected"] >= 30, found["operations"]
