"""What only the PostgreSQL engine does: migrations under a lock, events across instances
through LISTEN/NOTIFY (big ones by reference), reconnects, and values only SQLite can hold."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg
import pytest

from pyopencode import session as rules
from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError
from pyopencode.project import Instance
from pyopencode.session.service import SessionQuery, SessionService
from pyopencode.store import migrate, open_store
from pyopencode.store.postgres import NOTIFY_LIMIT, PostgresStore
from pyopencode.store.url import libpq_url, sqlalchemy_url

INSTANCE = Instance(directory="/tmp/pg-store", project_id="global", worktree="/", vcs=None)


class Opened(SessionService):
    store: PostgresStore


@asynccontextmanager
async def _store(url: str, bus: Bus | None = None) -> AsyncIterator[tuple[Opened, list[Event]]]:
    bus = bus or Bus()
    seen: list[Event] = []
    bus.listen(seen.append)
    store = await open_store(url, bus)
    assert isinstance(store, PostgresStore)
    try:
        yield Opened(store), seen
    finally:
        await store.close()


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def _settle(seen: list[Event], count: int, timeout: float = 5.0) -> None:
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


def test_events_cross_stores_once_in_commit_order_and_big_ones_by_reference(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (a, seen_a), _store(pg_url) as (_b, seen_b):
            seen_a.clear()
            seen_b.clear()
            big = _new(metadata={"blob": "x" * (3 * NOTIFY_LIMIT)})
            infos = [await a.insert(_new()) for _ in range(5)]
            infos.append(await a.insert(big))
            await a.delete(infos[0]["id"])
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
            assert await a.store.prune_payloads(before_ms=2**62) >= 1

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
            pid = b.store.listener.backend_pid
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            deadline = asyncio.get_running_loop().time() + 10
            while b.store.listener.reconnects == 0 and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.02)
            assert b.store.listener.reconnects == 1 and b.store.listener.backend_pid != pid
            # Subscriptions stay open: closing them is the bus's "server stopping" signal.
            assert not sub.closed
            seen_b.clear()
            info = await a.insert(_new())
            await _settle(seen_b, 1)
            assert [e.properties["sessionID"] for e in seen_b] == [info["id"]]

    with caplog.at_level(logging.WARNING, logger="pyopencode.store"):
        _run(main)
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost its PostgreSQL connection" in m for m in messages), messages
    assert any("reconnected" in m for m in messages), messages


def test_values_postgresql_cannot_store_are_bad_requests(pg_url: str) -> None:
    async def main() -> None:
        async with _store(pg_url) as (store, seen):
            count = len(seen)
            huge_time = _new()
            huge_time["time"]["updated"] = 2**63  # fits JSON, not bigint
            with pytest.raises(BadRequestError):
                await store.insert(huge_time)
            # Longer than a btree index entry may be (about 2.7 kB), even compressed.
            long_dir = _new()
            long_dir["directory"] = "/" + secrets.token_hex(6000)
            with pytest.raises(BadRequestError):
                await store.insert(long_dir)
            assert len(seen) == count

    _run(main)


def test_connections_killed_under_the_pool_are_replaced(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What a database restart does to idle pooled connections: the next requests still work."""

    async def main() -> None:
        async with _store(pg_url) as (store, _):
            # Fill the pool with several idle connections.
            await asyncio.gather(*(store.insert(_new()) for _ in range(8)))
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'pyopencode' AND datname = current_database()"
                )
            info = await store.insert(_new())
            assert await store.get_raw(info["id"]) is not None
            listed = await store.list_raw(SessionQuery(project_id="global", limit=10_000))
            assert info["id"] in {s["id"] for s in orjson.loads(listed)}

    with caplog.at_level(logging.WARNING, logger="pyopencode.store"):
        _run(main)
    assert any("checking the pool" in r.getMessage() for r in caplog.records)
