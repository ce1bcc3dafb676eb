"""The feedback domain's hooks for the operations table: FeedBackPro's `/v1/feedback` and
Pay4Feedback's `/api/v1/responses` — one record, two views."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from resonanz.shared.contracts import BulkReviewIn, BulkTriageIn, EntryIn, PatchIn
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import parse_uuid, path_uuid, query_datetime, query_limit
from resonanz.shared.web import parse_model, read_model

from ..audit_log import TargetsKey
from ..auth import PrincipalKey
from ..dialects import FEEDBACKPRO, PAY4FEEDBACK
from ..operations import Operation
from ..paging import Paging
from ..references import (
    PUBLIC_WIDGET_ID,
    require_member,
    require_own_widget,
    widget_in_query,
    widget_named,
)

FBP_MAX_LIMIT = 200  # "Returns up to 200 entries per page"; more is clamped to it
P4F_MAX_LIMIT = 500  # "All list endpoints currently return up to 500 rows"

# The references name no date parameters; accept the common spellings.
DATE_FROM = ("from", "since", "created_after", "date_from", "start_date")
DATE_TO = ("to", "until", "created_before", "date_to", "end_date")


def _dates(query: Mapping[str, str]) -> dict[str, str]:
    """Checked here, so that an error names the parameter the client sent. A day as the
    end (`to=2026-12-07`) includes that day, as the analytics' `to` does: the feedback
    service's `to` is the first instant not included, so it gets the next midnight."""
    found = {}
    for target, names in (("from", DATE_FROM), ("to", DATE_TO)):
        name = next((n for n in names if query.get(n)), None)
        if name is None:
            continue
        moment = query_datetime(query, name) if target == "from" else range_end(query, name)
        if moment is not None:
            found[target] = moment.isoformat()
    return found


def range_end(query: Mapping[str, str], name: str) -> datetime | None:
    """The first instant a range ending with `query[name]` leaves out: a day
    (`2026-12-07`) includes that day, an instant is itself; None when nothing is left
    out (the last day there is)."""
    moment = query_datetime(query, name)
    if moment is not None and _is_day(query[name]):
        try:
            return moment + timedelta(days=1)
        except OverflowError:
            return None
    return moment


def _is_day(value: str) -> bool:
    """`value` names a calendar day (2026-12-07), not an instant."""
    try:
        date.fromisoformat(value.strip())
    except ValueError:
        return False
    return True


# The inbox's filters (issue 16), the same names in both dialects; the feedback service
# checks each value and names the parameter when one is wrong.
FILTERS = ("rating", "rating_min", "rating_max", "category", "quality", "score_min",
           "score_max", "q")
REWARD_STATES = ("pending", "approved", "rejected", "none")


def _filters(request: web.Request, q: Mapping[str, str], *,
             assignee_names: tuple[str, ...]) -> dict[str, str]:
    found = {name: q[name] for name in FILTERS if q.get(name)}
    name = next((n for n in assignee_names if q.get(n)), None)
    if name:
        found["assignee"] = _assignee(request, name, q[name])
    return found


def _assignee(request: web.Request, name: str, value: str) -> str:
    """`me` is the signed-in member, or the user an API key was created by."""
    if value.strip().lower() != "me":
        return value
    user_id = request[PrincipalKey].user_id
    if user_id is None:
        raise InvalidInput.naming([{"field": name, "value": value, "message":
                                    "`me` needs a key that belongs to a user; pass a user id"}])
    return user_id


def _reward_states(raw: str, field: str) -> str:
    """Checked here, so that the error names the parameter of the caller's dialect."""
    states = [s.strip().lower() for s in raw.split(",") if s.strip()]
    unknown = [s for s in states if s not in REWARD_STATES]
    if unknown:
        raise InvalidInput.naming([{"field": field, "value": raw, "message":
                                    f"unknown {unknown}; allowed {list(REWARD_STATES)}"}])
    return ",".join(states)


async def entry_id(request: web.Request, raw: str) -> str:
    return str(path_uuid(raw, "feedback entry"))


