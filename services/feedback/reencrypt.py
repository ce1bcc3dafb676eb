"""`python -m resonanz.feedback reencrypt`: rewrite the payment details this service keeps
sealed (the shoppers' in `payouts.payee_sealed`, the shops' debtor IBANs in
`payout_accounts.iban_sealed`) under the first key of `RESONANZ_ENCRYPTION_KEYS`: the
middle step of a key rotation (docs/operations-secrets.md), as the webhook dispatcher's
`reencrypt` does for its secrets.

Batches of rows in key order, each one transaction with its rows locked (a claim, an
erasure or an account change at the same time waits for it, and is not overwritten), so it
may run while the platform serves; a second run rewrites nothing. A value no key of the
ring opens is listed by its row (the payout id, the tenant id), left as it is, and makes
the command exit with status 1: keep the old keys until that list is empty.
"""

from __future__ import annotations

import argparse
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from resonanz.shared.cli import add_reencrypt
from resonanz.shared.crypto import KeyRing, UndecryptableSecret
from resonanz.shared.db import create_pool

from .app import SERVICE, FeedbackSettings
from .claims import payee_context
from .sepa import account_context

log = logging.getLogger(__name__)
BATCH = 100


def register(commands: argparse._SubParsersAction, settings: FeedbackSettings) -> None:
    add_reencrypt(commands, "the sealed payment details (payees, payout accounts)",
                  lambda: reencrypt(settings))


async def reencrypt(settings: FeedbackSettings) -> Resealed:
    pool = await create_pool(settings.service_dsn(SERVICE), min_size=1, max_size=2)
    try:
        return await reseal_all(pool, settings.key_ring())
    finally:
        await pool.close()


@dataclass
class Resealed:
    payouts: int = 0  # rows with sealed payment details looked at
    accounts: int = 0
    rewritten: int = 0
    undecryptable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Column:
    """A sealed column: its table, key, column, and the context each row's value is sealed to."""

    table: str
    key: str
    column: str
    context: Callable[[str], str]


PAYEES = Column("payouts", "id", "payee_sealed", payee_context)
ACCOUNTS = Column("payout_accounts", "tenant_id", "iban_sealed", account_context)


async def reseal_all(pool: asyncpg.Pool, ring: KeyRing, batch: int = BATCH) -> Resealed:
    """Every sealed payee and payout account not under the ring's first key, rewritten."""
    report = Resealed()
    report.payouts = await _reseal(pool, ring, PAYEES, batch, report)
    report.accounts = await _reseal(pool, ring, ACCOUNTS, batch, report)
    return report


async def _reseal(pool: asyncpg.Pool, ring: KeyRing, column: Column, batch: int,
                  report: Resealed) -> int:
    seen, after = 0, uuid.UUID(int=0)
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT {column.key} AS key, {column.column} AS sealed FROM {column.table}"
                f" WHERE {column.column} IS NOT NULL AND {column.key} > $1"
                f" ORDER BY {column.key} LIMIT $2 FOR UPDATE", after, batch)
            updates = [(row["key"], new) for row in rows
                       if (new := _resealed(ring, column, row, report)) is not None]
            await conn.executemany(
                f"UPDATE {column.table} SET {column.column} = $2 WHERE {column.key} = $1",
                updates)
        if not rows:
            return seen
        seen += len(rows)
        report.rewritten += len(updates)
        after = rows[-1]["key"]


def _resealed(ring: KeyRing, column: Column, row: asyncpg.Record, report: Resealed
              ) -> str | None:
    """The value sealed under the first key, or None when it is already (or opens under no
    key: then it is reported)."""
    if ring.is_current(row["sealed"]):
        return None
    context = column.context(str(row["key"]))
    try:
        return ring.encrypt(ring.decrypt(row["sealed"], context), context)
    except UndecryptableSecret as exc:
        report.undecryptable.append(str(row["key"]))
        log.error("%s %s: its sealed %s does not open (%s)", column.table, row["key"],
                  column.column, exc)
        return None
