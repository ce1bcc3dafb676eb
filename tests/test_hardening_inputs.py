"""Nothing a client sends answers 5xx: dates outside what we can store, cursors that
are not ours, NUL bytes and huge numbers are a 400 in the caller's dialect, naming
the field; and no service logs a traceback for any of them."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from resonanz.devstack.supervisor import Stack

from .helpers import Api
from .support import eventually

FAR_PAST = "0001-01-01T00:00:00+14:00"  # year 0 in UTC
FAR_FUTURE = "9999-12-31T23:59:59-14:00"  # year 10000 in UTC
FEEDBACK = {"body": "Die Versandkosten wurden doppelt berechnet.", "rating": 1}


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(parts))).decode().rstrip("=")


def error_of(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """The error in the dialect's own shape."""
    if path.startswith("/api/"):
        assert body["success"] is False and body["error"]
        return {"code": body["code"], "details": body["details"]}
    assert body["data"] is None
    error: dict[str, Any] = body["meta"]["error"]
    return error


async def assert_400_naming(api: Api, method: str, path: str, field: str,
                            json: Any = None) -> None:
    status, body, _ = await api.call(method, path, json)
    assert status == 400, (path, status, body)
    error = error_of(path, body)
    assert error["code"] == "validation_error", body
    assert field in [d["field"] for d in error["details"]], body


async def log_after(path: Path, before: int, needle: str) -> list[str]:
    """The lines `path` got after its first `before`, once one of them holds `needle`."""
    async def lines() -> list[str]:
        return (await asyncio.to_thread(path.read_text)).splitlines()[before:]

    return await eventually(lines, lambda new: any(needle in line for line in new),
                            within=10, interval=0.1, what=f"a log line with {needle!r}")


def tracebacks(stack: Stack) -> list[str]:
    return [line[:300] for svc in stack.services.values()
            for line in svc.log_path.read_text().splitlines() if "unhandled error" in line]


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/v1/feedback?from={FAR_PAST}",
                                  f"/api/v1/responses?from={FAR_PAST}"])
async def test_far_past_date_with_offset_is_a_400_not_a_500(api: Api, path: str) -> None:
    await assert_400_naming(api, "GET", path.replace("+", "%2B"), "from")


@pytest.mark.parametrize("path", [f"/v1/feedback?to={FAR_FUTURE}",
                                  f"/api/v1/responses?to={FAR_FUTURE}"])
async def test_far_future_date_with_offset_is_a_400_not_a_500(api: Api, path: str) -> None:
    await assert_400_naming(api, "GET", path, "to")


@pytest.mark.parametrize("name", ["since", "created_after", "until", "end_date"])
async def test_a_date_under_another_name_is_refused_under_that_name(api: Api,
                                                                    name: str) -> None:
    await assert_400_naming(api, "GET", f"/v1/feedback?{name}={FAR_FUTURE}", name)


async def test_dates_at_the_edges_of_the_range_are_accepted(api: Api) -> None:
    await api.ok("POST", "/v1/feedback", FEEDBACK)
    everything = await api.ok(
        "GET", "/v1/feedback?from=0001-01-01T00:00:00-14:00&to=9999-12-31T23:59:59%2B14:00")
    assert everything["meta"]["total"] == 1
    nothing = await api.ok("GET", "/api/v1/responses?from=9999-01-01")
    assert nothing["data"] == []


@pytest.mark.parametrize("base", ["/api/v1/webhooks", "/v1/webhooks"])
@pytest.mark.parametrize("since", [FAR_PAST, FAR_FUTURE])
async def test_recover_since_beyond_the_range_is_a_400_not_a_500(api: Api, base: str,
                                                                 since: str) -> None:
    created = await api.ok("POST", "/api/v1/webhooks", {
        "url": "https://hooks.shop.example/resonanz", "events": ["feedback_created"]})
    hook = created["data"]["id"]
    await assert_400_naming(api, "POST", f"{base}/{hook}/recover", "since", {"since": since})