async def entry_body(request: web.Request) -> bytes:
    """The body of a new entry as the feedback service gets it: a widget named by its
    public id (`wdg_…`) is replaced by its id, and the widget must be the caller's own
    (the feedback service validates the same bytes with the same model, so it sees the
    same widget_id)."""
    raw = await request.read()
    named = _json_object(raw).get("widget_id")
    resolved = None
    if isinstance(named, str) and PUBLIC_WIDGET_ID.fullmatch(named):
        resolved = await widget_named(request, named, "widget_id")  # the caller's, or 404
        raw = orjson.dumps({**_json_object(raw), "widget_id": str(resolved)})
    entry = parse_model(raw, EntryIn)
    if entry.widget_id is not None and resolved is None:
        await require_own_widget(request, uuid.UUID(entry.widget_id), "widget_id")
    return raw


def _json_object(raw: bytes) -> dict[str, Any]:
    """`raw` as a JSON object, or an empty one (the model explains what is wrong)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


async def patch_body(request: web.Request) -> bytes:
    """An assignee that is a user id must be on the caller's team; a name stays free text."""
    patch = await read_model(request, PatchIn)
    assignee = parse_uuid(patch.changes().get("assignee"))
    if assignee is not None:
        field = "assignee" if "assignee" in patch.model_fields_set else "assigned_to"
        await require_member(request, assignee, field)
    return await request.read()


async def review_body(request: web.Request) -> bytes:
    """A review's reason is optional, and so is its body."""
    return await request.read() or b"{}"


# --- FeedBackPro -----------------------------------------------------------------------


def fbp_entry(request: web.Request, entry: dict[str, Any]) -> dict[str, Any]:
    view = {k: entry[k] for k in (
        "id", "rating", "category", "metadata", "customer_email", "status",
        "widget_id", "quality_score", "created_at", "updated_at", "resolved_at")}
    # Always a string: the reference's Node example calls entry.body.substring(0, 60),
    # and a rating-only widget submission has no text.
    view["body"] = entry["body"] or ""
    view["assigned_to"] = entry["assignee"]
    view["allowed_transitions"] = entry["allowed_transitions"]
    return view


def fbp_entry_detail(request: web.Request, entry: dict[str, Any]) -> dict[str, Any]:
    return {**fbp_entry(request, entry), "audit_trail": entry["audit_trail"],
            "notes": entry["notes"], "answers": entry["answers"]}


async def fbp_filters(request: web.Request, query: Mapping[str, str] | None = None
                      ) -> dict[str, str]:
    """What a FeedBackPro list (or its export, or a bulk change's `filter`: `query`) is
    filtered and sorted by."""
    q = request.query if query is None else query
    params = {**_dates(q), **_filters(request, q, assignee_names=("assignee", "assigned_to"))}
    for name in ("status", "sort"):
        if q.get(name):
            params[name] = q[name]
    if q.get("reward_status"):
        params["reward_status"] = _reward_states(q["reward_status"], "reward_status")
    widget = await widget_in_query(request, ("widget_id",), q)
    if widget:
        params["widget_id"] = widget
    return params


async def fbp_list_query(request: web.Request) -> dict[str, str]:
    q = request.query
    paging = Paging.from_query(q, default_limit=50, max_limit=FBP_MAX_LIMIT)
    params = {"page": str(paging.page), "limit": str(paging.limit),
              **await fbp_filters(request)}
    if q.get("cursor"):
        params["cursor"] = q["cursor"]
    if "cursor" in q:
        # A keyset walk, its first page (`cursor=`) included: counting would make every
        # page cost O(n) again (a million entries are ~100 ms to count).
        params["total"] = "0"
    return params


def fbp_list_answer(request: web.Request, op: Operation, page: Any, status: int
                    ) -> web.Response:
    paging = Paging.from_query(request.query, default_limit=50, max_limit=FBP_MAX_LIMIT)
    meta = {**paging.meta(page["total"]), "next_cursor": page["next_cursor"]}
    if "cursor" in request.query:  # keyset walk: only forward, at constant cost per page
        links: dict[str, str | None] = {"self": str(request.rel_url), "prev": None, "next": (
            str(request.rel_url.update_query(cursor=page["next_cursor"]))
            if page["next_cursor"] else None)}
    else:
        links = paging.links(request, page["total"])
    return FEEDBACKPRO.ok(request, [fbp_entry(request, e) for e in page["items"]], meta=meta,
                          links=links)


