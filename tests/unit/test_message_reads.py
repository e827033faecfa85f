"""A session's messages read back whole and in id order, parts in id order, on both engines."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyopencode import session as rules
from pyopencode.bus import Bus
from pyopencode.errors import NotFoundError
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.store import open_store, rows
from pyopencode.store.sqlite import SqliteTx, connect, run_now

INSTANCE = Instance(directory="/tmp/reads", project_id="global", worktree="/", vcs=None)

# Ids drawn from a small alphabet so that inserting them in random order tests the read's order,
# not the order rows happened to be written in.
_ID = st.text("0123456789abcdefghij", min_size=6, max_size=6)
# A message: its id suffix and the id suffixes of its parts.
_MESSAGES = st.dictionaries(_ID, st.lists(_ID, max_size=5, unique=True), max_size=8)


def _message(session_id: str, suffix: str) -> dict[str, Any]:
    return {
        # Ids are unique across sessions; within one, the suffix decides the order.
        "id": f"msg_{suffix}_{session_id}",
        "sessionID": session_id,
        "role": "user",
        "time": {"created": 1},
        # Text a naive join could break: quotes, commas, brackets, a '?' and a '%'.
        "note": 'a "quoted", [bracketed] ?% text',
    }


def _part(session_id: str, message_id: str, suffix: str) -> dict[str, Any]:
    return {
        "id": f"prt_{message_id}_{suffix}",
        "sessionID": session_id,
        "messageID": message_id,
        "type": "text",
        "text": "},{",
    }


async def _fill(
    sessions: SessionService, shape: dict[str, list[str]], seed: int
) -> tuple[str, list[Any]]:
    """A new session holding `shape`, written in a shuffled order; its expected read."""
    sid = (await sessions.insert(rules.new_info(INSTANCE, {})))["id"]
    expected = []
    writes = []
    for suffix, part_suffixes in shape.items():
        info = _message(sid, suffix)
        parts = [_part(sid, info["id"], p) for p in part_suffixes]
        expected.append({"info": info, "parts": sorted(parts, key=lambda p: p["id"])})
        writes.append((info, parts))
    shuffle = random.Random(seed)
    shuffle.shuffle(writes)
    for info, parts in writes:
        shuffle.shuffle(parts)
        await sessions.update_message(info, parts[: len(parts) // 2])
        for part in parts[len(parts) // 2 :]:
            await sessions.update_part(part)
    expected.sort(key=lambda m: m["info"]["id"])
    return sid, expected


def test_messages_come_back_whole_and_in_id_order(store_url: str) -> None:
    with asyncio.Runner() as runner:
        store = runner.run(open_store(store_url, Bus()))
        sessions = SessionService(store)
        # Another session's messages are never in the answer.
        runner.run(_fill(sessions, {"zzzzzz": ["a"], "000000": []}, 0))

        @settings(max_examples=30, deadline=None)
        @given(shape=_MESSAGES, seed=st.integers(0, 1000), limit=st.integers(1, 9))
        def check(shape: dict[str, list[str]], seed: int, limit: int) -> None:
            runner.run(_check(sessions, shape, seed, limit))

        try:
            check()
        finally:
            runner.run(store.close())


async def _check(
    sessions: SessionService, shape: dict[str, list[str]], seed: int, limit: int
) -> None:
    sid, expected = await _fill(sessions, shape, seed)
    assert await sessions.messages(sid) == expected
    assert orjson.loads(await sessions.messages_raw(sid, limit=limit)) == expected[-limit:]
    for i, message in enumerate(expected):
        mid = message["info"]["id"]
        before = orjson.loads(await sessions.messages_raw(sid, before=mid))
        assert before == expected[:i]
        both = orjson.loads(await sessions.messages_raw(sid, limit=limit, before=mid))
        assert both == expected[:i][-limit:]
        assert await sessions.message(sid, mid) == message
    with pytest.raises(NotFoundError, match="Message not found"):
        await sessions.message(sid, "msg_missing")


def test_a_missing_session_is_not_an_empty_one(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url, Bus())
        sessions = SessionService(store)
        try:
            sid = (await sessions.insert(rules.new_info(INSTANCE, {})))["id"]
            assert await sessions.messages(sid) == []
            assert await sessions.messages_raw(sid, limit=3) == b"[]"
            await sessions.delete(sid)
            for read in (
                sessions.messages(sid),
                sessions.messages_raw(sid, limit=3),
                sessions.message(sid, "msg_x"),
            ):
                with pytest.raises(NotFoundError, match="Session not found"):
                    await read
        finally:
            await store.close()

    asyncio.run(main())


def test_a_history_is_one_row_on_sqlite(tmp_path: Path) -> None:
    """However long the history: the driver steps one row (see `Tx.joined`)."""

    async def main() -> tuple[str, list[Any]]:
        store = await open_store(str(tmp_path / "db.sqlite"), Bus())
        try:
            return await _fill(
                SessionService(store), {f"m{i:05}": ["a", "b", "c"] for i in range(40)}, 1
            )
        finally:
            await store.close()

    sid, expected = asyncio.run(main())
    conn = connect(tmp_path / "db.sqlite", readonly=True)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        tx = SqliteTx(conn)
        assert orjson.loads(run_now(rows.list_messages(tx, sid, None, None))) == expected
        one = run_now(rows.get_message(tx, sid, expected[3]["info"]["id"]))
        assert one is not None and orjson.loads(one) == expected[3]
    finally:
        conn.close()
    assert [s.split()[0] for s in statements] == ["SELECT", "SELECT"], statements
