"""PostgresStore in-process on a real database: the same promises as SqliteStore, and events."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
import pytest

from pyopencode import ids
from pyopencode import session as rules
from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError, NotFoundError
from pyopencode.project import Instance
from pyopencode.store import migrate, open_store
from pyopencode.store.postgres import NOTIFY_LIMIT, PostgresStore, libpq_url, sqlalchemy_url

INSTANCE = Instance(directory="/tmp/pg-store", project_id="global", worktree="/", vcs=None)


@asynccontextmanager
async def _store(
    url: str, bus: Bus | None = None
) -> AsyncIterator[tuple[PostgresStore, list[Event]]]:
    bus = bus or Bus()
    seen: list[Event] = []
    bus.listen(seen.append)
    store = await open_store(url, bus)
    assert isinstance(store, PostgresStore)
    try:
        yield store, seen
    finally:
        await store.close()


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def _settle(seen: list[Event], count: int, timeout: float = 5.0) -> None:
    """Wait until `seen` holds at least `count` events (events from other stores are async)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(seen) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def _new(parent: str | None = None, **fields: Any) -> dict[str, Any]:
    if parent is not None:
        fields["parentID"] = parent
    return rules.new_info(INSTANCE, fields)


def test_url_translation() -> None:
    assert libpq_url("postgres://u@h:1/db") == "postgresql://u@h:1/db"
    assert sqlalchemy_url("postgresql://u@h/db?sslmode=off") == (
        "postgresql+psycopg://u@h/db?sslmode=off"
    )


def test_schema_is_migrated_to_head(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url):
            pass
        # A second start (as every other instance does) finds the schema current.
        async with _store(pg_url):
            pass

    _run(main)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (migrate.HEAD,)
        ]
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname='public'"
            ).fetchall()
        }
    assert {"project", "session", "message", "part", "todo", "event_payload"} <= tables


