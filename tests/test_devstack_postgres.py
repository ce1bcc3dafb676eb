"""The embedded PostgreSQL as root, from a checkout in a private (0700) directory such as
/root or any `mktemp -d`: PostgreSQL refuses root and runs as its own system user, who may
not enter that directory; the fix must not loosen the directory's permissions either."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from resonanz.devstack.supervisor import PG_SYSTEM_USER, EmbeddedPostgres

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="only as root does the server run as another user; else it is"
                              " the invoking user's, who can reach the private directory")


def _modes(path: Path) -> dict[Path, int]:
    """The permissions of `path` and every directory above it."""
    return {p: p.stat().st_mode for p in (path, *path.parents)}


@pytest.fixture
def private(tmp_path: Path) -> Path:
    directory = tmp_path / "checkout"
    directory.mkdir()
    directory.chmod(0o700)
    return directory


@pytest.fixture
def postgres(private: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(private / ".run" / "pgdata")
    try:
        yield server
    finally:
        server.stop()


async def _query(server: EmbeddedPostgres, sql: str) -> object:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def test_starts_as_root_from_a_private_directory_without_loosening_it(
    private: Path, postgres: EmbeddedPostgres,
) -> None:
    before = _modes(private)

    await asyncio.to_thread(postgres.start)

    assert await _query(postgres, "SELECT current_setting('data_directory')") == str(
        (private / ".run" / "pgdata").resolve())
    assert (private / ".run" / "pgdata").resolve().owner() == PG_SYSTEM_USER
    await asyncio.to_thread(postgres.stop)
    assert _modes(private) == before
    assert before[private] & 0o777 == 0o700


async def test_the_data_survives_a_restart_through_the_same_path(
    postgres: EmbeddedPostgres,
) -> None:
    await asyncio.to_thread(postgres.start)
    await _query(postgres, "CREATE TABLE kept (id int)")
    await asyncio.to_thread(postgres.stop)

    again = EmbeddedPostgres(postgres.data_dir)
    await asyncio.to_thread(again.start)
    try:
        assert await _query(again, "SELECT count(*) FROM kept") == 0
    finally:
        again.stop()


async def test_data_whose_link_was_deleted_is_removed_at_the_next_start(
    tmp_path: Path, private: Path, postgres: EmbeddedPostgres,
) -> None:
    await asyncio.to_thread(postgres.start)
    await asyncio.to_thread(postgres.stop)
    placed = postgres.data_dir.resolve()
    postgres.data_dir.unlink()  # as `rm -rf .run` or pytest pruning its old directories do

    other = tmp_path / "other"
    other.mkdir(mode=0o700)
    second = EmbeddedPostgres(other / "pgdata")
    await asyncio.to_thread(second.start)
    try:
        assert not placed.exists()
    finally:
        second.stop()
