"""One contract suite, two engines: every test here runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyopencode import session as rules
from pyopencode.bus import Bus, Event
from pyopencode.project import Instance
from pyopencode.session.service import SessionService
from pyopencode.store import open_store
from tests.pgdb import throwaway_database

INSTANCE = Instance(directory="/tmp/contract", project_id="global", worktree="/", vcs=None)


@dataclass
class Opened:
    """A session service on its own store and bus, with every event its bus saw."""

    sessions: SessionService
    seen: list[Event] = field(default_factory=list)


@dataclass
class Engine:
    name: str
    url: str

    @property
    def shared(self) -> bool:
        return self.name == "postgres"

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Opened]:
        bus = Bus()
        store = await open_store(self.url, bus)
        opened = Opened(SessionService(store))
        bus.listen(opened.seen.append)
        try:
            yield opened
        finally:
            await store.close()

    @asynccontextmanager
    async def pair(self) -> AsyncIterator[tuple[Opened, Opened]]:
        """Two instances on one database where the engine allows it (PostgreSQL); on SQLite,
        one instance in both roles, since a data directory has exactly one server."""
        async with self.open() as a:
            if not self.shared:
                yield a, a
                return
            async with self.open() as b:
                yield a, b


@pytest.fixture(scope="module")
def _pg_database() -> Iterator[str]:
    with throwaway_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Engine:
    if request.param == "sqlite":
        return Engine("sqlite", f"sqlite:{tmp_path / 'db.sqlite'}")
    return Engine("postgres", request.getfixturevalue("_pg_database"))


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def new(parent: str | None = None, instance: Instance = INSTANCE, **fields: Any) -> dict[str, Any]:
    if parent is not None:
        fields["parentID"] = parent
    return rules.new_info(instance, fields)


async def settle(seen: list[Event], count: int, timeout: float = 5.0) -> None:
    """Wait until `seen` holds `count` events (another instance's arrive asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(seen) < count and loop.time() < deadline:
        await asyncio.sleep(0.01)
