"""The store interface shared by the SQLite and PostgreSQL engines."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from pyopencode.bus import Event

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """Filters for `GET /session`, already validated."""

    project_id: str
    directory: str | None = None
    path: str | None = None
    roots: bool = False
    start: int | None = None
    search: str | None = None
    limit: int = 100

    def where(self, mark: str) -> tuple[str, list[Any]]:
        """The WHERE clause (without the keyword) and its arguments; `mark` is `?` or `%s`."""
        sql = [f"project_id={mark}"]
        args: list[Any] = [self.project_id]
        if self.directory is not None:
            sql.append(f"directory={mark}")
            args.append(self.directory)
        if self.path is not None:
            sql.append(f"(path={mark} OR path LIKE {mark} ESCAPE '\\')")
            args += [self.path, like_escape(self.path) + "/%"]
        if self.roots:
            sql.append("parent_id IS NULL")
        if self.start is not None:
            sql.append(f"time_updated>={mark}")
            args.append(self.start)
        if self.search:
            sql.append(f"title LIKE {mark} ESCAPE '\\'")
            args.append("%" + like_escape(self.search) + "%")
        return " AND ".join(sql), args


# Both engines index (project_id, time_updated DESC, id), so this order is an index scan.
SESSION_ORDER = "time_updated DESC, id ASC"


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards escaped by backslash, so it matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Store(abc.ABC):
    """Every write returns only after its transaction is durable; events follow the commit.

    Reads that return `bytes` hand back ready-to-send JSON, because the stored rows already
    are the API's JSON and re-encoding them would be wasted work on the hottest paths.
    """

    # True when other server processes share this store, so their events arrive here too.
    shared: bool = False

    # --- lifecycle
    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # --- projects
    @abc.abstractmethod
    async def ensure_project(self, project: Json) -> Json: ...

    @abc.abstractmethod
    async def list_projects(self) -> bytes: ...

    # --- sessions
    @abc.abstractmethod
    async def create_session(self, info: Json) -> Json: ...

    @abc.abstractmethod
    async def get_session(self, session_id: str) -> bytes | None: ...

    async def get_session_info(self, session_id: str) -> Json | None:
        raw = await self.get_session(session_id)
        if raw is None:
            return None
        info: Json = orjson.loads(raw)
        return info

    @abc.abstractmethod
    async def list_sessions(self, query: SessionQuery) -> bytes: ...

    @abc.abstractmethod
    async def list_children(self, session_id: str) -> bytes | None: ...

    @abc.abstractmethod
    async def update_session(self, session_id: str, apply: Callable[[Json], Json]) -> Json: ...

    @abc.abstractmethod
    async def delete_session(self, session_id: str) -> list[Json]:
        """Remove the session and all its descendants; returns them deepest first."""

    @abc.abstractmethod
    async def fork_session(
        self, session_id: str, until_message_id: str | None, make_info: Callable[[Json], Json]
    ) -> Json: ...

    # --- messages and parts
    @abc.abstractmethod
    async def list_messages(
        self, session_id: str, limit: int | None, before: str | None
    ) -> bytes | None: ...

    @abc.abstractmethod
    async def get_message(self, session_id: str, message_id: str) -> bytes | None: ...

    @abc.abstractmethod
    async def update_message(self, info: Json, parts: Sequence[Json] = ()) -> Json:
        """Insert or replace a message, and with it `parts`, in one transaction."""

    @abc.abstractmethod
    async def delete_message(self, session_id: str, message_id: str) -> None: ...

    @abc.abstractmethod
    async def update_part(self, part: Json) -> Json: ...

    @abc.abstractmethod
    async def delete_part(self, session_id: str, message_id: str, part_id: str) -> None: ...

    # --- todos
    @abc.abstractmethod
    async def get_todos(self, session_id: str) -> bytes | None: ...

    @abc.abstractmethod
    async def set_todos(self, session_id: str, todos: list[Json]) -> None: ...

    # --- ephemeral events
    @abc.abstractmethod
    async def broadcast(self, events: list[Event]) -> None:
        """Publish `events` on every instance's bus, this one included, without writing rows."""
