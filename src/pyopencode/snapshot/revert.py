"""Session revert and unrevert: put the files back as they were before a message, and
remove the reverted messages for good when the next prompt arrives."""

from __future__ import annotations

from pyopencode.errors import NotFoundError
from pyopencode.session.service import SessionService
from pyopencode.snapshot.shadow import Patch, ShadowRepo
from pyopencode.vocab import Json


def _reverted_patches(rows: list[Json], message_id: str, part_id: str | None) -> list[Patch]:
    """Patches recorded at or after the revert point, oldest first."""
    found = False
    patches: list[Patch] = []
    for row in rows:
        if row["info"]["id"] == message_id:
            found = part_id is None
        for part in row["parts"]:
            if row["info"]["id"] == message_id and part["id"] == part_id:
                found = True
            if found and part["type"] == "patch":
                patches.append(Patch(part["hash"], list(part["files"])))
        if row["info"]["id"] == message_id and not found:
            raise NotFoundError(f"Part not found: {part_id}")
    if not any(row["info"]["id"] == message_id for row in rows):
        raise NotFoundError(f"Message not found: {message_id}")
    return patches


async def revert(
    sessions: SessionService,
    shadow: ShadowRepo | None,
    session_id: str,
    message_id: str,
    part_id: str | None,
) -> Json:
    """Restore the files changed from `message_id` (or its `part_id`) on, and record it."""
    info = await sessions.get(session_id)
    rows = await sessions.messages(session_id)
    patches = _reverted_patches(rows, message_id, part_id)
    revert_info: Json = {"messageID": message_id}
    if part_id is not None:
        revert_info["partID"] = part_id
    if shadow is not None:
        previous = (info.get("revert") or {}).get("snapshot")
        if previous:
            # A second revert starts from the files as they were before the first one.
            await shadow.restore(previous)
            snapshot = previous
        else:
            snapshot = await shadow.track()
        await shadow.revert(patches)
        revert_info["snapshot"] = snapshot
        revert_info["diff"] = "".join(d["patch"] for d in await shadow.diff(snapshot))

    def apply(current: Json) -> Json:
        return {**current, "revert": revert_info}

    return await sessions.update(session_id, apply)


async def unrevert(sessions: SessionService, shadow: ShadowRepo | None, session_id: str) -> Json:
    """Bring back the files as they were before the revert, and forget it."""
    info = await sessions.get(session_id)
    revert_info = info.get("revert")
    if not revert_info:
        return info
    if shadow is not None and revert_info.get("snapshot"):
        await shadow.restore(revert_info["snapshot"])

    def apply(current: Json) -> Json:
        return {k: v for k, v in current.items() if k != "revert"}

    return await sessions.update(session_id, apply)


async def cleanup(sessions: SessionService, session: Json, before: str) -> Json:
    """When a new prompt (user message `before`) arrives: delete the reverted messages (and
    parts) that precede it, and clear `revert`."""
    revert_info = session.get("revert")
    if not revert_info:
        return session
    sid = session["id"]
    message_id = revert_info["messageID"]
    part_id = revert_info.get("partID")
    for row in await sessions.messages(sid):
        mid = row["info"]["id"]
        if mid < message_id or mid >= before:
            continue
        if mid == message_id and part_id is not None:
            for part in row["parts"]:
                if part["id"] >= part_id:
                    await sessions.delete_part(sid, mid, part["id"])
            continue
        await sessions.delete_message(sid, mid)

    def apply(current: Json) -> Json:
        return {k: v for k, v in current.items() if k != "revert"}

    return await sessions.update(sid, apply)


async def diff(
    sessions: SessionService, shadow: ShadowRepo | None, session_id: str, message_id: str | None
) -> list[Json]:
    """The files the session (or the turn of user message `message_id`) changed: from its
    first step's snapshot to its last one's."""
    if shadow is None:
        return []
    rows = await sessions.messages(session_id)
    start: str | None = None
    end: str | None = None
    for row in rows:
        info = row["info"]
        if info["role"] != "assistant":
            continue
        if message_id is not None and info.get("parentID") != message_id:
            continue
        for part in row["parts"]:
            if part["type"] == "step-start" and part.get("snapshot") and start is None:
                start = part["snapshot"]
            if part["type"] == "step-finish" and part.get("snapshot"):
                end = part["snapshot"]
    if start is None or end is None or start == end:
        return []
    return await shadow.diff(start, end)
