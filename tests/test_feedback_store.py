"""The feedback store's hot queries on real PostgreSQL: what they find and what they read."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from resonanz.feedback import retention
from resonanz.feedback.domain import Entry
from resonanz.feedback.store import (
    DEFERRED_OFFSET,
    LOOKUP_SQL,
    ListQuery,
    Looked,
    Lookup,
    NewEntry,
    count_entries,
    fold_entry_counts,
    get_entry,
    insert_entries,
    list_entries,
    look_up,
)
from resonanz.feedback.store import filters as list_filters
from resonanz.shared.db import GroupCommit, Grouped, create_pool, migrate
from resonanz.shared.events import FeedbackCreated, new_event
from resonanz.shared.settings import Settings

from .support import plan_of, scans

TENANT = str(uuid.uuid4())
WIDGET = str(uuid.uuid4())
CAMPAIGN_SIZE = 3000
WINDOW = 500


@pytest.fixture
async def feedback_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    await migrate(database_url, "feedback")
    conn = await asyncpg.connect(Settings(database_url=database_url).service_dsn("feedback"))
    rng = random.Random(7)
    for widget in (None, WIDGET):
        await conn.executemany(
            "INSERT INTO entries (id, tenant_id, widget_id, body, simhash, created_at,"
            " updated_at) VALUES ($1, $2, $3, 'x', $4,"
            " now() - $5 * interval '1 second', now())",
            [(uuid.uuid4(), TENANT, widget, rng.getrandbits(64) - 2**63, n)
             for n in range(1, CAMPAIGN_SIZE + 1)])
    await conn.execute("ANALYZE entries")
    try:
        yield conn
    finally:
        await conn.close()


async def near(conn: asyncpg.Connection, widget: str | None, simhash: int,
               tenant: str = TENANT) -> list[tuple[str, int]]:
    [found] = await look_up(conn, [Lookup(tenant, widget, simhash)], 12, WINDOW)
    return found.near


@pytest.mark.parametrize("widget", [None, WIDGET], ids=["without widget", "with widget"])
async def test_near_duplicate_lookup_reads_only_the_window_once_per_campaign(
    feedback_db: asyncpg.Connection, widget: str | None,
) -> None:
    """Three entries of one campaign and one of another: two windows read, each at most
    WINDOW rows, however many entries the campaigns have."""
    other = None if widget else WIDGET
    # Prepared statements switch to a generic plan after five runs: check that one too.
    for mode in ("force_custom_plan", "force_generic_plan"):
        await feedback_db.execute(f"SET plan_cache_mode = {mode}")
        raw = await feedback_db.fetchval(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {LOOKUP_SQL}",
            [TENANT] * 4, [widget, widget, other, widget], WINDOW)
        [scan] = scans(plan_of(raw), "entries")
        assert scan["Index Name"] == "entries_campaign_fingerprints", (mode, scan)
        assert scan["Actual Loops"] == 2, (mode, scan)
        assert scan["Actual Rows"] <= WINDOW, (mode, scan["Actual Rows"])


async def test_near_duplicates_of_one_campaign_share_its_window_and_each_gets_its_own(
    feedback_db: asyncpg.Connection,
) -> None:
    """Fingerprints are stored signed: the distance counts their 64 bits either way. The
    closest wins; on a tie the earliest entry, the likely original."""
    first, second, negative = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    base, negative_hash = 0x0123_4567_89AB_CDEF, -0x7EDC_BA98_7654_3210
    await feedback_db.executemany(
        "INSERT INTO entries (id, tenant_id, widget_id, body, simhash, created_at, updated_at)"
        " VALUES ($1, $2, NULL, 'x', $3, now() - $4 * interval '1 second', now())",
        [(first, TENANT, base ^ 0b11, 0.7), (second, TENANT, base ^ 0b1100, 0.6),
         (negative, TENANT, negative_hash, 0.5)])
    found = await look_up(feedback_db, [Lookup(TENANT, None, base ^ 0b1),
                                        Lookup(TENANT, None, base),
                                        Lookup(TENANT, None, negative_hash ^ (1 << 62)),
                                        Lookup(TENANT, None, ~negative_hash)], 12, WINDOW)
    assert [x.near for x in found] == [
        [(str(first), base ^ 0b11)],  # one bit away, the later one three
        [(str(first), base ^ 0b11)],  # two bits from both: the earlier
        [(str(negative), negative_hash)],
        [],  # every bit differs
    ]


@pytest.mark.parametrize("widget", [None, WIDGET], ids=["without widget", "with widget"])
async def test_near_duplicates_are_found_in_the_campaigns_latest_entries_only(
    feedback_db: asyncpg.Connection, widget: str | None,
) -> None:
    recent, old = uuid.uuid4(), uuid.uuid4()
    recent_hash, old_hash = 0x0F0F_0F0F_0F0F_0F0F, 0x3C3C_3C3C_3C3C_3C3C
    await feedback_db.executemany(
        "INSERT INTO entries (id, tenant_id, widget_id, body, simhash, created_at, updated_at)"
        " VALUES ($1, $2, $3, 'x', $4, now() - $5 * interval '1 second', now())",
        [(recent, TENANT, widget, recent_hash, 0.5),
         (old, TENANT, widget, old_hash, WINDOW + 10.5)])

    assert await near(feedback_db, widget, recent_hash ^ 0b101) == [(str(recent), recent_hash)]
    assert await near(feedback_db, widget, old_hash ^ 0b1) == []
    other = None if widget else WIDGET  # the other campaign never matches
    assert await near(feedback_db, other, recent_hash) == []
    assert await near(feedback_db, widget, recent_hash, tenant=str(uuid.uuid4())) == []


async def test_grouped_lookups_answer_each_entry_its_own_widget_campaign_and_duplicate(
    feedback_db: asyncpg.Connection, database_url: str,
) -> None:
    """Concurrent requests' lookups share one statement, and each gets its own answer: the
    widget's owner and campaign, and the near-duplicate in its own campaign."""
    other_tenant, foreign_widget, unknown_widget = (str(uuid.uuid4()) for _ in range(3))
    await feedback_db.executemany(
        "INSERT INTO campaigns (widget_id, tenant_id, status, reward, auto_approve_above,"
        " auto_reject_below, version) VALUES ($1, $2, 'active', $3, $4, NULL, 1)"
        " ON CONFLICT (widget_id) DO NOTHING",
        [(WIDGET, TENANT, json.dumps({"type": "voucher", "value": "5 EUR"}), 80),
         (foreign_widget, other_tenant, None, None)])
    hashes = {widget: 0x1234_5678_9ABC_DEF0 ^ n for n, widget in enumerate((None, WIDGET))}
    ids = {widget: uuid.uuid4() for widget in hashes}
    await feedback_db.executemany(
        "INSERT INTO entries (id, tenant_id, widget_id, body, simhash, created_at, updated_at)"
        " VALUES ($1, $2, $3, 'x', $4, now(), now())",
        [(ids[w], TENANT, w, h) for w, h in hashes.items()])
    pool = await create_pool(Settings(database_url=database_url).service_dsn("feedback"),
                             max_size=2)
    rounds: list[int] = []

    async def run(conn: asyncpg.Connection, items: list[Lookup]) -> list[Looked]:
        rounds.append(len(items))
        return await look_up(conn, items, 12, WINDOW)

    try:
        lookups = Grouped(pool, run, transaction=False)
        asked = [Lookup(TENANT, None, hashes[None] ^ 0b1),
                 Lookup(TENANT, WIDGET, hashes[WIDGET] ^ 0b11),
                 Lookup(TENANT, foreign_widget, hashes[WIDGET]),
                 Lookup(TENANT, unknown_widget, hashes[None]),
                 Lookup(TENANT, WIDGET, ~hashes[WIDGET])]
        answers = await asyncio.gather(*(lookups.submit(one) for one in asked))
    finally:
        await pool.close()
    plain, campaign, foreign, unknown, far = answers
    assert plain.widget_owner is None and plain.campaign is None
    assert plain.near == [(str(ids[None]), hashes[None])]
    assert campaign.widget_owner == uuid.UUID(TENANT)
    assert campaign.campaign is not None and campaign.campaign.widget_id == WIDGET
    assert campaign.campaign.auto_approve_above == 80
    assert campaign.near == [(str(ids[WIDGET]), hashes[WIDGET])]
    assert foreign.widget_owner == uuid.UUID(other_tenant) and foreign.near == []
    assert unknown == Looked(None, [], None)
    assert far.near == [] and far.campaign == campaign.campaign
    assert rounds == [len(asked)], "the lookups were not grouped"