# --- Pay4Feedback ----------------------------------------------------------------------


def p4f_response(request: web.Request, entry: dict[str, Any]) -> dict[str, Any]:
    reward = entry["reward"]
    return {
        "id": entry["id"], "campaign_id": entry["widget_id"],
        "status": reward["reward_status"].upper(), "rating": entry["rating"],
        "text": entry["body"], "customer_email": entry["customer_email"],
        "quality_score": entry["quality_score"], "created_at": entry["created_at"],
        "reviewed_at": reward["reviewed_at"], "review_reason": reward["reason"],
        "allowed_transitions": (["APPROVED", "REJECTED"]
                                if reward["reward_status"] == "pending" else []),
    }


def p4f_response_detail(request: web.Request, entry: dict[str, Any]) -> dict[str, Any]:
    return {**p4f_response(request, entry), "answers": entry["answers"],
            "quality": entry["quality"], "payout": entry.get("payout")}


async def p4f_filters(request: web.Request, query: Mapping[str, str] | None = None
                      ) -> dict[str, str]:
    """What a Pay4Feedback list (or its export, or a bulk review's `filter`: `query`) is
    filtered by."""
    q = request.query if query is None else query
    params = {**_dates(q), **_filters(request, q, assignee_names=("assignee",))}
    if q.get("status"):
        params["reward_status"] = _reward_states(q["status"], "status")
    campaign = await widget_in_query(request, ("campaign_id", "campaign"), q)
    if campaign:
        params["widget_id"] = campaign
    return params


async def p4f_list_query(request: web.Request) -> dict[str, str]:
    q = request.query
    limit = query_limit(q, P4F_MAX_LIMIT, P4F_MAX_LIMIT)  # "return up to 500 rows"
    params = {"limit": str(limit), "total": "0", "view": "brief", **await p4f_filters(request)}
    if q.get("cursor"):
        params["cursor"] = q["cursor"]
    return params


async def payout_id(request: web.Request, raw: str) -> str:
    return str(path_uuid(raw, "payout"))


async def payout_list_query(request: web.Request) -> dict[str, str]:
    """`status` in either case (PAID or paid), up to 500 rows, the cursor."""
    q = request.query
    params = {"limit": str(query_limit(q, P4F_MAX_LIMIT, P4F_MAX_LIMIT))}
    if q.get("status"):
        params["status"] = q["status"].lower()
    if q.get("cursor"):
        params["cursor"] = q["cursor"]
    return params


def p4f_payout(request: web.Request, payout: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": payout["id"], "response_id": payout["entry_id"],
        "campaign_id": payout["widget_id"], "kind": payout["kind"],
        "amount": payout["amount"], "currency": payout["currency"],
        "status": payout["status"], "method": payout["method"],
        "reference": payout["reference"], "failure_reason": payout["failure_reason"],
        "blocked_reason": payout["blocked_reason"], "settled_by": payout["settled_by"],
        "created_at": payout["created_at"], "paid_at": payout["completed_at"],
        "updated_at": payout["updated_at"],
        "payee": ({"method": payout["payee_method"], "account": payout["payee_masked"]}
                  if payout.get("payee_method") else None),
        "claim_expires_at": payout.get("claim_expires_at"),
        "claimed_at": payout.get("claimed_at"), "batch_id": payout.get("batch_id"),
        "not_batchable": payout.get("not_batchable"),
    }


async def threshold_preview_query(request: web.Request) -> dict[str, str]:
    """The campaign (any id spelling) and the thresholds to try, passed on as given (the
    feedback service judges them: a 400 names the field)."""
    params = {name: request.query[name] for name in ("auto_approve_above", "auto_reject_below")
              if request.query.get(name)}
    campaign = await widget_in_query(request, ("campaign_id", "campaign"))
    return {**params, "widget_id": campaign} if campaign else params


