"""The session service: the one way routes, the fast path and the agent read or change
sessions, messages, parts, todos and projects, on either store engine.

Each write is one transaction whose events are built here and published after its commit.
Reads that the API answers verbatim return ready-to-send JSON bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from pyopencode import ids
from pyopencode import session as rules
from pyopencode.bus import Bus, Event
from pyopencode.errors import BadRequestError, NotFoundError, ProjectNotFoundError
from pyopencode.session import events
from pyopencode.store import Store, Tx, open_store, rows
from pyopencode.store.rows import GlobalSessionQuery, SessionQuery
from pyopencode.vocab import Json, Place, now_ms

if TYPE_CHECKING:
    from pyopencode.project import Instance

__all__ = ["GlobalSessionQuery", "SessionQuery", "SessionService"]


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _loads(data: str) -> Json:
    value: Json = orjson.loads(data)
    return value


async def _place(tx: Tx, session_id: str) -> Place:
    found = await rows.session_place(tx, session_id)
    if found is None:
        raise NotFoundError.session(session_id)
    return Place(*found)


async def _changed(tx: Tx, session_id: str, apply: Callable[[Json], Json]) -> Json:
    """The session read under its row lock, changed by `apply`, and stored."""
    data = await rows.session_data(tx, session_id, tx.FOR_UPDATE)
    if data is None:
        raise NotFoundError.session(session_id)
    info = apply(_loads(data))
    await rows.update_session(tx, session_id, info["title"], info["time"]["updated"], _dumps(info))
    return info


def _global_session(data: str, project: str | None) -> Json:
    info = _loads(data)
    summary: Json | None = None
    if project is not None:
        found = _loads(project)
        summary = {"id": found["id"], "worktree": found["worktree"]}
        if found.get("name"):
            summary["name"] = found["name"]
    info["project"] = summary
    return info


class SessionService:
    def __init__(self, store: Store) -> None:
        self.store = store

    @classmethod
    async def open(cls, url: str, bus: Bus, write_timeout: float = 30.0) -> SessionService:
        """The service over the store that `url` names (migrated), publishing on `bus`."""
        store = await open_store(url, bus)
        store.write_timeout = write_timeout
        return cls(store)

    @property
    def health(self) -> str:
        """The store's state as its last write found it: "ok", "full" or "unavailable"."""
        return self.store.health

    async def close(self) -> None:
        """Stop taking writes; those already accepted still commit."""
        await self.store.close()

    @property
    def shared(self) -> bool:
        """True when other instances share the store, so their events arrive here too."""
        return self.store.shared

    async def broadcast(self, events: list[Event]) -> None:
        await self.store.broadcast(events)

    # --- projects
    async def ensure_project(self, project: Json) -> Json:
        """Record the project; an unchanged worktree keeps the stored row as it is."""

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            data = await rows.project_data(tx, project["id"])
            if data is not None:
                existing = _loads(data)
                if existing.get("worktree") == project["worktree"]:
                    return existing, []
                project["time"]["created"] = existing["time"]["created"]
            times = (project["time"]["created"], project["time"]["updated"])
            await rows.put_project(tx, project["id"], project["worktree"], times, _dumps(project))
            return project, []

        return await self.store.write(write)

    async def update_project(self, project_id: str, patch: Json) -> Json:
        """Change a project's name, icon or commands (merged field by field)."""

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            data = await rows.project_data(tx, project_id)
            if data is None:
                raise ProjectNotFoundError(project_id)
            project = _loads(data)
            if "name" in patch:
                project["name"] = patch["name"]
            for key in ("icon", "commands"):
                if key in patch:
                    project[key] = {**(project.get(key) or {}), **patch[key]}
            project["time"]["updated"] = now_ms()
            times = (project["time"]["created"], project["time"]["updated"])
            await rows.put_project(tx, project_id, project["worktree"], times, _dumps(project))
            return project, [Event("project.updated", project)]

        return await self.store.write(write)

    async def projects(self) -> bytes:
        return await self.store.read(rows.list_projects)

    # --- sessions
    async def create(self, instance: Instance, fields: Json) -> Json:
        """A new session in `instance`'s place; a `parentID` must name a live session."""
        return await self.insert(rules.new_info(instance, fields))

    async def insert(self, info: Json) -> Json:
        row = rows.session_row(info, _dumps(info))
        parent = info.get("parentID")
        missing = BadRequestError(f"Parent session not found: {parent}", field="parentID")

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            if parent is not None and not await rows.session_exists(tx, parent, tx.FOR_KEY_SHARE):
                raise missing
            await rows.insert_session(tx, row)
            return info, [events.session("session.created", info)]

        return await self.store.write(write, missing)

    async def get_raw(self, session_id: str) -> bytes | None:
        data = await self.store.read(lambda tx: rows.session_data(tx, session_id))
        return None if data is None else data.encode()

    async def get(self, session_id: str) -> Json:
        """The session, or NotFoundError."""
        data = await self.store.read(lambda tx: rows.session_data(tx, session_id))
        if data is None:
            raise NotFoundError.session(session_id)
        return _loads(data)

    async def list_raw(self, query: SessionQuery) -> bytes:
        return await self.store.read(lambda tx: rows.list_sessions(tx, query))

    async def list_global(
        self, query: GlobalSessionQuery, archived: bool = False
    ) -> tuple[list[Json], int | None]:
        """Sessions of every project, newest first, each with its project summary (`null` if
        unknown); archived ones only when asked. With the cursor for the next page, if any."""

        def keep(data: str) -> bool:
            return archived or _loads(data)["time"].get("archived") is None

        found = await self.store.read(
            lambda tx: rows.global_sessions(tx, query, keep, query.limit + 1)
        )
        out = [_global_session(data, project) for data, project in found[: query.limit]]
        more = len(found) > query.limit and bool(out)
        return out, (int(out[-1]["time"]["updated"]) if more else None)

    async def children_raw(self, session_id: str) -> bytes:
        raw = await self.store.read(lambda tx: rows.children(tx, session_id))
        if raw is None:
            raise NotFoundError.session(session_id)
        return raw

    async def update(self, session_id: str, apply: Callable[[Json], Json]) -> Json:
        """Read, change with `apply`, and store the session in one transaction."""

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            info = await _changed(tx, session_id, apply)
            return info, [events.session("session.updated", info)]

        return await self.store.write(write, NotFoundError.session(session_id))

    async def patch(self, session_id: str, patch: Json) -> Json:
        return await self.update(session_id, lambda info: rules.apply_patch(info, patch))

    async def delete(self, session_id: str) -> list[Json]:
        """Remove the session and all its descendants in one transaction; deepest first."""

        async def write(tx: Tx) -> tuple[list[Json], list[Event]]:
            # The second of two concurrent deletes waits on the row lock, then finds no row:
            # 404. Without row locks (one writer) the tree alone tells whether it is there.
            if tx.FOR_UPDATE and not await rows.session_exists(tx, session_id, tx.FOR_UPDATE):
                raise NotFoundError.session(session_id)
            tree = await rows.session_tree(tx, session_id)
            if not tree:
                raise NotFoundError.session(session_id)
            if tx.FOR_UPDATE:
                # Lock the whole tree before reading it for the last time: a locked session
                # gets no new child, so what we report is exactly what the cascade removes.
                locked = {session_id}
                while pending := [r[0] for r in tree if r[0] not in locked]:
                    locked.update(await rows.lock_sessions(tx, pending))
                    tree = await rows.session_tree(tx, session_id)
            await rows.delete_session(tx, session_id)
            removed = [_loads(r[1]) for r in tree]
            return removed, [events.session("session.deleted", info) for info in removed]

        return await self.store.write(write, NotFoundError.session(session_id), frees=True)

    async def fork(self, session_id: str, until_message_id: str | None) -> Json:
        """A new session holding copies of the messages before `until_message_id`."""

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            data = await rows.session_data(tx, session_id, tx.FOR_KEY_SHARE)
            if data is None:
                raise NotFoundError.session(session_id)
            info = rules.fork_info(_loads(data))
            await rows.insert_session(tx, rows.session_row(info, _dumps(info)))
            place = Place.of(info)
            id_map: dict[str, str] = {}
            copies: list[Json] = []
            message_rows: list[tuple[str, str, int, str]] = []
            for old_id, created, message_data in await rows.messages_until(
                tx, session_id, until_message_id
            ):
                message = _loads(message_data)
                id_map[old_id] = message["id"] = ids.ascending("msg")
                message["sessionID"] = info["id"]
                if message.get("parentID") in id_map:
                    message["parentID"] = id_map[message["parentID"]]
                copies.append(message)
                message_rows.append((message["id"], info["id"], created, _dumps(message)))
            parts: dict[str, list[Json]] = {}
            part_rows: list[tuple[str, str, str, str]] = []
            for old_message, part_data in await rows.parts_of(tx, list(id_map)):
                part = _loads(part_data)
                part["id"] = ids.ascending("prt")
                part["messageID"] = id_map[old_message]
                part["sessionID"] = info["id"]
                parts.setdefault(part["messageID"], []).append(part)
                part_rows.append((part["id"], part["messageID"], info["id"], _dumps(part)))
            await rows.insert_messages(tx, message_rows)
            await rows.insert_parts(tx, part_rows)
            published = [events.session("session.created", info)]
            for message in copies:
                published.append(events.message_updated(message, place))
                published += [events.part_updated(p, place) for p in parts.get(message["id"], [])]
            return info, published

        return await self.store.write(write, NotFoundError.session(session_id))

    # --- messages and parts
    async def messages_raw(
        self, session_id: str, limit: int | None = None, before: str | None = None
    ) -> bytes:
        raw = await self.store.read(lambda tx: rows.list_messages(tx, session_id, limit, before))
        if raw is None:
            raise NotFoundError.session(session_id)
        return raw

    async def messages(self, session_id: str) -> list[Json]:
        found: list[Json] = orjson.loads(await self.messages_raw(session_id))
        return found

    async def parts_chars(self, session_id: str) -> int:
        """Characters of the session's stored parts: a bound on what its history holds."""
        return await self.store.read(lambda tx: rows.parts_chars(tx, session_id))

    async def message_raw(self, session_id: str, message_id: str) -> bytes:
        """`{info, parts}` of one message; NotFoundError names the session when it is gone."""

        async def read(tx: Tx) -> bytes | bool | None:
            raw = await rows.get_message(tx, session_id, message_id)
            if raw is None:
                return await rows.session_exists(tx, session_id)
            return raw

        found = await self.store.read(read)
        if found is False:
            raise NotFoundError.session(session_id)
        if not isinstance(found, bytes):
            raise NotFoundError(f"Message not found: {message_id}")
        return found

    async def message(self, session_id: str, message_id: str) -> Json:
        found: Json = orjson.loads(await self.message_raw(session_id, message_id))
        return found

    async def update_message(self, info: Json, parts: Sequence[Json] = ()) -> Json:
        """Insert or replace a message, and with it `parts`, in one transaction."""
        return await self.store.write(
            lambda tx: self._put_message(tx, info, parts),
            NotFoundError.session(info["sessionID"]),
        )

    @staticmethod
    async def _put_message(tx: Tx, info: Json, parts: Sequence[Json]) -> tuple[Json, list[Event]]:
        place = await _place(tx, info["sessionID"])
        created = info["time"]["created"]
        if not await rows.upsert_message(tx, info["id"], info["sessionID"], created, _dumps(info)):
            raise BadRequestError("message belongs to another session", field="id")
        part_rows = [(p["id"], p["messageID"], p["sessionID"], _dumps(p)) for p in parts]
        if not await rows.upsert_parts(tx, info["id"], part_rows):
            raise BadRequestError("part belongs to another message", field="id")
        published = [events.message_updated(info, place)]
        published += [events.part_updated(part, place) for part in parts]
        return info, published

    async def finish_step(
        self, info: Json, parts: Sequence[Json], apply: Callable[[Json], Json]
    ) -> Json:
        """A step's end in one transaction, one commit rather than one per row: its last
        `parts`, its finished message `info`, and the session changed by `apply` (its usage
        totals). Their events go out in that order. Returns the session."""
        session_id = info["sessionID"]

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            # The session row is locked first, as a prompt locks it: taken after the message
            # (which shares it), two writers of one session could deadlock on PostgreSQL.
            session = await _changed(tx, session_id, apply)
            _, put = await self._put_message(tx, info, parts)
            # The order the rows were written in one at a time: parts, then their message.
            return session, [*put[1:], put[0], events.session("session.updated", session)]

        return await self.store.write(write, NotFoundError.session(session_id))

    async def add_prompt(
        self,
        session_id: str,
        apply: Callable[[Json], Json],
        make: Callable[[Json], tuple[Json, list[Json]]],
    ) -> tuple[Json, Json]:
        """Change the session with `apply` and store the user message `make` builds from it,
        in one transaction: a prompt refused for any reason leaves the session as it was."""

        async def write(tx: Tx) -> tuple[tuple[Json, Json], list[Event]]:
            session = await _changed(tx, session_id, apply)
            info, parts = make(session)
            _, published = await self._put_message(tx, info, parts)
            return (session, info), [events.session("session.updated", session), *published]

        return await self.store.write(write, NotFoundError.session(session_id))

    async def delete_message(self, session_id: str, message_id: str) -> None:
        async def write(tx: Tx) -> tuple[None, list[Event]]:
            place = await _place(tx, session_id)
            if not await rows.delete_message(tx, session_id, message_id):
                raise NotFoundError(f"Message not found: {message_id}")
            return None, [events.message_removed(session_id, message_id, place)]

        await self.store.write(write, NotFoundError.session(session_id), frees=True)

    async def update_part(self, part: Json, announce: bool = True) -> Json:
        """Stores `part`; `announce=False` when its `message.part.updated` already went out."""
        row = (part["id"], part["messageID"], part["sessionID"], _dumps(part))
        missing = NotFoundError(f"Message not found: {part['messageID']}")

        async def write(tx: Tx) -> tuple[Json, list[Event]]:
            place = await _place(tx, part["sessionID"])
            if await rows.message_session(tx, part["messageID"]) != part["sessionID"]:
                raise missing
            if not await rows.upsert_parts(tx, part["messageID"], [row]):
                raise BadRequestError("part belongs to another message", field="id")
            return part, [events.part_updated(part, place)] if announce else []

        return await self.store.write(write, missing)

    async def delete_part(self, session_id: str, message_id: str, part_id: str) -> None:
        async def write(tx: Tx) -> tuple[None, list[Event]]:
            place = await _place(tx, session_id)
            if not await rows.delete_part(tx, session_id, message_id, part_id):
                raise NotFoundError(f"Part not found: {part_id}")
            return None, [events.part_removed(session_id, message_id, part_id, place)]

        await self.store.write(write, NotFoundError.session(session_id), frees=True)

    # --- todos
    async def todos_raw(self, session_id: str) -> bytes:
        raw = await self.store.read(lambda tx: rows.todos(tx, session_id))
        if raw is None:
            raise NotFoundError.session(session_id)
        return raw

    async def set_todos(self, session_id: str, todos: list[Json]) -> None:
        items = [_dumps(t) for t in todos]

        async def write(tx: Tx) -> tuple[None, list[Event]]:
            place = await _place(tx, session_id)
            await rows.replace_todos(tx, session_id, items)
            return None, [events.todo_updated(session_id, todos, place)]

        await self.store.write(write, NotFoundError.session(session_id))