# --- group commit of new entries -------------------------------------------------------------


def new_entry(rating: int = 4) -> NewEntry:
    entry = Entry.fresh(str(uuid.uuid4()), TENANT, datetime.now(UTC), widget_id=None,
                        body="Die Größentabelle stimmt nicht.", rating=rating,
                        category=None, metadata={}, customer_email=None, answers={},
                        quality={"label": "good", "version": "test"}, quality_score=80)
    event = new_event(FeedbackCreated(entry=entry.snapshot()), source="test",
                      tenant_id=TENANT, subject=entry.id)
    return NewEntry(entry, 42, "key:test", event, "feedback.events")


@pytest.fixture
async def feedback_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    await migrate(database_url, "feedback")
    pool = await create_pool(Settings(database_url=database_url).service_dsn("feedback"),
                             max_size=4)
    yield pool
    await pool.close()


async def test_concurrent_entries_share_transactions_and_each_is_written_whole(
    feedback_pool: asyncpg.Pool,
) -> None:
    writer = GroupCommit(feedback_pool, insert_entries, one_statement=True)
    rows = [new_entry() for _ in range(60)]
    await asyncio.gather(*(writer.submit(row) for row in rows))
    ids = [uuid.UUID(row.entry.id) for row in rows]
    written = await feedback_pool.fetch(
        "SELECT e.id, e.quality_version, e.updated_at = e.created_at AS fresh,"
        " a.action, a.actor, o.key FROM entries e JOIN audit_log a ON a.entry_id = e.id"
        " JOIN outbox o ON o.key = e.id::text WHERE e.id = ANY($1::uuid[])", ids)
    assert sorted(r["id"] for r in written) == sorted(ids)
    assert {(r["quality_version"], r["fresh"], r["action"], r["actor"]) for r in written} \
        == {("test", True, "created", "key:test")}
    transactions = await feedback_pool.fetchval(
        "SELECT count(DISTINCT xmin::text) FROM entries WHERE id = ANY($1::uuid[])", ids)
    assert transactions < len(rows) / 4, "the writes were not grouped"