def test_delete_returns_the_tree_deepest_first_with_one_event_each(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (store, seen):
            root = await store.create_session(_new())
            child = await store.create_session(_new(root["id"]))
            grandchild = await store.create_session(_new(child["id"]))
            await store.set_todos(grandchild["id"], [{"content": "x", "status": "pending"}])
            other = await store.create_session(_new())
            seen.clear()
            removed = await store.delete_session(root["id"])
            assert [s["id"] for s in removed] == [grandchild["id"], child["id"], root["id"]]
            # The writer's own events are on its bus by the time the write returns.
            assert [(e.type, e.properties["sessionID"]) for e in seen] == [
                ("session.deleted", grandchild["id"]),
                ("session.deleted", child["id"]),
                ("session.deleted", root["id"]),
            ]
            for gone in (root, child, grandchild):
                assert await store.get_session(gone["id"]) is None
            assert await store.get_todos(grandchild["id"]) is None
            assert await store.get_session(other["id"]) is not None

    _run(main)


def test_concurrent_deletes_of_one_id_exactly_one_wins(pg_url: str) -> None:
    """Eight deleters on two stores (two pools, like two instances) race for each session."""

    async def main() -> None:
        async with _store(pg_url) as (a, seen_a), _store(pg_url) as (b, seen_b):
            for _ in range(30):
                root = await a.create_session(_new())
                child = await a.create_session(_new(root["id"]))
                results = await asyncio.gather(
                    *(s.delete_session(root["id"]) for s in (a, b) * 4), return_exceptions=True
                )
                wins = [r for r in results if isinstance(r, list)]
                losses = [r for r in results if isinstance(r, NotFoundError)]
                assert len(wins) == 1 and len(losses) == 7, results
                assert [s["id"] for s in wins[0]] == [child["id"], root["id"]]
            deleted = 2 * 30
            await _settle(seen_a, deleted * 2)
            await _settle(seen_b, deleted * 2)
            await asyncio.sleep(0.1)
            for seen in (seen_a, seen_b):
                ids_deleted = [
                    e.properties["sessionID"] for e in seen if e.type == "session.deleted"
                ]
                # Exactly one event per removed session, on both instances.
                assert len(ids_deleted) == len(set(ids_deleted)) == deleted

    _run(main)


def test_writes_into_a_deleted_session_raise_not_found(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (store, seen):
            info = await store.create_session(_new())
            sid = info["id"]
            message = {
                "id": ids.ascending("msg"),
                "sessionID": sid,
                "role": "user",
                "time": {"created": 1},
            }
            await store.update_message(message)
            await store.delete_session(sid)
            count = len(seen)
            part = {
                "id": ids.ascending("prt"),
                "sessionID": sid,
                "messageID": message["id"],
                "type": "text",
                "text": "late",
            }
            # As with SQLite, a child of a deleted session is refused as a bad parentID.
            with pytest.raises(BadRequestError):
                await store.create_session(_new(sid))
            attempts: list[Awaitable[Any]] = [
                store.update_session(sid, lambda i: i),
                store.delete_session(sid),
                store.update_message({**message, "id": ids.ascending("msg")}),
                store.update_message({**message, "id": ids.ascending("msg")}, [part]),
                store.update_part(part),
                store.set_todos(sid, []),
                store.delete_message(sid, message["id"]),
                store.fork_session(sid, None, lambda i: i),
            ]
            for attempt in attempts:
                with pytest.raises(NotFoundError):
                    await attempt
            assert len(seen) == count, "nothing is published for a write that rolled back"
            assert await store.list_messages(sid, None, None) is None

    _run(main)


def test_delete_racing_new_children_reports_exactly_what_it_removed(pg_url: str) -> None:
    """Children created while the tree is being deleted are either refused or reported."""

    async def main() -> None:
        async with _store(pg_url) as (a, seen_a), _store(pg_url) as (b, _seen_b):
            for _ in range(20):
                root = await a.create_session(_new())
                mid = await a.create_session(_new(root["id"]))
                seen_a.clear()

                async def spawn(n: int, parents: tuple[str, str]) -> str | None:
                    try:
                        parent = parents[n % 2]
                        return str((await b.create_session(_new(parent)))["id"])
                    except BadRequestError:
                        return None

                results = await asyncio.gather(
                    *(spawn(n, (root["id"], mid["id"])) for n in range(6)),
                    a.delete_session(root["id"]),
                    *(spawn(n, (root["id"], mid["id"])) for n in range(6)),
                )
                removed = {s["id"] for s in results[6]}  # type: ignore[union-attr]
                created = {r for r in results[:6] + results[7:] if isinstance(r, str)}
                assert created <= removed, "a child acknowledged before the delete survived it"
                assert removed == created | {root["id"], mid["id"]}
                deleted_events = [
                    e.properties["sessionID"] for e in seen_a if e.type == "session.deleted"
                ]
                assert sorted(deleted_events) == sorted(removed)
                for session_id in removed:
                    assert await a.get_session(session_id) is None

    _run(main)


def test_reads_never_fail_during_deletes(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (a, _), _store(pg_url) as (b, _b):
            roots = [await a.create_session(_new()) for _ in range(40)]
            for root in roots:
                child = await a.create_session(_new(root["id"]))
                await a.update_message(
                    {
                        "id": ids.ascending("msg"),
                        "sessionID": child["id"],
                        "role": "user",
                        "time": {"created": 1},
                    }
                )
            from pyopencode.store import SessionQuery

            stop = asyncio.Event()
            failures: list[BaseException] = []

            async def reader() -> None:
                while not stop.is_set():
                    try:
                        listed = orjson.loads(
                            await b.list_sessions(SessionQuery(project_id="global", limit=10_000))
                        )
                        for s in listed[:5]:
                            await b.list_children(s["id"])
                            await b.list_messages(s["id"], None, None)
                    except Exception as exc:
                        failures.append(exc)

            readers = [asyncio.create_task(reader()) for _ in range(4)]
            await asyncio.gather(*(a.delete_session(r["id"]) for r in roots))
            stop.set()
            await asyncio.gather(*readers)
            assert failures == []

    _run(main)


def test_events_cross_stores_once_in_commit_order_and_big_ones_by_reference(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (a, seen_a), _store(pg_url) as (_b, seen_b):
            seen_a.clear()
            seen_b.clear()
            big = _new(metadata={"blob": "x" * (3 * NOTIFY_LIMIT)})
            infos = [await a.create_session(_new()) for _ in range(5)]
            infos.append(await a.create_session(big))
            await a.delete_session(infos[0]["id"])
            expected = [("session.created", i["id"]) for i in infos]
            expected.append(("session.deleted", infos[0]["id"]))
            await _settle(seen_b, len(expected))
            await asyncio.sleep(0.1)
            for seen in (seen_a, seen_b):
                assert [(e.type, e.properties["sessionID"]) for e in seen] == expected
            got = seen_b[5]
            sent = seen_a[5]
            assert got.properties["info"] == big
            assert (got.id, got.directory, got.project) == (sent.id, sent.directory, sent.project)
            assert len(got.payload_json()) > NOTIFY_LIMIT
            # The stored payload is pruned once old enough.
            assert await a.prune_payloads(before_ms=2**62) >= 1

    _run(main)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM event_payload").fetchone() == (0,)


def test_listener_reconnects_after_its_connection_is_killed(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        bus = Bus()
        async with _store(pg_url) as (a, _seen_a), _store(pg_url, bus) as (b, seen_b):
            sub = bus.subscribe()
            pid = b.listener.backend_pid
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = asyncio.get_running_loop().time() + 10
            while b.listener.reconnects == 0 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            assert b.listener.reconnects == 1 and b.listener.backend_pid != pid
            # Subscriptions stay open: closing them is the bus's "server stopping" signal.
            assert not sub.closed
            seen_b.clear()
            info = await a.create_session(_new())
            await _settle(seen_b, 1)
            assert [e.properties["sessionID"] for e in seen_b] == [info["id"]]

    with caplog.at_level(logging.WARNING, logger="pyopencode.store"):
        _run(main)
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost its PostgreSQL connection" in m for m in messages), messages
    assert any("reconnected" in m for m in messages), messages


def test_nul_characters_are_stored_not_refused(pg_url: str) -> None:
    """PostgreSQL text cannot hold NUL; SQLite's can, so neither engine may 500 on it."""

    async def main() -> None:
        from pyopencode.store import SessionQuery

        async with _store(pg_url) as (store, _):
            info = await store.create_session(_new(title="a\x00b"))
            raw = await store.get_session(info["id"])
            assert raw is not None and orjson.loads(raw)["title"] == "a\x00b"
            found = orjson.loads(
                await store.list_sessions(SessionQuery(project_id="global", search="a\x00"))
            )
            assert [s["id"] for s in found] == [info["id"]]
            assert await store.get_session("ses_\x00") is None

    _run(main)


def test_values_postgresql_cannot_store_are_bad_requests(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (store, seen):
            count = len(seen)
            huge_time = _new()
            huge_time["time"]["updated"] = 2**63  # fits JSON, not bigint
            with pytest.raises(BadRequestError):
                await store.create_session(huge_time)
            # Longer than a btree index entry may be (about 2.7 kB), even compressed.
            long_dir = _new()
            long_dir["directory"] = "/" + secrets.token_hex(6000)
            with pytest.raises(BadRequestError):
                await store.create_session(long_dir)
            assert len(seen) == count

    _run(main)


def test_connections_killed_under_the_pool_are_replaced(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What a database restart does to idle pooled connections: the next requests still work."""

    async def main() -> None:
        from pyopencode.store import SessionQuery

        async with _store(pg_url) as (store, _):
            # Fill the pool with several idle connections.
            await asyncio.gather(*(store.create_session(_new()) for _ in range(8)))
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'pyopencode' AND datname = current_database()"
                )
            info = await store.create_session(_new())
            assert await store.get_session(info["id"]) is not None
            listed = await store.list_sessions(SessionQuery(project_id="global", limit=10_000))
            assert info["id"] in {s["id"] for s in orjson.loads(listed)}

    with caplog.at_level(logging.WARNING, logger="pyopencode.store"):
        _run(main)
    assert any("checking the pool" in r.getMessage() for r in caplog.records)
