"""The README, followed literally: its quick start and "Your own shop" shell blocks run
against `make run`'s platform, its operator CLI lines work from the checkout, its webhook
verification code verifies, and its configuration table is the settings classes'."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from resonanz.devstack.run import Platform

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / "tools"))
import settings_table  # noqa: E402


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A second shell's view of a checkout where `make run` is up: `.run/` and `.venv`."""
    home = tmp_path_factory.mktemp("checkout")
    (home / ".venv").symlink_to(ROOT / ".venv")
    platform = Platform(home / ".run")
    try:
        platform.start()
        yield home
    finally:
        platform.stop()


def shell(checkout: Path, script: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESONANZ_")}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{script}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    return done.stdout


def test_quick_start_and_your_own_shop_work_as_written(checkout: Path) -> None:
    quick = [b for b in blocks(section("Quick start"), "sh") if "make " not in b]
    shop = blocks(section("Your own shop"), "sh")
    assert quick and len(shop) >= 7
    out = shell(checkout, "\n".join([*quick, *shop]))

    replies = json_values(out)
    assert replies, out
    for reply in replies:  # every API answer in the walk is a success in its dialect
        assert reply.get("success", True) is True and "error" not in reply.get("meta", {}), reply
    assert re.search(r'<script src="http://127\.0\.0\.1:\d+/widget\.js" data-widget="wdg_\w+"',
                     out)
    assert re.search(r"whsec_[A-Za-z0-9+/=]{40,}\n", out)
    statuses = {r["data"].get("status") for r in replies if isinstance(r.get("data"), dict)}
    assert {"in_progress", "APPROVED", "pending", "paid"} <= statuses, statuses
    assert_mail_arrives(checkout / ".run" / "mail", "To: kollege@my-shop.example")


def json_values(text: str) -> list[dict[str, Any]]:
    """Every JSON object printed (curl prints no newline after a body)."""
    decoder, found, at = json.JSONDecoder(), [], text.find("{")
    while at != -1:
        value, end = decoder.raw_decode(text, at)
        found.append(value)
        at = text.find("{", end)
    return found


def assert_mail_arrives(directory: Path, header: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if any(header in p.read_text() for p in directory.glob("*.eml")):
            return
        time.sleep(0.2)
    raise AssertionError(f"no mail with {header!r} in {directory} within {within} s")


def test_operator_cli_lines_work_from_the_checkout(checkout: Path) -> None:
    lines = [line for block in blocks(section("Operating it"), "sh")
             for line in block.splitlines() if line.startswith(".venv/bin/python")]
    assert len(lines) >= 7
    created = json.loads(shell(checkout, lines[0]))
    tenant, key = created["tenant"]["id"], created["api_key"]
    listed = json.loads(shell(checkout, lines[2].replace("<tenant id>", tenant)))
    key_id = listed[0]["id"]
    for line in lines[1:]:
        line = line.replace("<tenant id>", tenant).replace("<key id>", key_id)
        if "revoke-key" not in line:
            shell(checkout, line)
    gateway = json.loads((checkout / ".run" / "stack.json").read_text())["gateway"]
    me = shell(checkout, f"curl -sf -H 'Authorization: Bearer {key}' {gateway}/v1/me")
    assert json.loads(me)["data"]["id"] == tenant


def _signed_event(secret: str) -> tuple[bytes, dict[str, str]]:
    body = b'{"type": "feedback_created", "data": {"note": "Gr\xc3\xbc\xc3\x9fe"}}'
    sent = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", sent, body.decode())
    return body, {"webhook-id": "msg_1", "webhook-timestamp": str(int(sent.timestamp())),
                  "webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} {signature}"}


def test_webhook_verification_code_accepts_a_signed_event_and_refuses_a_forged_one() -> None:
    (code,) = blocks(section("Your own shop"), "python")
    scope: dict[str, Any] = {}
    exec(code, scope)  # the README's own example
    verified_event, by_hand = scope["verified_event"], scope["signed_by_resonanz"]
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body, headers = _signed_event(secret)
    forged = body.replace(b"created", b"deleted")
    assert verified_event(secret, body, headers)["type"] == "feedback_created"
    with pytest.raises(Exception, match=r"(?i)signature"):
        verified_event(secret, forged, headers)
    assert by_hand(secret, body, headers) and not by_hand(secret, forged, headers)


def test_the_node_verification_code_accepts_a_signed_event_and_refuses_a_forged_one(
        tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "Node.js is installed by tools/system-deps.sh (make test)"
    (code,) = blocks(section("Your own shop"), "js")
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body, headers = _signed_event(secret)
    script = tmp_path / "verify.js"
    forged = "body.replace('created', 'deleted')"
    script.write_text(code + "\nconst [secret, body, headers] = JSON.parse(process.argv[2]);\n"
                      "console.log(JSON.stringify([signedByResonanz(secret, body, headers),"
                      f" signedByResonanz(secret, {forged}, headers)]));\n")
    argument = json.dumps([secret, body.decode(), headers])
    result = subprocess.run([node, str(script), argument], capture_output=True, text=True,
                            check=True)
    assert json.loads(result.stdout) == [True, False]


def test_configuration_table_is_the_settings_classes() -> None:
    assert settings_table.readme_table(README) == settings_table.table(), (
        "README's configuration table is stale: run `.venv/bin/python tools/settings_table.py"
        " --write`")


# --- the numbers the README states are the code's ------------------------------------------

UNITS = {"s": 1, "min": 60, "h": 3600}


def test_the_retry_schedule_is_the_one_the_readme_states() -> None:
    from resonanz.webhook_dispatcher.domain import MAX_ATTEMPTS, RETRY_DELAYS

    flat = " ".join(README.split())
    stated = re.search(r"retried over about (\d+) hours \(immediately, then after ([^;]*?),"
                       r" each ±(\d+) %\)", flat)
    assert stated, "README's retry sentence"
    hours, delays, jitter = stated.groups()
    after = [int(n) * UNITS[unit] for n, unit in
             (d.split() for d in delays.replace(" and ", ", ").split(", "))]
    assert after == [d.total_seconds() for d in RETRY_DELAYS]
    assert len(after) + 1 == MAX_ATTEMPTS  # the immediate attempt first
    total = sum(after) / 3600
    mentions = re.findall(r"retried [^.]*?about (\d+) hours", flat)
    assert len(mentions) >= 2 and hours in mentions
    assert {round(total)} == {int(h) for h in mentions}, f"the schedule adds up to {total:.1f} h"
    assert jitter == "20"


def test_widget_size_and_config_max_age_are_the_ones_the_readme_states() -> None:
    import gzip

    from resonanz.widgets.app import WidgetsSettings

    flat = " ".join(README.split())
    stated = re.search(r"`widget\.js` \(under (\d+) KB gzipped", flat)
    assert stated, "README's widget.js size"
    script = (ROOT / "services" / "widgets" / "static" / "widget.js").read_bytes()
    assert len(gzip.compress(script, 9)) < int(stated.group(1)) * 1024
    max_age = re.search(r"`Cache-Control: max-age=(\d+)`", flat)
    assert max_age, "README's config max-age"
    assert WidgetsSettings.model_fields["public_config_max_age"].default == int(max_age[1])


def test_every_curl_in_the_readme_is_in_the_walk_the_first_test_runs() -> None:
    walked = "\n".join(blocks(section("Quick start"), "sh") + blocks(section("Your own shop"),
                                                                      "sh"))
    everywhere = [line for block in blocks(README, "sh") for line in block.splitlines()
                  if line.lstrip().startswith("curl ")]
    assert everywhere
    assert [line for line in everywhere if line not in walked] == []
