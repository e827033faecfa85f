"""The session service's promises, held on both engines (see conftest.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

import orjson
import pytest

from pyopencode import ids
from pyopencode import message as message_rules
from pyopencode.errors import BadRequestError, NotFoundError
from pyopencode.project import Instance
from pyopencode.session.service import SessionQuery
from tests.contract.conftest import INSTANCE, Engine, new, run, settle


def _user(session_id: str, text: str = "hi") -> tuple[dict[str, Any], list[dict[str, Any]]]:
    session = {"id": session_id, "agent": "build"}
    return message_rules.user_message(session, {"parts": [{"type": "text", "text": text}]})


def test_delete_returns_the_tree_deepest_first_with_one_event_each(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            s = svc.sessions
            root = await s.insert(new())
            child = await s.insert(new(root["id"]))
            grandchild = await s.insert(new(child["id"]))
            todos = [{"content": "x", "status": "pending", "priority": "high"}]
            await s.set_todos(grandchild["id"], todos)
            assert orjson.loads(await s.todos_raw(grandchild["id"])) == todos
            other = await s.insert(new())
            svc.seen.clear()
            removed = await s.delete(root["id"])
            assert [r["id"] for r in removed] == [grandchild["id"], child["id"], root["id"]]
            # The writer's own events are on its bus by the time the write returns.
            assert [(e.type, e.properties["sessionID"]) for e in svc.seen] == [
                ("session.deleted", grandchild["id"]),
                ("session.deleted", child["id"]),
                ("session.deleted", root["id"]),
            ]
            for gone in (root, child, grandchild):
                assert await s.get_raw(gone["id"]) is None
            with pytest.raises(NotFoundError):
                await s.todos_raw(grandchild["id"])
            assert await s.get_raw(other["id"]) is not None

    run(main)


def test_concurrent_deletes_of_one_id_exactly_one_wins(engine: Engine) -> None:
    """Eight deleters (on two instances where the engine has them) race for each session."""

    async def main() -> None:
        async with engine.pair() as (a, b):
            for _ in range(20):
                root = await a.sessions.insert(new())
                child = await a.sessions.insert(new(root["id"]))
                results = await asyncio.gather(
                    *(x.sessions.delete(root["id"]) for x in (a, b) * 4), return_exceptions=True
                )
                wins = [r for r in results if isinstance(r, list)]
                losses = [r for r in results if isinstance(r, NotFoundError)]
                assert len(wins) == 1 and len(losses) == 7, results
                assert [s["id"] for s in wins[0]] == [child["id"], root["id"]]
            for x in {id(a): a, id(b): b}.values():
                await settle(x.seen, 2 * 20 * 2)
                await asyncio.sleep(0.1)
                deleted = [e.properties["sessionID"] for e in x.seen if e.type == "session.deleted"]
                # Exactly one event per removed session, on every instance.
                assert len(deleted) == len(set(deleted)) == 2 * 20

    run(main)


def test_a_failing_write_does_not_take_others_down(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            good = [new() for _ in range(20)]
            bad = new("ses_missing")
            results = await asyncio.gather(
                *(svc.sessions.insert(i) for i in good[:10]),
                svc.sessions.insert(bad),
                *(svc.sessions.insert(i) for i in good[10:]),
                return_exceptions=True,
            )
            assert isinstance(results[10], BadRequestError)
            assert sum(isinstance(r, dict) for r in results) == 20
            for info in good:
                assert await svc.sessions.get_raw(info["id"]) is not None
            assert await svc.sessions.get_raw(bad["id"]) is None
            # Nothing is published for the write that rolled back.
            created = [e.properties["sessionID"] for e in svc.seen]
            assert sorted(created) == sorted(i["id"] for i in good)

    run(main)


def test_writes_into_a_deleted_session_raise_not_found(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            s = svc.sessions
            info = await s.insert(new())
            sid = info["id"]
            message, _ = _user(sid)
            await s.update_message(message)
            await s.delete(sid)
            count = len(svc.seen)
            part = {
                "id": ids.ascending("prt"),
                "sessionID": sid,
                "messageID": message["id"],
                "type": "text",
                "text": "late",
            }
            # A child of a deleted session is refused as a bad parentID.
            with pytest.raises(BadRequestError):
                await s.insert(new(sid))
            attempts: list[Awaitable[Any]] = [
                s.update(sid, lambda i: i),
                s.delete(sid),
                s.update_message({**message, "id": ids.ascending("msg")}),
                s.update_message({**message, "id": ids.ascending("msg")}, [part]),
                s.update_part(part),
                s.set_todos(sid, []),
                s.delete_message(sid, message["id"]),
                s.fork(sid, None),
                s.add_prompt(sid, lambda i: i, lambda i: _user(sid)),
                s.messages_raw(sid),
                s.children_raw(sid),
                s.get(sid),
            ]
            for attempt in attempts:
                with pytest.raises(NotFoundError):
                    await attempt
            assert len(svc.seen) == count, "nothing is published for a write that rolled back"

    run(main)


def test_a_refused_prompt_changes_nothing(engine: Engine) -> None:
    """A message id owned by another session is refused, and the session is left untouched."""

    async def main() -> None:
        async with engine.open() as svc:
            s = svc.sessions
            one, two = await s.insert(new()), await s.insert(new())
            theirs, parts = _user(two["id"])
            await s.update_message(theirs, parts)
            before = await s.get(one["id"])
            count = len(svc.seen)

            def remember(info: dict[str, Any]) -> dict[str, Any]:
                info["agent"] = "plan"
                info["time"]["updated"] += 1000
                return info

            def steal(_session: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
                mine, mine_parts = _user(one["id"])
                mine["id"] = theirs["id"]
                return mine, [{**p, "messageID": theirs["id"]} for p in mine_parts]

            with pytest.raises(BadRequestError):
                await s.add_prompt(one["id"], remember, steal)
            assert await s.get(one["id"]) == before
            assert orjson.loads(await s.messages_raw(one["id"])) == []
            assert len(svc.seen) == count

    run(main)


def test_a_part_cannot_move_to_another_message(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            s = svc.sessions
            sid = (await s.insert(new()))["id"]
            first, first_parts = _user(sid, "one")
            second, _ = _user(sid, "two")
            await s.update_message(first, first_parts)
            await s.update_message(second)
            moved = {**first_parts[0], "messageID": second["id"], "text": "moved"}
            with pytest.raises(BadRequestError):
                await s.update_part(moved)
            stored = await s.message(sid, first["id"])
            assert stored["parts"] == first_parts

    run(main)


def test_fork_copies_messages_and_parts_under_new_ids(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            s = svc.sessions
            source = await s.insert(new(title="work"))
            messages = [_user(source["id"], f"m{i}") for i in range(3)]
            for info, parts in messages:
                await s.update_message(info, parts)
            fork = await s.fork(source["id"], messages[2][0]["id"])
            assert fork["title"] == "work (fork #1)" and fork["id"] != source["id"]
            copied = await s.messages(fork["id"])
            assert [m["parts"][0]["text"] for m in copied] == ["m0", "m1"]
            for row in copied:
                assert row["info"]["sessionID"] == fork["id"]
                assert row["info"]["id"] not in {m[0]["id"] for m in messages}
                assert all(p["messageID"] == row["info"]["id"] for p in row["parts"])
            # The source is untouched.
            assert len(await s.messages(source["id"])) == 3
            again = await s.fork(fork["id"], None)
            assert again["title"] == "work (fork #2)"

    run(main)


def test_delete_racing_new_children_reports_exactly_what_it_removed(engine: Engine) -> None:
    """Children created while the tree is being deleted are either refused or reported."""

    async def main() -> None:
        async with engine.pair() as (a, b):
            for _ in range(10):
                root = await a.sessions.insert(new())
                mid = await a.sessions.insert(new(root["id"]))
                a.seen.clear()

                async def spawn(n: int, parents: tuple[str, str]) -> str | None:
                    try:
                        return str((await b.sessions.insert(new(parents[n % 2])))["id"])
                    except BadRequestError:
                        return None

                results = await asyncio.gather(
                    *(spawn(n, (root["id"], mid["id"])) for n in range(6)),
                    a.sessions.delete(root["id"]),
                    *(spawn(n, (root["id"], mid["id"])) for n in range(6)),
                )
                removed = {s["id"] for s in results[6]}  # type: ignore[union-attr]
                created = {r for r in results[:6] + results[7:] if isinstance(r, str)}
                assert created <= removed, "a child acknowledged before the delete survived it"
                assert removed == created | {root["id"], mid["id"]}
                await settle(a.seen, len(removed) + len(created))
                deleted = [e.properties["sessionID"] for e in a.seen if e.type == "session.deleted"]
                assert sorted(deleted) == sorted(removed)
                for session_id in removed:
                    assert await a.sessions.get_raw(session_id) is None

    run(main)


def test_reads_never_fail_during_deletes(engine: Engine) -> None:
    async def main() -> None:
        async with engine.pair() as (a, b):
            roots = [await a.sessions.insert(new()) for _ in range(30)]
            for root in roots:
                child = await a.sessions.insert(new(root["id"]))
                info, parts = _user(child["id"])
                await a.sessions.update_message(info, parts)
            stop = asyncio.Event()
            failures: list[BaseException] = []
            reads = 0

            async def reader() -> None:
                nonlocal reads
                query = SessionQuery(project_id="global", limit=10_000)
                while not stop.is_set():
                    try:
                        listed = orjson.loads(await b.sessions.list_raw(query))
                        for s in listed[:5]:
                            for read in (b.sessions.children_raw, b.sessions.messages_raw):
                                # Deleted since the listing: an answer, not a failure.
                                with contextlib.suppress(NotFoundError):
                                    await read(s["id"])
                        reads += 1
                    except Exception as exc:
                        failures.append(exc)
                    await asyncio.sleep(0)

            readers = [asyncio.create_task(reader()) for _ in range(4)]
            await asyncio.gather(*(a.sessions.delete(r["id"]) for r in roots))
            stop.set()
            await asyncio.gather(*readers)
            assert failures == [] and reads > 0

    run(main)


def test_listing_filters_and_order(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            s = svc.sessions
            # A project of its own: the PostgreSQL database is shared by the module's tests.
            place = Instance("/tmp/listing", ids.ascending("prj"), "/", None)
            a = await s.insert(new(title="alpha 100%", instance=place))
            b = await s.insert(new(title="beta_x", instance=place))
            child = await s.insert(new(a["id"], title="alpha child", instance=place))

            async def listed(**query: Any) -> list[str]:
                raw = await s.list_raw(SessionQuery(project_id=place.project_id, **query))
                return [x["id"] for x in orjson.loads(raw)]

            everything = await listed()
            assert set(everything) == {a["id"], b["id"], child["id"]}
            assert set(await listed(roots=True)) == {a["id"], b["id"]}
            assert await listed(search="100%") == [a["id"]]
            assert await listed(search="b_ta") == []  # `_` is literal, not a wildcard
            assert await listed(search="beta_") == [b["id"]]
            assert len(await listed(limit=2)) == 2
            assert await listed(directory=place.directory, search="child") == [child["id"]]
            assert await listed(directory="/elsewhere") == []
            assert orjson.loads(await s.children_raw(a["id"]))[0]["id"] == child["id"]

    run(main)


def test_nul_characters_are_stored_not_refused(engine: Engine) -> None:
    """PostgreSQL text cannot hold NUL; SQLite's can, so neither engine may fail on it."""

    async def main() -> None:
        async with engine.open() as svc:
            info = await svc.sessions.insert(new(title="a\x00b"))
            assert (await svc.sessions.get(info["id"]))["title"] == "a\x00b"
            found = await svc.sessions.list_raw(SessionQuery(project_id="global", search="a\x00"))
            assert info["id"] in {x["id"] for x in orjson.loads(found)}
            assert await svc.sessions.get_raw("ses_\x00") is None

    run(main)


def test_projects_keep_their_creation_time(engine: Engine) -> None:
    async def main() -> None:
        async with engine.open() as svc:
            first = INSTANCE.project_json()
            first["id"] = f"proj_{ids.ascending('x')}"
            stored = await svc.sessions.ensure_project(dict(first))
            moved = {**first, "worktree": "/moved", "time": {"created": 5, "updated": 9}}
            again = await svc.sessions.ensure_project(moved)
            assert again["time"]["created"] == stored["time"]["created"]
            listed = {p["id"]: p for p in orjson.loads(await svc.sessions.projects())}
            assert listed[first["id"]]["worktree"] == "/moved"

    run(main)