async def test_a_bad_entry_in_a_group_fails_only_its_own_caller(
    feedback_pool: asyncpg.Pool,
) -> None:
    writer = GroupCommit(feedback_pool, insert_entries, one_statement=True)
    good = [new_entry() for _ in range(20)]
    bad = new_entry(rating=9)  # the table's CHECK refuses it
    outcomes = await asyncio.gather(*(writer.submit(row) for row in [*good[:10], bad,
                                                                     *good[10:]]),
                                    return_exceptions=True)
    assert [type(o) for o in outcomes].count(asyncpg.CheckViolationError) == 1
    assert isinstance(outcomes[10], asyncpg.CheckViolationError)
    stored = await feedback_pool.fetchval(
        "SELECT count(*) FROM entries WHERE id = ANY($1::uuid[])",
        [uuid.UUID(row.entry.id) for row in [*good, bad]])
    assert stored == len(good)
    assert await feedback_pool.fetchval(
        "SELECT count(*) FROM outbox WHERE key = $1", bad.entry.id) == 0


# --- list totals -------------------------------------------------------------------------------


async def test_list_totals_follow_every_write_and_survive_folding(
    feedback_pool: asyncpg.Pool,
) -> None:
    rng = random.Random(11)
    tenant, widgets = str(uuid.uuid4()), [str(uuid.uuid4()), None]
    ids = [uuid.uuid4() for _ in range(300)]
    await feedback_pool.executemany(
        "INSERT INTO entries (id, tenant_id, widget_id, body, status) VALUES ($1, $2, $3,"
        " 'x', $4)",
        [(i, tenant, rng.choice(widgets), rng.choice(["new", "pending"])) for i in ids])
    await feedback_pool.execute(  # one statement moving many, one deleting some
        "UPDATE entries SET status = 'resolved' WHERE id = ANY($1::uuid[])", ids[:80])
    await feedback_pool.execute(
        "UPDATE entries SET deleted_at = now() WHERE id = ANY($1::uuid[])", ids[60:100])
    await feedback_pool.execute("UPDATE entries SET body = 'y' WHERE id = $1", ids[200])
    await feedback_pool.execute("DELETE FROM audit_log WHERE entry_id = ANY($1::uuid[])",
                                ids[290:])
    await feedback_pool.execute("DELETE FROM entries WHERE id = ANY($1::uuid[])", ids[290:])
    await feedback_pool.execute(
        "UPDATE entries SET widget_id = $2 WHERE id = ANY($1::uuid[])", ids[100:120],
        widgets[0])

    async def both(**filters: Any) -> tuple[int, int]:
        q = ListQuery(tenant_id=tenant, **filters)
        where, args = list_filters(q)
        counted = await feedback_pool.fetchval(
            f"SELECT count(*) FROM entries WHERE {' AND '.join(where)}", *args)
        return await count_entries(feedback_pool, q), counted

    views: list[dict[str, Any]] = [
        {}, {"statuses": ("new",)}, {"statuses": ("resolved", "pending")},
        {"widget_id": widgets[0]}, {"widget_id": widgets[0], "statuses": ("new",)}]
    for view in views:
        kept, counted = await both(**view)
        assert kept == counted, view
    assert await feedback_pool.fetchval(
        "SELECT count(*) FROM entry_counts WHERE tenant_id = $1", tenant) > 8
    for _ in range(3):  # many deltas: folded into one row per widget and status
        await feedback_pool.execute(
            "UPDATE entries SET status = 'new' WHERE id = ANY($1::uuid[])", ids[120:125])
        await feedback_pool.executemany(
            "UPDATE entries SET status = 'pending' WHERE id = $1", [(i,) for i in ids[:70]])
    assert await fold_entry_counts(feedback_pool) >= 1
    assert await feedback_pool.fetchval(
        "SELECT count(*) FROM entry_counts WHERE tenant_id = $1", tenant) <= 2 * 3
    for view in views:
        kept, counted = await both(**view)
        assert kept == counted, view
    assert (await both())[0] == 300 - 40 - 10


