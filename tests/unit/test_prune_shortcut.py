"""Pruning skips a session too small to prune without reading it, and never answers otherwise."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pyopencode import ids
from pyopencode import session as rules
from pyopencode.agent import compaction
from pyopencode.bus import Bus
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.store import open_store

Json = dict[str, Any]


class FullWalk(SessionService):
    """Reads every history, as prune did before it looked at the parts' size first."""

    async def parts_chars(self, session_id: str) -> int:
        return 1 << 60


class Counting(SessionService):
    history_reads = 0

    async def messages(self, session_id: str) -> list[Json]:
        self.history_reads += 1
        return await super().messages(session_id)


# Output texts whose JSON is longer than they are, or as long: quotes, newlines, non-ASCII.
_PIECES = st.sampled_from(["a", '"', "\n", "é", "🦜", "\\"])
# Tool outputs by user turn: sizes around the 160,000 characters that PRUNE_PROTECT stands for.
_TURNS = st.lists(
    st.lists(st.tuples(_PIECES, st.integers(0, 170_000)), max_size=3), min_size=1, max_size=5
)


async def _session(sessions: SessionService, directory: Path, turns: list[Any]) -> str:
    instance = Instance(directory=str(directory), project_id="global", worktree="/", vcs=None)
    sid: str = (await sessions.insert(rules.new_info(instance, {})))["id"]
    for outputs in turns:
        user = {"id": ids.ascending("msg"), "sessionID": sid, "role": "user"}
        user["time"] = {"created": 1}
        await sessions.update_message(user)
        answer = {
            "id": ids.ascending("msg"),
            "sessionID": sid,
            "role": "assistant",
            "parentID": user["id"],
            "time": {"created": 1},
        }
        parts = [
            {
                "id": ids.ascending("prt"),
                "sessionID": sid,
                "messageID": answer["id"],
                "type": "tool",
                "tool": "bash",
                "callID": f"call_{i}",
                "state": {"status": "completed", "output": piece * n, "time": {"start": 1}},
            }
            for i, (piece, n) in enumerate(outputs)
        ]
        await sessions.update_message(answer, parts)
    return sid


def _compacted(rows: list[Json]) -> list[str]:
    return [
        p["id"]
        for r in rows
        for p in r["parts"]
        if p["type"] == "tool" and p["state"]["time"].get("compacted")
    ]


def test_the_shortcut_prunes_what_the_full_walk_prunes(tmp_path: Path) -> None:
    with asyncio.Runner() as runner:
        store = runner.run(open_store(str(tmp_path / "db.sqlite"), Bus()))
        quick, full = SessionService(store), FullWalk(store)

        async def compare(turns: list[Any]) -> None:
            a = await _session(quick, tmp_path, turns)
            b = await _session(full, tmp_path, turns)
            assert await compaction.prune(quick, {"id": a, "directory": str(tmp_path)}) == (
                await compaction.prune(full, {"id": b, "directory": str(tmp_path)})
            )
            assert len(_compacted(await quick.messages(a))) == len(
                _compacted(await full.messages(b))
            )

        @settings(max_examples=25, deadline=None)
        @given(turns=_TURNS)
        # At the edge: one old output of just over PRUNE_PROTECT tokens is pruned, and one of
        # exactly that is not; two old ones past it, the session well under twice the bound.
        @example(turns=[[("a", 160_004)], [], []])
        @example(turns=[[("a", 160_000)], [], []])
        @example(turns=[[("a", 150_000)], [("a", 100_000)], [], []])
        def check(turns: list[Any]) -> None:
            runner.run(compare(turns))

        try:
            check()
        finally:
            runner.run(store.close())


def test_a_small_session_is_pruned_without_reading_its_history(tmp_path: Path) -> None:
    async def main() -> tuple[int, int, int]:
        store = await open_store(str(tmp_path / "db.sqlite"), Bus())
        sessions = Counting(store)
        try:
            session = {"directory": str(tmp_path)}
            small = await _session(sessions, tmp_path, [[("a", 1000)]] * 4)
            assert await compaction.prune(sessions, {**session, "id": small}) == 0
            reads_small = sessions.history_reads
            big = await _session(sessions, tmp_path, [[("a", 90_000)]] * 4)
            pruned = await compaction.prune(sessions, {**session, "id": big})
            return reads_small, sessions.history_reads, pruned
        finally:
            await store.close()

    reads_small, reads_after_big, pruned = asyncio.run(main())
    assert reads_small == 0
    assert reads_after_big == 1
    # Four turns of 22,500 tokens: the two older ones are behind the two kept turns; the
    # first of them stays under PRUNE_PROTECT, the second passes it and frees 22,500.
    assert pruned == 1
