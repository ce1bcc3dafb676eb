"""A campaign's reward limits at approval (domain.Limits): the budget its cash rewards may
pay in total and how many rewards one shopper may get within a number of days. The
approval's transaction locks the campaign's row first, so concurrent approvals of one
campaign count one after another: each sees the payouts the ones before it committed."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import asyncpg

from . import store
from .domain import Campaign, Entry, check_budget, check_shopper, limits_of, reward_of

# A payout failed or cancelled paid nothing: it counts towards no limit.
COUNTED = "status NOT IN ('failed', 'cancelled')"


async def check_approval(conn: asyncpg.Connection, entry: Entry, campaign: Campaign | None
                         ) -> Campaign | None:
    """The campaign as the approval of `entry`'s reward goes on with: with limits, its row
    locked until the caller's transaction ends and read again under the lock. Raises
    RewardLimitReached (a 409) when the approval would go over the campaign's budget or
    its shopper's limit. An entry without an email has no shopper to count."""
    if campaign is None or not limits_of(campaign).any:
        return campaign
    locked = await lock_campaign(conn, entry.tenant_id, campaign.widget_id)
    limits, reward = limits_of(locked), reward_of(locked)
    if reward.kind == "none":
        return locked
    if limits.budget is not None and limits.currency is not None:
        check_budget(limits, reward, await spent(conn, campaign.widget_id, limits.currency))
    if limits.max_rewards is not None and limits.period_days and entry.customer_email:
        check_shopper(limits, await shopper_rewards(conn, campaign.widget_id,
                                                    entry.customer_email, limits.period_days))
    return locked


async def lock_campaign(conn: asyncpg.Connection, tenant_id: str, widget_id: str
                        ) -> Campaign | None:
    """The campaign, its row locked until the transaction ends. NO KEY: a voucher code
    stored meanwhile (its foreign key) does not wait for the approval."""
    row = await conn.fetchrow(
        "SELECT widget_id, status, reward, auto_approve_above, auto_reject_below"
        " FROM campaigns WHERE widget_id = $1 AND tenant_id = $2 FOR NO KEY UPDATE",
        uuid.UUID(widget_id), tenant_id)
    if row is None:
        return None
    return Campaign(str(row["widget_id"]), row["status"], row["reward"],
                    row["auto_approve_above"], row["auto_reject_below"])


async def spent(conn: asyncpg.Connection | asyncpg.Pool, widget_id: str, currency: str
                ) -> Decimal:
    """What the campaign's approved cash rewards in `currency` pay (paid or still to be)."""
    total: Decimal = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM payouts WHERE widget_id = $1 AND kind = 'amount'"
        f" AND currency = $2 AND {COUNTED}", uuid.UUID(widget_id), currency)
    return total


async def shopper_rewards(conn: asyncpg.Connection, widget_id: str, email: str, days: int
                          ) -> int:
    """The shopper's rewards of the campaign approved within the last `days` days."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM entries e JOIN payouts p ON p.entry_id = e.id"
        " WHERE e.widget_id = $1 AND e.reward_status = 'approved'"
        # The partial index's own words (migration 0032), so that the planner takes it.
        " AND e.customer_email IS NOT NULL AND lower(e.customer_email) = lower($2)"
        f" AND p.{COUNTED} AND p.created_at > now() - make_interval(days => $3)",
        uuid.UUID(widget_id), email, days)
    return count


async def budget_of(pool: asyncpg.Pool, tenant_id: str, widget_id: str
                    ) -> dict[str, Any] | None:
    """The campaign's budget, what is spent of it and what is left; None without one."""
    campaign = await store.campaign_of(pool, tenant_id, widget_id)
    limits = limits_of(campaign)
    if limits.budget is None or limits.currency is None:
        return None
    used = await spent(pool, widget_id, limits.currency)
    return {"currency": limits.currency, "amount": f"{limits.budget:.2f}",
            "spent": f"{used:.2f}", "remaining": f"{max(limits.budget - used, Decimal(0)):.2f}"}