async def test_a_pause_until_beyond_the_range_is_a_400_not_a_500(api: Api) -> None:
    widget = (await api.ok("POST", "/v1/widgets", {"name": "Kasse", "is_active": True}))
    path = f"/v1/widgets/{widget['data']['id']}/pause"
    await assert_400_naming(api, "POST", path, "resume_at", {"resume_at": FAR_FUTURE})



async def test_a_resume_at_that_is_a_number_is_a_400_not_seconds_since_1970(api: Api) -> None:
    """The reference's resume_at is an ISO timestamp: 4102444800 is not 2100-01-01."""
    widget = (await api.ok("POST", "/v1/widgets", {"name": "Kasse", "is_active": True}))
    path = f"/v1/widgets/{widget['data']['id']}/pause"
    for value in (4102444800, 4102444800.5, True):
        await assert_400_naming(api, "POST", path, "resume_at", {"resume_at": value})
    shown = (await api.ok("GET", f"/v1/widgets/{widget['data']['id']}"))["data"]
    assert shown["status"] == "active" and shown["scheduled_resume"] is None
    paused = await api.ok("POST", path, {"resume_at": "2099-12-02T01:00:00+01:00"})
    assert paused["data"]["scheduled_resume"] == "2099-12-02T00:00:00.000Z"


# --- cursors -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/feedback", "/api/v1/responses"])
async def test_cursor_with_a_non_string_id_is_a_400(api: Api, path: str) -> None:
    token = cursor("2020-01-01T00:00:00+00:00", 5, True)
    await assert_400_naming(api, "GET", f"{path}?cursor={token}", "cursor")


async def test_cursor_with_an_out_of_range_date_is_a_400(api: Api) -> None:
    token = cursor(FAR_PAST, str(uuid.uuid4()), True)
    await assert_400_naming(api, "GET", f"/v1/feedback?cursor={token}", "cursor")


@pytest.mark.parametrize("token", [
    cursor("2020-01-01T00:00:00+00:00", str(uuid.uuid4()), "yes"),
    cursor("2020-01-01T00:00:00+00:00", str(uuid.uuid4())),
    cursor(None, None, None), cursor(["x"], {"a": 1}, True),
    base64.urlsafe_b64encode(b'{"a": 1, "b": 2, "c": 3}').decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(), "%C3%A4", "%00", "abc",
])
async def test_a_cursor_we_did_not_issue_is_a_400(api: Api, token: str) -> None:
    await assert_400_naming(api, "GET", f"/api/v1/responses?cursor={token}", "cursor")