async def reward_totals_query(request: web.Request) -> dict[str, str]:
    campaign = await widget_in_query(request, ("campaign_id", "campaign"))
    return {"widget_id": campaign} if campaign else {}


# --- bulk triage (`POST /v1/feedback/bulk`, `POST /api/v1/responses/bulk`) ---------------

FBP_FILTER_NAMES = frozenset({*FILTERS, *DATE_FROM, *DATE_TO, "status", "reward_status",
                              "widget_id", "assignee", "assigned_to"})
P4F_FILTER_NAMES = frozenset({*FILTERS, *DATE_FROM, *DATE_TO, "status", "campaign_id",
                              "campaign", "assignee"})


def _filter_query(raw: Mapping[str, Any], allowed: frozenset[str]) -> dict[str, str]:
    """A bulk change's filter as the list's query: a name the list does not know is an
    error here (the list ignores it, and a misspelt filter must not select everything)."""
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise InvalidInput.naming([{"field": f"filter.{name}", "value": name,
                                    "message": f"not a filter; allowed: {sorted(allowed)}"}
                                   for name in unknown])
    return {name: ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
            for name, value in raw.items()}


@contextlib.contextmanager
def _naming_filter() -> Iterator[None]:
    """A filter's value refused as the list refuses it, named `filter.<name>`."""
    try:
        yield
    except InvalidInput as exc:
        raise InvalidInput.naming([
            {**d, "field": f"filter.{d['field']}"} if d.get("field") else d
            for d in exc.details]) from None


async def _bulk_target(request: web.Request, bulk: BulkTriageIn | BulkReviewIn,
                       fbp: bool) -> dict[str, Any]:
    if bulk.ids is not None:
        return {"ids": bulk.ids}
    assert bulk.filter is not None
    query = _filter_query(bulk.filter, FBP_FILTER_NAMES if fbp else P4F_FILTER_NAMES)
    with _naming_filter():
        found = await (fbp_filters(request, query) if fbp else p4f_filters(request, query))
    return {"filter": found}


async def fbp_bulk_body(request: web.Request) -> bytes:
    """Which entries, and what to set: an assignee that is a user id must be on the team,
    `me` is the caller."""
    bulk = await read_model(request, BulkTriageIn)
    changes = bulk.set.changes()
    assignee = changes.get("assignee")
    if isinstance(assignee, str) and assignee.lower() == "me":
        changes["assignee"] = _assignee(request, "set.assignee", assignee)
    member = parse_uuid(changes.get("assignee"))
    if member is not None:
        await require_member(request, member, "set.assignee")
    return orjson.dumps({**await _bulk_target(request, bulk, fbp=True), "set": changes})


async def p4f_bulk_body(request: web.Request) -> bytes:
    bulk = await read_model(request, BulkReviewIn)
    verdict = "approved" if bulk.action == "approve" else "rejected"
    return orjson.dumps({**await _bulk_target(request, bulk, fbp=False),
                         "review": {"verdict": verdict, "reason": bulk.reason}})


def _bulk_view(request: web.Request, payload: Any, key: str,
               view: Any) -> dict[str, Any]:
    items = []
    for item in payload["items"]:
        one = {name: item[name] for name in ("id", "ok", "status", "changed")}
        if item["ok"]:
            one[key] = view(request, item["entry"])
        else:
            one["error"] = item["error"]
        items.append(one)
    succeeded = sum(1 for i in items if i["ok"])
    # The organization's audit log: a row for each entry changed.
    request[TargetsKey] = [i["id"] for i in items if i["changed"]]
    return {"requested": len(items), "succeeded": succeeded,
            "changed": sum(1 for i in items if i["changed"]),
            "failed": len(items) - succeeded, "items": items}


def fbp_bulk_answer(request: web.Request, op: Operation, payload: Any, status: int
                    ) -> web.Response:
    return FEEDBACKPRO.ok(request, _bulk_view(request, payload, "entry", fbp_entry))


def p4f_bulk_answer(request: web.Request, op: Operation, payload: Any, status: int
                    ) -> web.Response:
    return PAY4FEEDBACK.ok(request, _bulk_view(request, payload, "response", p4f_response))
