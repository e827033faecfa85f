"""The events a session change publishes, built in one place for every writer."""

from __future__ import annotations

from pyopencode.bus import Event
from pyopencode.vocab import Json, Place, now_ms


def session(kind: str, info: Json) -> Event:
    """`session.created`, `session.updated` or `session.deleted`."""
    return Event(
        type=kind,
        properties={"sessionID": info["id"], "info": info},
        directory=info.get("directory"),
        project=info.get("projectID"),
    )


def message_updated(info: Json, place: Place) -> Event:
    return Event(
        type="message.updated",
        properties={"sessionID": info["sessionID"], "info": info},
        directory=place.directory,
        project=place.project,
    )


def message_removed(session_id: str, message_id: str, place: Place) -> Event:
    return Event(
        type="message.removed",
        properties={"sessionID": session_id, "messageID": message_id},
        directory=place.directory,
        project=place.project,
    )


def part_updated(part: Json, place: Place) -> Event:
    return Event(
        type="message.part.updated",
        properties={"sessionID": part["sessionID"], "part": part, "time": now_ms()},
        directory=place.directory,
        project=place.project,
    )


def part_removed(session_id: str, message_id: str, part_id: str, place: Place) -> Event:
    return Event(
        type="message.part.removed",
        properties={"sessionID": session_id, "messageID": message_id, "partID": part_id},
        directory=place.directory,
        project=place.project,
    )


def todo_updated(session_id: str, todos: list[Json], place: Place) -> Event:
    return Event(
        type="todo.updated",
        properties={"sessionID": session_id, "todos": todos},
        directory=place.directory,
        project=place.project,
    )
