"""The SQLite store on a real file: group commit, per-request isolation, cascades."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from pyopencode import session as rules
from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError, NotFoundError
from pyopencode.project import Instance
from pyopencode.store.sqlite import SqliteStore

INSTANCE = Instance(directory="/tmp/x", project_id="global", worktree="/", vcs=None)


async def _store(path: Path) -> tuple[SqliteStore, list[Event]]:
    bus = Bus()
    seen: list[Event] = []
    bus.listen(seen.append)
    store = SqliteStore(path / "db.sqlite", bus)
    await store.start()
    return store, seen


def test_concurrent_writes_share_commits(tmp_path: Path) -> None:
    async def main() -> dict[str, int]:
        store, _ = await _store(tmp_path)
        try:
            await asyncio.gather(
                *(store.create_session(rules.new_info(INSTANCE, {})) for _ in range(300))
            )
            return store.stats
        finally:
            await store.close()

    stats = asyncio.run(main())
    assert stats["writes"] == 300
    # Group commit: far fewer transactions (fsyncs) than writes.
    assert stats["batches"] < 300 / 4, stats


def test_a_failing_write_does_not_take_its_batch_down(tmp_path: Path) -> None:
    async def main() -> list[object]:
        store, events = await _store(tmp_path)
        try:
            good = [rules.new_info(INSTANCE, {}) for _ in range(20)]
            bad = rules.new_info(INSTANCE, {"parentID": "ses_missing"})
            results = await asyncio.gather(
                *(store.create_session(i) for i in good[:10]),
                store.create_session(bad),
                *(store.create_session(i) for i in good[10:]),
                return_exceptions=True,
            )
            for info in good:
                assert await store.get_session(info["id"]) is not None
            assert await store.get_session(bad["id"]) is None
            # Nothing is published for the write that rolled back.
            assert [e.properties["sessionID"] for e in events] == [i["id"] for i in good]
            return results
        finally:
            await store.close()

    results = asyncio.run(main())
    assert isinstance(results[10], BadRequestError)
    assert sum(isinstance(r, dict) for r in results) == 20


def test_delete_cascades_todos_and_forbids_writes_after(tmp_path: Path) -> None:
    async def main() -> None:
        store, events = await _store(tmp_path)
        try:
            parent = await store.create_session(rules.new_info(INSTANCE, {}))
            child = await store.create_session(rules.new_info(INSTANCE, {"parentID": parent["id"]}))
            todos = [{"content": "x", "status": "pending", "priority": "high"}]
            await store.set_todos(child["id"], todos)
            assert (
                await store.get_todos(child["id"])
                == b'[{"content":"x","status":"pending","priority":"high"}]'
            )
            removed = await store.delete_session(parent["id"])
            assert [r["id"] for r in removed] == [child["id"], parent["id"]]
            assert await store.get_todos(child["id"]) is None
            with pytest.raises(NotFoundError):
                await store.set_todos(child["id"], todos)
            with pytest.raises(NotFoundError):
                await store.delete_session(parent["id"])
            kinds = [e.type for e in events]
            assert kinds.count("session.deleted") == 2 and kinds[-1] == "session.deleted"
        finally:
            await store.close()

    asyncio.run(main())
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    try:
        assert conn.execute("SELECT count(*) FROM todo").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM session").fetchone()[0] == 0
    finally:
        conn.close()


def test_connections_use_wal_and_full_sync(tmp_path: Path) -> None:
    from pyopencode.store.sqlite import _connect

    conn = _connect(tmp_path / "probe.sqlite", readonly=False)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        conn.close()