async def test_a_total_with_another_filter_is_counted_from_the_rows(
    feedback_pool: asyncpg.Pool,
) -> None:
    tenant = str(uuid.uuid4())
    await feedback_pool.executemany(
        "INSERT INTO entries (id, tenant_id, body, rating) VALUES ($1, $2, 'x', $3)",
        [(uuid.uuid4(), tenant, 1 + n % 5) for n in range(50)])
    assert await count_entries(feedback_pool, ListQuery(tenant_id=tenant, ratings=(1, 2))) == 20
    assert await count_entries(feedback_pool, ListQuery(tenant_id=tenant, rating_min=5)) == 10
    assert await count_entries(feedback_pool, ListQuery(tenant_id=tenant)) == 50


async def test_a_deep_page_number_lists_the_same_rows_as_an_offset(
    feedback_pool: asyncpg.Pool,
) -> None:
    tenant = str(uuid.uuid4())
    await feedback_pool.execute(
        "INSERT INTO entries (id, tenant_id, body, status, created_at, updated_at)"
        " SELECT gen_random_uuid(), $1, 'x', (ARRAY['new', 'pending'])[1 + g % 2],"
        " now() - (g / 3) * interval '1 second', now() FROM generate_series(1, 2300) g",
        tenant)  # three entries per second: the id breaks the ties
    for q in (ListQuery(tenant_id=tenant, page=22, limit=50),
              ListQuery(tenant_id=tenant, page=11, limit=100, descending=False),
              ListQuery(tenant_id=tenant, page=22, limit=50, statuses=("pending",))):
        assert (q.page - 1) * q.limit >= DEFERRED_OFFSET
        where, args = list_filters(q)
        direction = "DESC" if q.descending else "ASC"
        expected = await feedback_pool.fetch(
            f"SELECT id FROM entries WHERE {' AND '.join(where)} ORDER BY created_at"
            f" {direction}, id {direction} LIMIT {q.limit} OFFSET {(q.page - 1) * q.limit}",
            *args)
        page = await list_entries(feedback_pool, q)
        assert [e.id for e in page.items] == [str(r["id"]) for r in expected]
        assert page.total == (2300 if not q.statuses else 1150)


