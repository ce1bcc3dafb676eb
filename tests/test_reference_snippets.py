"""The references' own client snippets — Python requests, Node axios and fetch, curl —
run unchanged against the running platform, with only base URL and key swapped."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api, new_tenant

ONE_PLATFORM_FOR_THE_RUN = True  # conftest: run_stack

SNIPPETS = Path(__file__).parent / "snippets"

FBP_PYTHON = '''
import requests

url = "{base}/v1/feedback"
headers = {{
    "Authorization": "Bearer {key}",
    "Content-Type": "application/json"
}}
payload = {{
    "body": "Checkout button was unresponsive on mobile Safari.",
    "rating": 2,
    "category": "usability",
    "customer_email": "lars.mueller@web.de",
    "metadata": {{"page_url": "/checkout", "browser": "Safari 17.2"}}
}}

response = requests.post(url, json=payload, headers=headers)
print(response.json())
'''

P4F_PYTHON = '''
import os, time, requests
P4F = os.environ["P4F_API_KEY"]
BASE = "{base}/api/v1"
id = os.environ["RESPONSE_ID"]

def p4f(path, method="GET", json=None):
    r = requests.request(method, BASE + path,
                         headers={{"Authorization": f"Bearer {{P4F}}"}},
                         json=json, timeout=10)
    if r.status_code == 429:
        time.sleep(int(r.headers.get("Retry-After", 30)))
        return p4f(path, method, json)
    body = r.json()
    if not body.get("success"):
        raise RuntimeError(body.get("error"))
    return body["data"]

campaigns = p4f("/campaigns")
p4f(f"/responses/{{id}}/approve", method="POST")
print(len(campaigns))
'''


@pytest.fixture(scope="module")
def node_snippets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Node snippets in a folder of their own with axios installed by `npm ci` from the
    committed package-lock.json, through a cache of the run's own (no global module cache,
    nothing written into the source tree)."""
    assert shutil.which("npm"), "Node.js and npm are needed for the Node snippets"
    folder = tmp_path_factory.mktemp("snippets")
    for name in ("package.json", "package-lock.json", "fbp_fetch_pending.js",
                 "p4f_quickstart.mjs"):
        shutil.copy(SNIPPETS / name, folder / name)
    env = {**os.environ, "npm_config_cache": str(folder / ".npm-cache")}
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return folder


async def run(args: list[str], env: dict[str, str] | None = None,
              stdin: str | None = None, cwd: Path = SNIPPETS) -> str:
    done = await asyncio.to_thread(
        subprocess.run, args, input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})}, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def a_response(api: Api) -> str:
    created = await api.ok("POST", "/v1/feedback", {"body": "Passform der Jeans ist top, "
                                                    "Lieferung kam nach zwei Tagen.",
                                                    "rating": 5})
    return str(created["data"]["id"])


async def test_feedbackpro_python_snippet(shared_stack: Stack) -> None:
    _, key = await new_tenant(shared_stack)
    code = FBP_PYTHON.format(base=shared_stack.services["gateway"].url, key=key)
    printed = await run([sys.executable, "-c", code])
    assert "'status': 'new'" in printed and "'request_id': 'req_" in printed


async def test_feedbackpro_node_axios_snippet(shared_stack: Stack, node_snippets: Path,
                                              http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    entry = await a_response(api)
    # A rating without text, as a widget submits it: `entry.body.substring` must not throw.
    rating_only = (await api.ok("POST", "/v1/feedback", {"rating": 3}))["data"]["id"]
    for pending in (entry, rating_only):
        await api.ok("PATCH", f"/v1/feedback/{pending}", {"status": "pending"})
    printed = await run(["node", "fbp_fetch_pending.js"], {
        "RESONANZ_BASE": shared_stack.services["gateway"].url, "RESONANZ_KEY": key},
        cwd=node_snippets)
    assert printed.splitlines()[0] == "Found 2 pending entries"
    assert f"[{entry}] 5★" in printed
    assert f'[{rating_only}] 3★ "..."' in printed


async def test_pay4feedback_node_fetch_snippet(shared_stack: Stack,
                                               http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack)
    entry = await a_response(Api(http, shared_stack, key))
    printed = await run(["node", "p4f_quickstart.mjs"], {
        "RESONANZ_BASE": shared_stack.services["gateway"].url, "P4F_API_KEY": key,
        "RESPONSE_ID": entry})
    assert json.loads(printed) == {"campaigns": 0, "response": entry}


async def test_pay4feedback_python_snippet(shared_stack: Stack,
                                           http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    entry = await a_response(api)
    code = P4F_PYTHON.format(base=shared_stack.services["gateway"].url)
    assert (await run([sys.executable, "-c", code], {"P4F_API_KEY": key,
                                                     "RESPONSE_ID": entry})).strip() == "0"
    assert (await api.ok("GET", f"/api/v1/responses/{entry}"))["data"]["status"] == "APPROVED"


def curl(*args: str) -> list[str]:
    return ["curl", "-sS", "-w", "\\n%{http_code}", *args]


def answered(output: str) -> tuple[int, Any]:
    body, _, status = output.rpartition("\n")
    return int(status), json.loads(body)


async def test_pay4feedback_curl_quick_start(shared_stack: Stack,
                                             http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack)
    entry = await a_response(Api(http, shared_stack, key))
    base, auth = shared_stack.services["gateway"].url, f"Authorization: Bearer {key}"
    steps = [
        curl("-H", auth, f"{base}/api/v1/me"),
        curl("-H", auth, f"{base}/api/v1/campaigns"),
        curl("-H", auth, f"{base}/api/v1/responses"),
        curl("-X", "POST", "-H", auth, f"{base}/api/v1/responses/{entry}/approve"),
        curl("-X", "POST", "-H", auth, "-H", "Content-Type: application/json", "-d",
             '{"url":"https://api.yourapp.com/p4f-webhook",'
             '"events":["reward_approved","payout_completed"],'
             '"secret":"whsec_generate_a_random_one"}', f"{base}/api/v1/webhooks"),
    ]
    results = [answered(await run(step)) for step in steps]
    assert [status for status, _ in results] == [200, 200, 200, 200, 201], results[-1]
    assert all(body["success"] is True for _, body in results)


async def test_feedbackpro_curl_pause_widget(shared_stack: Stack,
                                             http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(shared_stack)
    api = Api(http, shared_stack, key)
    widget = (await api.ok("POST", "/v1/widgets", {"name": "Checkout survey"}))["data"]
    await api.ok("PATCH", f"/v1/widgets/{widget['id']}", {"is_active": True})
    base = shared_stack.services["gateway"].url
    status, body = answered(await run(curl(  # by its public id, as the example's wdg_4nR7xQ
        "-X", "POST", f"{base}/v1/widgets/{widget['public_id']}/pause",
        "-H", f"Authorization: Bearer {key}", "-H", "Content-Type: application/json",
        "-d", '{"reason": "Black Friday campaign — switching to survey mode",'
              ' "resume_at": "2099-12-02T00:00:00Z"}')))
    assert status == 200
    assert body["data"]["status"] == "paused" and body["data"]["id"] == widget["public_id"]
    assert body["data"]["paused_at"] and body["data"]["scheduled_resume"].startswith("2099-12-02")
    assert set(body["data"]) >= {"id", "status", "paused_at", "scheduled_resume"}
    assert body["meta"]["request_id"]
