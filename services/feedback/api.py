"""HTTP in and out for the feedback service (internal API; the gateway renders dialects)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from resonanz.shared.caller import caller_of
from resonanz.shared.contracts import MAX_BULK, BulkSetIn, EntryIn, PatchIn, ReviewIn, UuidStr
from resonanz.shared.db import PoolKey
from resonanz.shared.errors import InvalidInput
from resonanz.shared.params import (
    parse_uuid,
    query_datetime,
    query_int,
    query_page,
    query_uuid,
)
from resonanz.shared.web import SettingsKey, json_response, read_model

from . import commands, export, payouts, reward_limits, store
from .domain import (
    PAYOUT_STATUSES,
    REWARD_STATUSES,
    STATUSES,
    Campaign,
    Entry,
    Patch,
    allowed_moves,
    automatic_review,
)

routes = web.RouteTableDef()

MAX_LIST_LIMIT = 500
SORTS = {"created_at:desc": True, "created_at:asc": False, "-created_at": True,
         "created_at": False}


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id, "widget_id": entry.widget_id, "body": entry.body,
        "rating": entry.rating, "category": entry.category, "metadata": entry.metadata,
        "customer_email": entry.customer_email, "answers": entry.answers,
        "status": entry.status, "allowed_transitions": allowed_moves(entry.status),
        "assignee": entry.assignee,
        "quality_score": entry.quality_score, "quality": entry.quality,
        "reward": commands.review_json(entry), "created_at": entry.created_at,
        "updated_at": entry.updated_at, "first_response_at": entry.first_response_at,
        "resolved_at": entry.resolved_at,
    }


def entry_brief_json(entry: Entry) -> dict[str, Any]:
    """What a list of rewards shows of an entry (Pay4Feedback's responses): eight of the
    full entry's eighteen fields and two of its five times, for pages of up to 500
    entries."""
    return {
        "id": entry.id, "widget_id": entry.widget_id, "body": entry.body,
        "rating": entry.rating, "customer_email": entry.customer_email,
        "quality_score": entry.quality_score, "reward": commands.review_json(entry),
        "created_at": entry.created_at,
    }


# A list's `view`: every field, or the brief one a list of rewards shows.
VIEWS = {"full": entry_json, "brief": entry_brief_json}


class BulkReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["approved", "rejected"]
    reason: str | None = Field(default=None, max_length=2000)


# A consumer's batch is at most 500 records (shared/consumer.py).
MAX_PERSONAL = 1000


class BulkIn(BaseModel):
    """A bulk change as the gateway sends it: the entries (ids, or a list's filter as its
    query parameters) and either the triage to set or the reward review to make."""

    model_config = ConfigDict(extra="forbid")

    ids: list[UuidStr] | None = Field(default=None, min_length=1, max_length=MAX_BULK)
    filter: dict[str, str] | None = None
    set: BulkSetIn | None = None
    review: BulkReview | None = None

    @model_validator(mode="after")
    def one_of_each(self) -> BulkIn:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("send either ids or filter")
        if (self.set is None) == (self.review is None):
            raise ValueError("send either set or review")
        return self


IntakeKey: web.AppKey[commands.Intake] = web.AppKey("intake")


async def intake_ctx(app: web.Application) -> AsyncIterator[None]:
    """New entries' grouped lookups and writes, on the service's pool (after pool_ctx)."""
    app[IntakeKey] = commands.Intake(app[PoolKey])
    yield


def _topic(request: web.Request) -> str:
    return request.app[SettingsKey].topic_feedback


@routes.post("/entries")
async def create_entry(request: web.Request) -> web.Response:
    actor = caller_of(request)
    body = await read_model(request, EntryIn)
    entry = await commands.create_entry(request.app[IntakeKey], _topic(request), actor, body)
    return json_response(entry_json(entry), status=201)


@routes.get("/entries")
async def list_entries(request: web.Request) -> web.Response:
    actor = caller_of(request)
    query = list_query(request, actor.tenant_id)
    view = VIEWS.get(request.query.get("view", "full"))
    if view is None:
        raise _bad("view", f"unknown; allowed {list(VIEWS)}", request.query["view"])
    # Read before the page: a change in between makes the next poll fetch again.
    mark = (await store.change_mark(request.app[PoolKey], actor.tenant_id)
            if request.query.get("mark") == "1" else None)
    page = await store.list_entries(request.app[PoolKey], query)
    return json_response({"items": [view(e) for e in page.items], "total": page.total,
                          "next_cursor": page.next_cursor,
                          **({"mark": mark} if mark is not None else {})})


@routes.get("/entries/mark")
async def entries_mark(request: web.Request) -> web.Response:
    """What moves with every change to the tenant's entries: a list's ETag is made of it."""
    actor = caller_of(request)
    return json_response({"mark": await store.change_mark(request.app[PoolKey],
                                                          actor.tenant_id)})


@routes.post("/entries/bulk")
async def bulk_entries(request: web.Request) -> web.Response:
    """One change to many entries, each in its own transaction with its own audit row and
    events; what failed is reported per entry, the rest is done."""
    actor = caller_of(request)
    bulk = await read_model(request, BulkIn)
    pool = request.app[PoolKey]
    if bulk.ids is not None:
        ids = list(dict.fromkeys(bulk.ids))
    else:
        try:
            query = query_of(bulk.filter or {}, actor.tenant_id)
        except InvalidInput as exc:
            raise InvalidInput.naming([{**d, "field": f"filter.{d.get('field')}"}
                                       for d in exc.details]) from None
        ids = await store.matching_ids(pool, query, MAX_BULK + 1)
        if len(ids) > MAX_BULK:
            raise _bad("filter", f"matches more than {MAX_BULK} entries; narrow it down"
                       f" (at most {MAX_BULK} per request)")
    if bulk.review is not None:
        results = await commands.review_many(pool, _topic(request), actor, ids,
                                             bulk.review.verdict, bulk.review.reason,
                                             request.app[payouts.WidgetsKey])
    else:
        assert bulk.set is not None
        patch = Patch(**bulk.set.changes())
        results = await commands.update_many(pool, _topic(request), actor, ids, patch)
    return json_response({"items": [_bulk_item(r) for r in results]})


def _bulk_item(result: commands.Outcome) -> dict[str, Any]:
    if result.entry is not None:
        return {"id": result.id, "ok": True, "status": 200, "changed": result.changed,
                "entry": entry_json(result.entry)}
    error = result.error
    assert error is not None
    return {"id": result.id, "ok": False, "status": error.status, "changed": False,
            "error": {"code": error.code, "message": error.message, "details": error.details}}


@routes.get("/rewards/totals")
async def reward_totals(request: web.Request) -> web.Response:
    """The rewards queue's running totals: counts by state, money approved and paid."""
    actor = caller_of(request)
    widget_id = query_uuid(request.query, "widget_id")
    pool = request.app[PoolKey]
    totals = await store.reward_totals(pool, actor.tenant_id, widget_id)
    # One campaign's: its budget, spent and remaining (null when it has none).
    budget = await reward_limits.budget_of(pool, actor.tenant_id, widget_id) if widget_id else None
    return json_response({**totals, "budget": budget})


class PayoutMark(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field(default=None, max_length=140)
    reason: str | None = Field(default=None, max_length=2000)


@routes.get("/payouts")
async def list_payouts(request: web.Request) -> web.Response:
    actor, q = caller_of(request), request.query
    statuses = tuple(s.strip().lower() for s in q.get("status", "").split(",") if s.strip())
    unknown = [s for s in statuses if s not in PAYOUT_STATUSES]
    if unknown:
        raise _bad("status", f"unknown {unknown}; allowed {list(PAYOUT_STATUSES)}",
                   q["status"])
    limit = min(query_int(q, "limit", MAX_LIST_LIMIT), MAX_LIST_LIMIT)  # more: clamped
    items, next_cursor = await store.list_payouts(request.app[PoolKey], actor.tenant_id,
                                                  statuses, limit, q.get("cursor") or None)
    return json_response({"items": items, "next_cursor": next_cursor})


@routes.get("/payouts/{id}")
async def get_payout(request: web.Request) -> web.Response:
    actor = caller_of(request)
    return json_response(await store.get_payout(request.app[PoolKey], actor.tenant_id,
                                                request.match_info["id"]))


@routes.post("/payouts/{id}/{outcome:paid|failed|cancelled}")
async def settle_payout(request: web.Request) -> web.Response:
    """The shop's word on a payout: paid (cash it transferred), failed or cancelled."""
    actor = caller_of(request)
    body = await read_model(request, PayoutMark)
    settled = await commands.settle_payout(
        request.app[PoolKey], _topic(request), actor, request.match_info["id"],
        request.match_info["outcome"], body.reference, body.reason)
    return json_response(settled)


@routes.get("/rewards/threshold-preview")
async def threshold_preview(request: web.Request) -> web.Response:
    """What a campaign's automatic review thresholds would have done to the entries so far
    (domain.automatic_review's verdict for every scored entry, as if the thresholds were a
    campaign's: spam is never approved), and the scores' distribution to choose them by."""
    actor, q = caller_of(request), request.query
    approve = _bounded(q, "auto_approve_above", 0, 100)
    reject = _bounded(q, "auto_reject_below", 0, 100)
    if approve is not None and reject is not None and reject > approve:
        raise _bad("auto_reject_below", "must be <= auto_approve_above", str(reject))
    widget_id = query_uuid(q, "widget_id")
    counts = await store.score_counts(request.app[PoolKey], actor.tenant_id, widget_id)
    trial = Campaign(widget_id or "", "active", None, approve, reject)
    verdicts: Counter[str | None] = Counter()
    for score, n, spam in counts:
        verdicts[automatic_review(trial, score, spam=False)] += n - spam
        verdicts[automatic_review(trial, score, spam=True)] += spam
    scored = sum(verdicts.values())
    return json_response({
        "campaign_id": widget_id, "auto_approve_above": approve, "auto_reject_below": reject,
        "scored": scored, "spam": sum(spam for _, _, spam in counts),
        "would_approve": verdicts["approved"], "would_reject": verdicts["rejected"],
        "left_for_review": verdicts[None],
        "by_score": [{"score": s, "count": n} for s, n, _ in counts]})


@routes.get("/entries/export")
async def export_entries(request: web.Request) -> web.StreamResponse:
    """Every entry the list's filters find, as a CSV or JSON Lines file, streamed."""
    actor = caller_of(request)
    fmt = request.query.get("format", "csv")
    if fmt not in export.FORMATS:
        raise _bad("format", f"allowed: {sorted(export.FORMATS)}", fmt)
    query = list_query(request, actor.tenant_id)
    content_type, extension = export.FORMATS[fmt]
    response = web.StreamResponse(headers={
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="feedback.{extension}"'})
    response.enable_chunked_encoding()
    chunks = export.chunks(request.app[PoolKey], query, fmt)
    first = await anext(chunks)  # a database error is still an error answer here
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response


@routes.get("/entries/{id}")
async def get_entry(request: web.Request) -> web.Response:
    actor = caller_of(request)
    pool = request.app[PoolKey]
    entry = await store.get_entry(pool, actor.tenant_id, request.match_info["id"])
    body = entry_json(entry)
    body["audit_trail"] = await store.audit_trail(pool, entry.id)
    body["notes"] = await store.notes_of(pool, entry.id)
    body["payout"] = await store.payout_of(pool, entry.id)
    return json_response(body)


@routes.patch("/entries/{id}")
async def update_entry(request: web.Request) -> web.Response:
    actor = caller_of(request)
    patch = Patch(**(await read_model(request, PatchIn)).changes())
    entry = await commands.update_entry(request.app[PoolKey], _topic(request), actor,
                                        request.match_info["id"], patch)
    return json_response(entry_json(entry))


@routes.post("/entries/{id}/restore")
async def restore_entry(request: web.Request) -> web.Response:
    actor = caller_of(request)
    entry = await commands.restore_entry(request.app[PoolKey], _topic(request), actor,
                                         request.match_info["id"])
    return json_response(entry_json(entry))


@routes.delete("/entries/{id}")
async def delete_entry(request: web.Request) -> web.Response:
    actor = caller_of(request)
    await commands.delete_entry(request.app[PoolKey], _topic(request), actor,
                                request.match_info["id"])
    return json_response({"id": request.match_info["id"], "deleted": True})


@routes.post("/entries/{id}/approve")
async def approve_reward(request: web.Request) -> web.Response:
    return await _review(request, "approved")


@routes.post("/entries/{id}/reject")
async def reject_reward(request: web.Request) -> web.Response:
    return await _review(request, "rejected")


async def _review(request: web.Request, verdict: str) -> web.Response:
    actor = caller_of(request)
    body = await read_model(request, ReviewIn)
    pool = request.app[PoolKey]
    entry = await commands.review_reward(pool, _topic(request), actor,
                                         request.match_info["id"], verdict, body.reason,
                                         request.app[payouts.WidgetsKey])
    # The approval's payout, as `GET /entries/{id}` shows it: it was made with the approval.
    return json_response({**entry_json(entry), "payout": await store.payout_of(pool, entry.id)})


class PersonalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[UuidStr] = Field(min_length=1, max_length=MAX_PERSONAL)


@routes.post("/internal/personal")
async def personal(request: web.Request) -> web.Response:
    """The text and email of many entries at once, for the webhook dispatcher's payloads and
    mails (events carry neither: docs/privacy.md): one query for a consumer's whole batch."""
    actor = caller_of(request)
    body = await read_model(request, PersonalIn)
    return json_response(await store.personal_of(request.app[PoolKey], actor.tenant_id,
                                                 body.ids))


@routes.get("/internal/snapshots")
async def snapshots(request: web.Request) -> web.Response:
    """Entry snapshots for another service's rebuild (e.g. analytics)."""
    actor = caller_of(request)
    after = query_uuid(request.query, "after")
    entries = await store.snapshots_after(request.app[PoolKey], actor.tenant_id, after,
                                          query_int(request.query, "limit", 1000, upper=5000))
    return json_response([e.snapshot().model_dump(mode="json") for e in entries])


# --- list parameters -------------------------------------------------------------------


def list_query(request: web.Request, tenant_id: str) -> store.ListQuery:
    return query_of(request.query, tenant_id)


def query_of(q: Mapping[str, str], tenant_id: str) -> store.ListQuery:
    """A list's filters from its parameters (a query string, or a bulk change's filter)."""
    return store.ListQuery(
        tenant_id=tenant_id, statuses=_statuses(q.get("status", "")),
        reward_statuses=_reward_statuses(q.get("reward_status", "")),
        widget_id=query_uuid(q, "widget_id"), created_from=query_datetime(q, "from"),
        created_to=query_datetime(q, "to"), descending=_sort(q.get("sort", "created_at:desc")),
        limit=query_int(q, "limit", 50, upper=MAX_LIST_LIMIT), page=query_page(q),
        cursor=q.get("cursor") or None, with_total=q.get("total", "1") == "1",
        ratings=_ratings(q.get("rating", "")), rating_min=_bounded(q, "rating_min", 1, 5),
        rating_max=_bounded(q, "rating_max", 1, 5), category=_text(q, "category", 200),
        assignee=_assignee(q), quality_labels=_labels(q.get("quality", "")),
        score_min=_bounded(q, "score_min", 0, 100), score_max=_bounded(q, "score_max", 0, 100),
        search=_text(q, "q", MAX_SEARCH),
    )


def _bad(field: str, message: str, value: Any = None) -> InvalidInput:
    return InvalidInput.naming([{"field": field, "message": message, "value": value}])


def _statuses(raw: str) -> tuple[str, ...]:
    statuses = tuple(s.strip() for s in raw.split(",") if s.strip())
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise _bad("status", f"unknown {unknown}; allowed {list(STATUSES)}", raw)
    return statuses


def _reward_statuses(raw: str) -> tuple[str, ...]:
    statuses = tuple(s.strip().lower() for s in raw.split(",") if s.strip())
    allowed = [*REWARD_STATUSES, "none"]
    unknown = [s for s in statuses if s not in allowed]
    if unknown:
        raise _bad("reward_status", f"unknown {unknown}; allowed {allowed}", raw)
    return statuses


MAX_SEARCH = 200
QUALITY_LABELS = ("good", "fair", "poor", "spam")


def _ratings(raw: str) -> tuple[int, ...]:
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if any(p not in ("1", "2", "3", "4", "5") for p in parts):
        raise _bad("rating", "a comma list of whole numbers from 1 to 5", raw)
    return tuple(sorted({int(p) for p in parts}))


def _bounded(q: Mapping[str, str], name: str, lo: int, hi: int) -> int | None:
    raw = q.get(name, "").strip()
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or not lo <= int(raw) <= hi:
        raise _bad(name, f"must be a whole number from {lo} to {hi}", q.get(name))
    return int(raw)


def _text(q: Mapping[str, str], name: str, longest: int) -> str | None:
    raw = q.get(name, "")
    if "\x00" in raw or len(raw) > longest:
        raise _bad(name, f"at most {longest} characters, no NUL", raw[:longest])
    return raw.strip() or None


def _assignee(q: Mapping[str, str]) -> str | None:
    """A user id in its canonical spelling (as the API stores it), or a free-text name."""
    raw = _text(q, "assignee", 200)
    if raw is None:
        return None
    parsed = parse_uuid(raw)
    return str(parsed) if parsed else raw


def _labels(raw: str) -> tuple[str, ...]:
    labels = tuple(s.strip().lower() for s in raw.split(",") if s.strip())
    unknown = [s for s in labels if s not in QUALITY_LABELS]
    if unknown:
        raise _bad("quality", f"unknown {unknown}; allowed {list(QUALITY_LABELS)}", raw)
    return labels


def _sort(raw: str) -> bool:
    if raw not in SORTS:
        raise _bad("sort", f"allowed: {sorted(SORTS)}", raw)
    return SORTS[raw]