async def test_lists_carry_the_quality_without_its_components_and_the_entry_all_of_it(
    feedback_pool: asyncpg.Pool,
) -> None:
    row = new_entry()
    quality = {"score": 80, "label": "good", "version": "test", "language": "de",
               "duplicate_of": None,
               "components": {"specificity": {"points": 12, "reason": "names the size chart"}}}
    row = NewEntry(replace(row.entry, quality=quality), row.simhash, row.actor, row.event,
                   row.topic)
    await GroupCommit(feedback_pool, insert_entries, one_statement=True).submit(row)
    summary = {k: v for k, v in quality.items() if k != "components"}
    for q in (ListQuery(tenant_id=TENANT, limit=500),
              ListQuery(tenant_id=TENANT, limit=500, search="Größentabelle")):
        listed = [e for e in (await list_entries(feedback_pool, q)).items if e.id == row.entry.id]
        assert [e.quality for e in listed] == [summary], q
    entry = await get_entry(feedback_pool, TENANT, row.entry.id)
    assert entry.quality == quality
    assert entry == replace(listed[0], quality=quality)


async def test_the_retention_job_reads_only_entries_older_than_the_shortest_retention(
        feedback_db: asyncpg.Connection) -> None:
    """6,000 entries of the last hours, none due: the hourly job's query stops at once. It
    walked every entry not yet anonymised, from the oldest on, to find that out."""
    await feedback_db.execute("INSERT INTO tenant_retention (tenant_id, months, version)"
                              " VALUES ($1, 6, 1)", TENANT)
    plan = plan_of(await feedback_db.fetchval(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {retention.DUE_SQL}", 500))
    assert plan["Actual Rows"] == 0
    assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 30, plan
    # What is due is found all the same: one entry of seven months, one of 25 of a tenant
    # without a retention of its own (24 months), none of 7 months there.
    other = str(uuid.uuid4())
    due = [(uuid.uuid4(), TENANT, 7), (uuid.uuid4(), other, 25)]
    await feedback_db.executemany(
        "INSERT INTO entries (id, tenant_id, body, created_at, updated_at) VALUES ($1, $2,"
        " 'x', now() - make_interval(months => $3), now())",
        [*due, (uuid.uuid4(), other, 7)])
    found = {r["id"] for r in await feedback_db.fetch(retention.DUE_SQL, 500)}
    assert found == {entry_id for entry_id, _, _ in due}
