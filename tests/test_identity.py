"""Team members sign in: passwords, browser sessions, invitations accepted by the mailed link,
password resets, CSRF, throttling, timeouts; against the real stack, its mail catcher and
its database.

Every test speaks from a client address of its own (`X-Forwarded-For`, the stack trusting
the loopback proxy), so the per-address sign-in limit of one test never spills into another.
"""

from __future__ import annotations

import asyncio
import email
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from email.message import Message
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl

from resonanz.devstack.supervisor import MailCatcher, ServiceProcess, Stack, free_port

from .conftest import Infra, running_stack
from .helpers import admin, bearer, new_tenant
from .support import eventually, places_holding, query, query_value

PASSWORD = "korrekt-Pferd-Batterie"
WRONG = "email or password is incorrect"


@pytest.fixture(scope="module")
async def stack(infra: Infra, mail: MailCatcher, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[Stack]:
    env = {"RESONANZ_SMTP_HOST": "127.0.0.1", "RESONANZ_SMTP_PORT": str(mail.port),
           "RESONANZ_TRUSTED_PROXIES": "127.0.0.1/32", "RESONANZ_LOG_LEVEL": "DEBUG"}
    async with running_stack(infra, tmp_path_factory.mktemp("identity"), env) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A cookie jar of its own per test, as a browser profile; unsafe: the gateway is an IP.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


def new_address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


class Browser:
    """One person's browser against the gateway: its cookie jar, its address, and the CSRF
    token of its current session."""

    def __init__(self, http: aiohttp.ClientSession, stack: Stack,
                 address: str | None = None) -> None:
        self.http, self.base = http, stack.services["gateway"].url
        self.address = address or f"203.0.113.{uuid.uuid4().int % 250 + 1}"
        self.csrf: str | None = None

    async def call(self, method: str, path: str, json: Any = None,
                   headers: dict[str, str] | None = None, *, csrf: bool = True
                   ) -> tuple[int, Any, Any]:
        sent = {"X-Forwarded-For": self.address, **(headers or {})}
        if csrf and self.csrf and method != "GET":
            sent.setdefault("X-CSRF-Token", self.csrf)
        async with self.http.request(method, self.base + path, json=json,
                                     headers=sent) as response:
            body = await response.json(content_type=None) if response.status != 204 else None
            return response.status, body, response.headers

    async def sign_in(self, email_address: str, password: str = PASSWORD,
                      headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
        status, body, headers = await self.call(
            "POST", "/v1/sessions", {"email": email_address, "password": password}, headers)
        if status == 201:
            self.csrf = body["data"]["csrf_token"]
        return status, body, headers


async def member(stack: Stack, key: str, role: str = "editor",
                 mail_name: str | None = None) -> tuple[str, str]:
    """An invited member who accepted through the API with PASSWORD: (user id, email)."""
    address = f"{mail_name or role}-{uuid.uuid4().hex[:8]}@team.example"
    async with aiohttp.ClientSession() as http:
        async with http.post(stack.services["gateway"].url + "/v1/users",
                             json={"email": address, "role": role},
                             headers=bearer(key)) as response:
            invited = (await response.json())["data"]
        async with http.post(stack.services["gateway"].url + "/v1/invitations/accept",
                             json={"token": invited["invitation_token"],
                                   "password": PASSWORD}) as response:
            assert response.status == 200, await response.text()
    return invited["id"], address


def mails_to(catcher: MailCatcher, address: str) -> list[Message]:
    found = [email.message_from_bytes(path.read_bytes()) for path in catcher.messages()]
    return [m for m in found if m["To"] == address]


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else str(message.get_payload())


async def mail_token(catcher: MailCatcher, address: str, page: str, count: int = 1) -> str:
    """The token of the `count`th mail to `address` linking to the dashboard's `page`."""
    pattern = re.compile(rf"http\S+/app/{page}#token=(\S+)")

    async def tokens() -> list[str]:
        texts = await asyncio.to_thread(lambda: [text_of(m) for m in mails_to(catcher, address)])
        return [found.group(1) for text in texts if (found := pattern.search(text))]

    found = await eventually(tokens, lambda t: len(t) >= count, within=30,
                             what=f"{page} mail {count} to {address}")
    return found[count - 1]


def read_logs(run_dir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in run_dir.glob("*.log"))


def session_cookie(headers: Any) -> Any:
    cookies = SimpleCookie()
    for value in headers.getall("Set-Cookie", []):
        cookies.load(value)
    return cookies["rsz_session"]


# --- sign-in -------------------------------------------------------------------------------


async def test_a_member_signs_in_and_the_cookie_is_http_only_lax_and_secure_behind_https(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Signin Shop")
    user_id, address = await member(stack, key)
    browser = Browser(http, stack)
    status, body, headers = await browser.sign_in(address)
    assert status == 201, body
    session = body["data"]
    assert session["user"]["id"] == user_id and session["user"]["role"] == "editor"
    assert session["user"]["status"] == "active" and session["csrf_token"]
    assert session["expires_at"] >= session["idle_expires_at"]
    cookie = session_cookie(headers)
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain HTTP, and no proxy said otherwise
    status, me, _ = await browser.call("GET", "/v1/session")
    assert status == 200 and me["data"]["user"]["email"] == address
    status, _, _ = await browser.call("GET", "/api/v1/responses")  # both dialects
    assert status == 200

    status, _, headers = await Browser(http, stack).sign_in(
        address, headers={"X-Forwarded-Proto": "https"})
    assert status == 201 and session_cookie(headers)["secure"]


async def test_wrong_password_unknown_email_and_pending_member_get_the_same_answer(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Same Answer")
    _, address = await member(stack, key)
    async with http.post(stack.services["gateway"].url + "/v1/users", headers=bearer(key),
                         json={"email": "pending@same-answer.example"}) as response:
        assert response.status == 201
    browser = Browser(http, stack)
    answers = [await browser.sign_in(address, "not-the-password-at-all"),
               await browser.sign_in("nobody-at-all@same-answer.example"),
               await browser.sign_in("pending@same-answer.example"),
               await browser.sign_in("owner@same-answer.example")]  # no password set yet
    for status, body, _ in answers:
        assert status == 401
        assert body["meta"]["error"]["message"] == WRONG
    assert "Set-Cookie" not in answers[0][2]


async def test_sign_in_is_limited_per_account_with_retry_after(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Per Account")
    _, address = await member(stack, key)
    for _ in range(5):
        status, _, _ = await Browser(http, stack).sign_in(address, "wrong-password-123")
        assert status == 401
    status, body, headers = await Browser(http, stack).sign_in(address)  # even the right one
    assert status == 429 and int(headers["Retry-After"]) > 0, body
    # Another account from the last address is not held back.
    _, other = await member(stack, key)
    assert (await Browser(http, stack).sign_in(other))[0] == 201


async def test_sign_in_is_limited_per_address_without_telling_accounts_apart(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Per Address")
    _, address = await member(stack, key)
    attacker = Browser(http, stack, new_address())
    for n in range(20):
        status, _, _ = await attacker.sign_in(f"guess-{n}@per-address.example")
        assert status == 401
    status, _, headers = await attacker.sign_in(address)
    assert status == 429 and int(headers["Retry-After"]) > 0
    assert (await Browser(http, stack).sign_in(address))[0] == 201  # from elsewhere


async def test_the_per_account_limit_counts_the_account_the_database_finds(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    """`İ` is `i` to the database's lower(), which signs the member in by it: guesses with
    the address spelt so are that account's guesses, not another's."""
    _, key = await new_tenant(stack, "Dotted Account")
    _, address = await member(stack, key)  # editor-…@team.example
    dotted = address.replace("i", "\u0130", 1)
    assert dotted != address and (await Browser(http, stack).sign_in(dotted))[0] == 201
    for _ in range(5):
        status, _, _ = await Browser(http, stack).sign_in(address, "wrong-password-123")
        assert status == 401
    status, _, _ = await Browser(http, stack).sign_in(dotted, "wrong-password-456")
    assert status == 429


async def test_sign_ins_sent_at_once_get_no_more_guesses_than_the_limits(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    """Each attempt is counted before its password is checked: twenty at once at one
    account, or forty at once from one address, and more after them one by one, get as
    many guesses as the limits allow and not one more."""

    async def guesses(attempts: list[Any], then: Any) -> int:
        statuses = [status for status, _, _ in await asyncio.gather(*attempts)]
        assert set(statuses) <= {401, 429}, statuses
        for n in range(25):  # one by one until refused
            status, _, _ = await then(n)
            statuses.append(status)
            if status == 429:
                break
        return statuses.count(401)

    _, key = await new_tenant(stack, "At Once")
    _, address = await member(stack, key)
    assert await guesses(
        [Browser(http, stack).sign_in(address, f"wrong-password-{n}") for n in range(20)],
        lambda n: Browser(http, stack).sign_in(address, f"wrong-again-{n}")) == 5
    assert (await Browser(http, stack).sign_in(address))[0] == 429  # even the right one

    attacker = Browser(http, stack, new_address())
    assert await guesses(
        [attacker.sign_in(f"guess-{n}@at-once.example") for n in range(40)],
        lambda n: attacker.sign_in(f"again-{n}@at-once.example")) == 20


async def test_a_session_cookie_planted_before_sign_in_is_replaced(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Fixation")
    _, address = await member(stack, key)
    planted = "attacker-chosen-session-value"
    http.cookie_jar.update_cookies({"rsz_session": planted})
    browser = Browser(http, stack)
    status, _, headers = await browser.sign_in(address)
    assert status == 201
    issued = session_cookie(headers).value
    assert issued != planted and len(issued) >= 40
    async with (aiohttp.ClientSession(cookies={"rsz_session": planted}) as other,
                other.get(stack.services["gateway"].url + "/v1/session") as response):
        assert response.status == 401


async def test_a_cross_site_origin_cannot_sign_in_or_accept(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Cross Site")
    _, address = await member(stack, key)
    browser = Browser(http, stack)
    evil = {"Origin": "https://evil.example"}
    for path, body in (("/v1/sessions", {"email": address, "password": PASSWORD}),
                       ("/v1/invitations/accept", {"token": "x", "password": PASSWORD}),
                       ("/v1/password-resets", {"email": address})):
        status, answer, _ = await browser.call("POST", path, body, headers=evil)
        assert status == 403, (path, answer)
    own = {"Origin": stack.services["gateway"].url}
    assert (await browser.sign_in(address, headers=own))[0] == 201


# --- CSRF and roles ------------------------------------------------------------------------


async def test_writes_with_the_cookie_need_the_csrf_token_and_keys_do_not(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Csrf Shop")
    _, address = await member(stack, key, "admin")
    browser = Browser(http, stack)
    assert (await browser.sign_in(address))[0] == 201
    invite = {"email": f"csrf-{uuid.uuid4().hex[:6]}@csrf-shop.example"}
    for headers in ({}, {"X-CSRF-Token": "forged"}):
        for method, path, body in (("POST", "/v1/users", invite),
                                   ("PATCH", f"/v1/feedback/{uuid.uuid4()}", {"status": "new"}),
                                   ("DELETE", f"/v1/users/{uuid.uuid4()}", None),
                                   ("POST", "/api/v1/webhooks", {"url": "https://x.example"})):
            status, answer, _ = await browser.call(method, path, body, headers, csrf=False)
            assert status == 403, (method, path, answer)
            assert answer["meta" if path.startswith("/v1") else "error"]
    status, created, _ = await browser.call("POST", "/v1/users", invite)
    assert status == 201, created
    # A key sent beside a cookie is what authenticates: no CSRF token needed.
    status, _, _ = await browser.call(
        "POST", "/v1/users", {"email": "by-key@csrf-shop.example"}, bearer(key), csrf=False)
    assert status == 201


async def test_a_viewer_session_reads_and_gets_403_on_writes(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Viewer Shop")
    _, address = await member(stack, key, "viewer")
    browser = Browser(http, stack)
    assert (await browser.sign_in(address))[0] == 201
    assert (await browser.call("GET", "/v1/feedback"))[0] == 200
    assert (await browser.call("GET", "/v1/users"))[0] == 200
    for method, path, body in (("POST", "/v1/feedback", {"body": "x", "rating": 3}),
                               ("POST", "/v1/users", {"email": "v@viewer-shop.example"}),
                               ("POST", "/api/v1/webhooks", {"url": "https://x.example"})):
        status, answer, _ = await browser.call(method, path, body)
        assert status == 403, (path, answer)
    # Signing out is no write to the shop's data: viewers may.
    assert (await browser.call("DELETE", "/v1/session"))[0] == 204


async def test_a_signed_in_member_has_their_own_quota_beside_the_tenants_keys(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    """With the references' limits (60 reads a minute), a member's dashboard reads past them
    without spending the integrations' quota, and is limited at 600 a minute itself."""
    _, key = await new_tenant(stack, "Busy Shop", limited=True)
    _, address = await member(stack, key, "editor")
    browser = Browser(http, stack)
    assert (await browser.sign_in(address))[0] == 201
    statuses = [(await browser.call("GET", "/v1/feedback"))[0] for _ in range(70)]
    assert statuses == [200] * 70
    status, _, headers = await browser.call("GET", "/v1/feedback")
    assert (status, headers["RateLimit-Policy"]) == (200, '"member";q=600;w=60')
    async with http.get(stack.services["gateway"].url + "/v1/feedback",
                        headers=bearer(key)) as response:
        assert response.status == 200
        assert response.headers["RateLimit"].startswith('"reads";r=59;')


# --- timeouts ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_gateway(stack: Stack) -> Iterator[ServiceProcess]:
    """A second gateway on the same database with short session timeouts (idle 3 s,
    absolute 9 s) and no dashboard behind it."""
    gateway = stack.services["gateway"]
    process = ServiceProcess("gateway", free_port(), gateway.log_path.with_name(
        "gateway-short.log"), env={
        **stack.env(), "RESONANZ_SESSION_IDLE_MINUTES": "0.05",
        "RESONANZ_SESSION_ABSOLUTE_HOURS": "0.0025",
        "RESONANZ_DASHBOARD_URL": f"http://127.0.0.1:{free_port()}"})
    process.start()
    try:
        deadline = time.monotonic() + 30
        while not process.ready():
            assert process.proc is not None and process.proc.poll() is None, "exited"
            assert time.monotonic() < deadline, "not ready"
            time.sleep(0.1)
        yield process
    finally:
        process.stop()


async def test_a_session_unused_for_the_idle_timeout_ends(
        stack: Stack, short_gateway: ServiceProcess, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Idle Shop")
    _, address = await member(stack, key)
    browser = Browser(http, stack)
    browser.base = short_gateway.url
    assert (await browser.sign_in(address))[0] == 201
    for _ in range(4):  # used every second: alive past the idle timeout
        await asyncio.sleep(1)
        assert (await browser.call("GET", "/v1/session"))[0] == 200
    await asyncio.sleep(3.5)
    status, body, _ = await browser.call("GET", "/v1/feedback")
    assert status == 401, body


async def test_a_session_ends_at_its_absolute_timeout_however_busy(
        stack: Stack, short_gateway: ServiceProcess, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Absolute Shop")
    _, address = await member(stack, key)
    browser = Browser(http, stack)
    browser.base = short_gateway.url
    started = time.monotonic()
    assert (await browser.sign_in(address))[0] == 201

    async def status() -> int:
        await asyncio.sleep(0.5)
        return (await browser.call("GET", "/v1/session"))[0]

    await eventually(status, lambda s: s == 401, within=15, interval=0, what="the absolute end")
    assert time.monotonic() - started >= 8.5


async def test_the_dashboard_path_is_a_503_not_a_502_while_the_dashboard_is_away(
        short_gateway: ServiceProcess, http: aiohttp.ClientSession) -> None:
    async with http.get(short_gateway.url + "/app/") as response:
        assert response.status == 503 and response.headers["Retry-After"]


async def test_the_gateway_forwards_the_dashboard_without_a_key(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    if "dashboard" not in stack.services:
        pytest.skip("this build has no dashboard service")
    async with http.get(stack.services["gateway"].url + "/app/") as response:
        assert response.status == 200 and "text/html" in response.headers["Content-Type"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/app/../metrics", "/app/%2e%2e/metrics",
                                  "/app/..%2Fmetrics", "/app/%252e%252e/readyz",
                                  "/app/.%2e/healthz", "/app/..\\metrics"])
async def test_a_dot_segment_cannot_leave_the_dashboard(
        stack: Stack, http: aiohttp.ClientSession, path: str) -> None:
    """Forwarded, `/app/../metrics` would reach the dashboard service's /metrics: the
    public port answers 404 in any spelling."""
    url = yarl.URL(stack.services["gateway"].url + path, encoded=True)
    async with http.get(url) as response:
        assert response.status == 404, path
        assert "process_cpu" not in await response.text()


# --- invitations and passwords -------------------------------------------------------------


async def test_an_invitee_accepts_through_the_mailed_link_and_is_signed_in(
        stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Invite Shop")
    address = f"neu-{uuid.uuid4().hex[:6]}@invite-shop.example"
    async with http.post(stack.services["gateway"].url + "/v1/users", headers=bearer(key),
                         json={"email": address, "role": "editor"}) as response:
        invited = (await response.json())["data"]
    token = await mail_token(mail, address, "invitation")
    browser = Browser(http, stack)
    status, body, headers = await browser.call(
        "POST", "/v1/invitations/accept", {"token": token, "password": address})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "password"
    status, body, headers = await browser.call(
        "POST", "/v1/invitations/accept", {"token": token, "password": PASSWORD,
                                           "name": "Neu Kollegin"})
    assert status == 200, body
    assert body["data"]["user"]["email_verified"] and body["data"]["user"]["status"] == "active"
    browser.csrf = body["data"]["csrf_token"]
    assert session_cookie(headers).value
    assert (await browser.call("GET", "/v1/feedback"))[0] == 200
    async with http.get(stack.services["gateway"].url + "/v1/users",
                        headers=bearer(key)) as response:
        users = {u["id"]: u for u in (await response.json())["data"]}
    assert users[invited["id"]]["status"] == "active"
    assert users[invited["id"]]["name"] == "Neu Kollegin"

    status, body, _ = await Browser(http, stack).call(
        "POST", "/v1/invitations/accept", {"token": token, "password": PASSWORD})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "token"


async def test_an_expired_invitation_cannot_be_accepted(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Expired Shop")
    async with http.post(stack.services["gateway"].url + "/v1/users", headers=bearer(key),
                         json={"email": "late@expired-shop.example"}) as response:
        invited = (await response.json())["data"]
    await query(stack.database_url, "UPDATE gateway.invitations SET expires_at = now()"
                " - interval '1 minute' WHERE user_id = $1", uuid.UUID(invited["id"]))
    status, body, _ = await Browser(http, stack).call(
        "POST", "/v1/invitations/accept",
        {"token": invited["invitation_token"], "password": PASSWORD})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "token"


async def test_a_password_reset_by_mail_sets_the_password_and_ends_every_session(
        stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Reset Shop")
    _, address = await member(stack, key)
    old = Browser(http, stack)
    assert (await old.sign_in(address))[0] == 201
    anyone = Browser(http, stack)
    for asked in (address, "nobody@reset-shop.example"):  # answered alike
        status, body, _ = await anyone.call("POST", "/v1/password-resets", {"email": asked})
        assert status == 202, body
    token = await mail_token(mail, address, "reset-password")
    assert mails_to(mail, "nobody@reset-shop.example") == []
    new_password = "ein-ganz-neues-Passwort"
    status, body, _ = await anyone.call("POST", "/v1/password-resets/complete",
                                        {"token": token, "password": "short"})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "password"
    status, _, _ = await anyone.call("POST", "/v1/password-resets/complete",
                                     {"token": token, "password": new_password})
    assert status == 204
    assert (await old.call("GET", "/v1/session"))[0] == 401
    assert (await Browser(http, stack).sign_in(address))[0] == 401
    assert (await Browser(http, stack).sign_in(address, new_password))[0] == 201
    status, body, _ = await anyone.call("POST", "/v1/password-resets/complete",
                                        {"token": token, "password": "yet-another-one-1"})
    assert status == 400 and body["meta"]["error"]["details"][0]["field"] == "token"


async def test_the_operator_sets_the_owners_password_from_stdin(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    tenant, _ = await new_tenant(stack, "Operator Shop")
    owner = "owner@operator-shop.example"
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "resonanz.gateway", "admin", "set-password",
                         "--email", owner, "--tenant", tenant],
        input=PASSWORD + "\n", env=stack.env(), capture_output=True, text=True, check=True)
    assert PASSWORD not in done.stdout
    status, body, _ = await Browser(http, stack).sign_in(owner)
    assert status == 201 and body["data"]["user"]["role"] == "admin"
    generated = await admin(stack, "set-password", "--email", owner, "--generate")
    assert (await Browser(http, stack).sign_in(owner, generated["password"]))[0] == 201


# --- ending sessions -----------------------------------------------------------------------


async def test_a_removed_members_session_is_refused_on_the_next_request(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Removal Shop")
    user_id, address = await member(stack, key)
    browser = Browser(http, stack)
    assert (await browser.sign_in(address))[0] == 201
    assert (await browser.call("GET", "/v1/feedback"))[0] == 200
    async with http.delete(f"{stack.services['gateway'].url}/v1/users/{user_id}",
                           headers={**bearer(key), "X-Confirm": "true"}) as response:
        assert response.status == 200
    assert (await browser.call("GET", "/v1/feedback"))[0] == 401
    assert await query_value(stack.database_url, "SELECT count(*) FROM gateway.sessions"
                             " WHERE user_id = $1", uuid.UUID(user_id)) == 0


async def test_members_list_their_sessions_and_end_one(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Sessions Shop")
    _, address = await member(stack, key, "viewer")
    laptop = Browser(http, stack)
    assert (await laptop.sign_in(address, headers={"User-Agent": "Laptop/1.0"}))[0] == 201
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        phone = Browser(other, stack)
        assert (await phone.sign_in(address, headers={"User-Agent": "Phone/2.0"}))[0] == 201
        status, listed, _ = await laptop.call("GET", "/v1/sessions")
        assert status == 200
        by_agent = {s["user_agent"]: s for s in listed["data"]}
        assert {"Laptop/1.0", "Phone/2.0"} <= set(by_agent)  # and the accepting one
        assert by_agent["Laptop/1.0"]["current"] and not by_agent["Phone/2.0"]["current"]
        assert by_agent["Phone/2.0"]["ip_address"] == phone.address
        target = by_agent["Phone/2.0"]["id"]
        assert (await laptop.call("DELETE", f"/v1/sessions/{target}", csrf=False))[0] == 403
        assert (await laptop.call("DELETE", f"/v1/sessions/{target}"))[0] == 204
        assert (await phone.call("GET", "/v1/session"))[0] == 401
        assert (await laptop.call("DELETE", f"/v1/sessions/{target}"))[0] == 404
    status, _, headers = await laptop.call("DELETE", "/v1/session")
    assert status == 204 and session_cookie(headers)["max-age"] == "0"
    assert (await laptop.call("GET", "/v1/session"))[0] == 401


async def test_last_active_at_follows_sign_in_and_key_use(
        stack: Stack, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Active Shop")
    _, address = await member(stack, key)
    assert (await Browser(http, stack).sign_in(address))[0] == 201

    async def users() -> dict[str, Any]:
        async with http.get(stack.services["gateway"].url + "/v1/users",
                            headers=bearer(key)) as response:
            return {u["email"]: u for u in (await response.json())["data"]}

    found = await users()
    assert found[address]["last_active_at"] is not None
    # The owner's key was used just now: their activity is written within the flush.
    owner = "owner@active-shop.example"
    await eventually(users, lambda u: u[owner]["last_active_at"] is not None, within=45,
                     interval=1, what="the owner's activity from key use")


async def test_passwords_and_tokens_rest_nowhere_in_plaintext_nor_in_logs(
        stack: Stack, mail: MailCatcher, http: aiohttp.ClientSession) -> None:
    _, key = await new_tenant(stack, "Plain Shop")
    _, address = await member(stack, key)
    browser = Browser(http, stack)
    status, body, headers = await browser.sign_in(address)
    assert status == 201
    session_token = session_cookie(headers).value
    await browser.call("POST", "/v1/password-resets", {"email": address})
    reset_token = await mail_token(mail, address, "reset-password")
    secrets = {"password": PASSWORD, "session": session_token, "reset": reset_token,
               "csrf": body["data"]["csrf_token"]}
    for name, secret in secrets.items():
        assert await places_holding(stack.database_url, secret) == [], name
    logs = await asyncio.to_thread(read_logs, stack.run_dir)
    for name, secret in secrets.items():
        assert secret not in logs, name
