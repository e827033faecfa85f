"""A step's end is one transaction on both engines: all of it is stored, or none of it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyopencode import ids
from pyopencode import session as rules
from pyopencode.bus import Bus, Event
from pyopencode.errors import NotFoundError
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.store import open_store

Json = dict[str, Any]
INSTANCE = Instance(directory="/tmp/steps", project_id="global", worktree="/", vcs=None)


def _step(sid: str) -> tuple[Json, list[Json]]:
    info = {
        "id": ids.ascending("msg"),
        "sessionID": sid,
        "role": "assistant",
        "time": {"created": 1},
    }
    parts = [
        {"id": ids.ascending("prt"), "sessionID": sid, "messageID": info["id"], "type": kind}
        for kind in ("patch", "step-finish")
    ]
    return info, parts


def _spent(info: Json) -> Json:
    info["cost"] = info.get("cost", 0) + 1.5
    return info


def test_a_step_ends_in_one_commit_with_its_events_in_row_order(store_url: str) -> None:
    async def main() -> tuple[list[Event], Json, list[Json], int]:
        bus = Bus()
        seen: list[Event] = []
        store = await open_store(store_url, bus)
        sessions = SessionService(store)
        try:
            sid = (await sessions.insert(rules.new_info(INSTANCE, {})))["id"]
            info, parts = _step(sid)
            await sessions.update_message(info)
            await asyncio.sleep(0.05)
            bus.listen(seen.append)
            session = await sessions.finish_step({**info, "finish": "stop"}, parts, _spent)
            session = await sessions.finish_step({**info, "finish": "stop"}, parts, _spent)
            await asyncio.sleep(0.2)  # PostgreSQL's events come back through NOTIFY
            stored = await sessions.messages(sid)
            return seen, session, stored, len(parts)
        finally:
            await store.close()

    seen, session, stored, count = asyncio.run(main())
    assert [e.type for e in seen] == [
        *["message.part.updated"] * count,
        "message.updated",
        "session.updated",
    ] * 2
    assert session["cost"] == 3.0  # 0 at the start, 1.5 per step
    assert stored[0]["info"]["finish"] == "stop"
    assert [p["type"] for p in stored[0]["parts"]] == ["patch", "step-finish"]


def test_a_step_of_a_deleted_session_writes_nothing(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url, Bus())
        sessions = SessionService(store)
        try:
            kept = await sessions.insert(rules.new_info(INSTANCE, {}))
            keep = kept["id"]
            gone = (await sessions.insert(rules.new_info(INSTANCE, {})))["id"]
            info, parts = _step(gone)
            await sessions.update_message(info)
            await sessions.delete(gone)
            with pytest.raises(NotFoundError, match="Session not found"):
                await sessions.finish_step(info, parts, _spent)
            # A message of another session is refused, and that session's usage not counted.
            stray, stray_parts = _step(keep)
            await sessions.update_message(stray)
            moved = {**stray, "sessionID": gone}
            with pytest.raises(NotFoundError):
                await sessions.finish_step(moved, stray_parts, _spent)
            assert await sessions.get(keep) == kept
            assert [r["parts"] for r in await sessions.messages(keep)] == [[]]
        finally:
            await store.close()

    asyncio.run(main())


def test_a_part_of_another_message_rolls_the_whole_step_back(store_url: str) -> None:
    async def main() -> None:
        store = await open_store(store_url, Bus())
        sessions = SessionService(store)
        try:
            before = await sessions.insert(rules.new_info(INSTANCE, {}))
            sid = before["id"]
            first, parts = _step(sid)
            await sessions.update_message(first, parts)
            second, _ = _step(sid)
            await sessions.update_message(second)
            # The same part ids under another message: refused, and nothing of it stays.
            taken = [{**p, "messageID": second["id"]} for p in parts]
            with pytest.raises(Exception, match="part belongs to another message"):
                await sessions.finish_step({**second, "finish": "stop"}, taken, _spent)
            assert await sessions.get(sid) == before
            stored = await sessions.messages(sid)
            assert "finish" not in stored[1]["info"]
            assert stored[1]["parts"] == []
        finally:
            await store.close()

    asyncio.run(main())
