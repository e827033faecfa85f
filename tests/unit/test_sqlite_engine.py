"""What only the SQLite engine does: group commit, WAL with full sync, one-step operations."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from pyopencode import session as rules
from pyopencode.bus import Bus
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.store.base import Tx
from pyopencode.store.sqlite import SqliteStore, connect, run_now

INSTANCE = Instance(directory="/tmp/x", project_id="global", worktree="/", vcs=None)


def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    async def main() -> dict[str, int]:
        store = SqliteStore(tmp_path / "db.sqlite", Bus())
        await store.start()
        sessions = SessionService(store)
        try:
            await asyncio.gather(*(sessions.create(INSTANCE, {}) for _ in range(300)))
            return store.stats
        finally:
            await store.close()

    stats = asyncio.run(main())
    assert stats["writes"] == 300
    # Group commit: far fewer transactions (fsyncs) than writes.
    assert stats["batches"] < 300 / 4, stats


def test_delete_leaves_no_rows_behind_in_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "db.sqlite", Bus())
        await store.start()
        sessions = SessionService(store)
        try:
            parent = await sessions.insert(rules.new_info(INSTANCE, {}))
            child = await sessions.insert(rules.new_info(INSTANCE, {"parentID": parent["id"]}))
            await sessions.set_todos(child["id"], [{"content": "x", "status": "pending"}])
            await sessions.delete(parent["id"])
        finally:
            await store.close()

    asyncio.run(main())
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    try:
        for table in ("todo", "session", "message", "part"):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    finally:
        conn.close()


def test_connections_use_wal_and_full_sync(tmp_path: Path) -> None:
    conn = connect(tmp_path / "probe.sqlite", readonly=False)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()


def test_an_operation_that_really_waits_is_refused_not_run_half() -> None:
    """The writer thread runs operations in one step; one that suspends would corrupt that."""

    async def waits(_tx: Tx) -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="awaited something"):
        run_now(waits(None))  # type: ignore[arg-type]

    async def plain() -> int:
        return 7

    assert run_now(plain()) == 7