async def test_a_cursor_we_issued_still_pages(api: Api) -> None:
    ids = [(await api.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"] for _ in range(3)]
    first = await api.ok("GET", "/api/v1/responses?limit=2")
    rest = await api.ok("GET", f"/api/v1/responses?limit=2&cursor={first['next']}")
    assert [r["id"] for r in first["data"] + rest["data"]] == ids[::-1]


# --- NUL bytes, huge numbers, anything else -------------------------------------------------


@pytest.mark.parametrize("path, field", [
    ("/v1/feedback?status=%00", "status"), ("/v1/feedback?widget_id=%00", "widget_id"),
    ("/v1/feedback?from=%00", "from"), ("/v1/feedback?sort=%00", "sort"),
    ("/v1/feedback?limit=%00", "limit"), ("/v1/feedback?page=1%00", "page"),
    ("/api/v1/responses?campaign_id=%00", "campaign_id"), ("/api/v1/responses?to=%00", "to"),
    ("/v1/analytics/summary?period=%00", "period"),
    ("/v1/analytics/summary?widget_id=%00", "widget_id"), ("/v1/users?limit=%00", "limit"),
])
async def test_nul_bytes_in_the_query_are_a_400_naming_the_field(api: Api, path: str,
                                                                 field: str) -> None:
    await assert_400_naming(api, "GET", path, field)


@pytest.mark.parametrize("path, field", [
    ("/v1/feedback?page=" + "9" * 5000, "page"), ("/v1/widgets?page=" + "9" * 20, "page"),
    ("/v1/users?page=-" + "9" * 30, "page"), ("/api/v1/responses?limit=-" + "9" * 40, "limit"),
])
async def test_huge_page_numbers_and_negative_limits_are_a_400(api: Api, path: str,
                                                               field: str) -> None:
    """A limit above the maximum is clamped to it (test_reference_contract); a page past
    any offset we can count, or a limit below 1, names what is wrong."""
    await assert_400_naming(api, "GET", path, field)


NASTY = ["\x00", FAR_PAST, FAR_FUTURE, "9" * 400, "-1", "1e309", "NaN", "[]", "ä" * 200,
         f"urn:uuid:{uuid.uuid4()}".upper(), "'; DROP TABLE entries;--", "2024-13-45"]
LISTS = {
    "/v1/feedback": ("page", "limit", "status", "widget_id", "sort", "cursor", "from", "to"),
    "/api/v1/responses": ("limit", "cursor", "status", "campaign_id", "from", "to"),
    "/v1/analytics/summary": ("period", "group_by", "widget_id"),
    "/v1/users": ("page", "limit"), "/v1/widgets": ("page", "limit"),
}


async def test_no_query_value_answers_5xx_or_logs_a_traceback(
    shared_stack: Stack, http: aiohttp.ClientSession, api: Api,
) -> None:
    answers = set()
    for path, names in LISTS.items():
        for name in names:
            for value in NASTY:
                async with http.get(api.base + path, params={name: value},
                                    headers={"Authorization": f"Bearer {api.key}"}) as r:
                    assert r.status < 500, (path, name, value, await r.text())
                    answers.add(r.status)
    assert answers <= {200, 400, 404}
    assert tracebacks(shared_stack) == []


@pytest.mark.parametrize("field", ["widget_id", "rating", "metadata", "answers",
                                   "customer_email", "category"])
async def test_no_value_in_a_feedback_body_answers_5xx(api: Api, field: str) -> None:
    values: list[Any] = [None, 2**70, -1, 1e308, True, [], {}, "\u0000", "x" * 20_000,
                         FAR_FUTURE, {"deep": [[[[[[[[[[1]]]]]]]]]]}]
    for value in values:
        status, body, _ = await api.call("POST", "/v1/feedback", {**FEEDBACK, field: value})
        assert status in (201, 400, 404), (field, value, status, body)


@pytest.mark.parametrize("body, field", [
    ({"name": "Herbst\u0000"}, "name"),
    ({"name": "Herbst", "questions": [{"id": "r", "type": "rating",
                                       "label": {"en": "How\u0000?"}}]},
     "questions.0.label.en"),
    ({"name": "Herbst", "reward": {"voucher_codes": ["OK-1", "BAD\u0000"]}},
     "reward.voucher_codes.1"),
])
async def test_a_nul_in_a_body_is_a_400_naming_the_field_that_holds_it(
    api: Api, body: dict[str, Any], field: str,
) -> None:
    """Pay4Feedback: "check the error message for which field"; not `body`."""
    status, answer, _ = await api.call("POST", "/api/v1/campaigns", body)
    assert status == 400, answer
    assert [d["field"] for d in answer["details"]] == [field], answer
    assert answer["error"].startswith(f"{field}: "), answer
    assert (await api.ok("GET", "/api/v1/campaigns"))["data"] == []  # nothing half-written


async def test_a_nul_in_a_reason_or_an_entry_names_that_field(api: Api) -> None:
    entry = (await api.ok("POST", "/v1/feedback", FEEDBACK))["data"]["id"]
    status, answer, _ = await api.call("POST", f"/api/v1/responses/{entry}/reject",
                                       {"reason": "Test\u0000"})
    assert (status, [d["field"] for d in answer["details"]]) == (400, ["reason"]), answer
    status, answer, _ = await api.call("POST", "/v1/feedback",
                                       {**FEEDBACK, "metadata": {"page": "a\u0000"}})
    assert status == 400, answer
    assert [d["field"] for d in answer["meta"]["error"]["details"]] == ["metadata.page"]


@pytest.mark.parametrize("path", ["/public/widgets/%00", "/public/widgets/wdg_%00x",
                                  "/public/widgets/%C3%A4"])
async def test_a_public_widget_id_that_cannot_be_one_is_a_404_not_a_500(
    shared_stack: Stack, http: aiohttp.ClientSession, path: str,
) -> None:
    async with http.get(shared_stack.services["gateway"].url + path) as response:
        assert response.status == 404


async def raw_request(stack: Stack, head: bytes, body: bytes = b"") -> tuple[int, Any]:
    """One request written byte for byte (aiohttp's client sends only UTF-8 headers)."""
    host, port = stack.services["gateway"].url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head.replace(b"\n", b"\r\n") + f"Host: {host}:{port}\r\n".encode()
                 + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), orjson.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("header", ["X-Request-Id", "Idempotency-Key", "Cookie", "User-Agent"])
async def test_a_header_that_is_not_utf8_is_a_400_naming_it(
    shared_stack: Stack, api: Api, header: str,
) -> None:
    value = b"rsz_session=\xff\xfe" if header == "Cookie" else b"abc\xff\xfe"
    auth = b"" if header == "Cookie" else f"Authorization: Bearer {api.key}\n".encode()
    status, body = await raw_request(
        shared_stack, b"POST /v1/feedback HTTP/1.1\n" + auth + header.encode() + b": "
        + value + b"\nContent-Type: application/json\n", orjson.dumps(FEEDBACK))
    assert status == 400, body
    assert error_of("/v1/feedback", body)["details"][0]["field"].lower() == header.lower()
    assert body["meta"]["request_id"].startswith("req_")
    assert tracebacks(shared_stack) == []


async def test_a_header_over_the_size_limit_is_a_400_and_nothing_of_it_is_logged(
    shared_stack: Stack, api: Api,
) -> None:
    # aiohttp refuses a header line over 8,190 bytes before any handler runs. It logged that
    # as an error with a traceback quoting the line's first 100 bytes: a key or a session
    # cookie in them reached the log. One info line says what kind of request it was.
    key = api.key
    assert key is not None
    log_path = shared_stack.services["gateway"].log_path
    before = len(log_path.read_text().splitlines())
    host, port = shared_stack.services["gateway"].url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /v1/feedback HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer"
                 f" {key} {'x' * 9000}\r\nConnection: close\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.split(b" ", 2)[1] == b"400", answer[:200]
    new = await log_after(log_path, before, "not valid HTTP")
    assert not [line for line in new if key in line or '"level": "ERROR"' in line], new
    assert tracebacks(shared_stack) == []


async def test_a_sign_in_with_a_user_agent_that_is_not_utf8_is_a_400(shared_stack: Stack) -> None:
    gateway = shared_stack.services["gateway"].url
    status, body = await raw_request(
        shared_stack, b"POST /v1/sessions HTTP/1.1\nUser-Agent: Moz\xff\nOrigin: "
        + gateway.encode() + b"\nContent-Type: application/json\n",
        orjson.dumps({"email": "nobody@shop.example", "password": "x" * 12}))
    assert status == 400, body
    assert tracebacks(shared_stack) == []


async def test_a_body_that_cannot_be_decompressed_is_a_400(api: Api) -> None:
    status, body, _ = await api.call(
        "POST", "/v1/feedback", data=b"not gzip at all",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert status == 400, body
    assert error_of("/v1/feedback", body)["code"] == "unreadable_body"


async def test_a_client_that_hangs_up_mid_body_is_no_database_outage(
    shared_stack: Stack, api: Api,
) -> None:
    # A ConnectionResetError while reading a body is the caller gone, not PostgreSQL: the
    # warning that database alerts read must not appear for it.
    log_path = shared_stack.services["gateway"].log_path
    before = len(log_path.read_text().splitlines())
    host, port = shared_stack.services["gateway"].url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST /v1/feedback HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer"
                 f" {api.key}\r\nContent-Type: application/json\r\nContent-Length: 1000000"
                 "\r\nExpect: 100-continue\r\n\r\n".encode())
    # The gateway says "100 Continue" once a handler waits for the body: hang up then.
    assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 100")
    writer.write(b'{"')
    await writer.drain()
    writer.transport.abort()  # a reset, as a dropped mobile connection
    new = await log_after(log_path, before, "client went away")
    assert not [line for line in new if "database unavailable" in line], new
    assert tracebacks(shared_stack) == []
