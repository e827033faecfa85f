"""Session rules: defaults on create, what a PATCH may change, and how a fork is named."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyopencode import __version__, ids
from pyopencode.vocab import Json, now_ms

if TYPE_CHECKING:
    from pyopencode.project import Instance

__all__ = ["apply_patch", "default_title", "fork_info", "new_info", "now_ms", "slug"]

_ADJECTIVES = [
    "brave",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "curious",
    "eager",
    "gentle",
    "glowing",
    "happy",
    "hidden",
    "jolly",
    "kind",
    "lucky",
    "mighty",
    "misty",
    "neon",
    "nimble",
    "playful",
    "proud",
    "quick",
    "quiet",
    "shiny",
    "silent",
    "stellar",
    "sunny",
    "swift",
    "tidy",
    "witty",
]
_NOUNS = [
    "cabin",
    "canyon",
    "circuit",
    "comet",
    "eagle",
    "engine",
    "falcon",
    "forest",
    "garden",
    "harbor",
    "island",
    "knight",
    "lagoon",
    "meadow",
    "moon",
    "mountain",
    "nebula",
    "orchid",
    "otter",
    "panda",
    "pixel",
    "planet",
    "river",
    "rocket",
    "sailor",
    "squid",
    "star",
    "tiger",
    "wizard",
]


def _iso(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


def slug() -> str:
    # A friendly name, not a secret: the ids' generator, not one system call per choice.
    return f"{ids.choice(_ADJECTIVES)}-{ids.choice(_NOUNS)}"


def default_title(child: bool, at_ms: int) -> str:
    return f"{'Child session' if child else 'New session'} - {_iso(at_ms)}"


def new_info(instance: Instance, body: Json) -> Json:
    """A new session's JSON, key order as upstream writes it."""
    created = now_ms()
    parent = body.get("parentID")
    info: Json = {
        "id": ids.descending("ses"),
        "slug": slug(),
        "projectID": instance.project_id,
    }
    if body.get("workspaceID") is not None:
        info["workspaceID"] = body["workspaceID"]
    info["directory"] = instance.directory
    info["path"] = instance.path
    if parent is not None:
        info["parentID"] = parent
    info["cost"] = 0
    info["tokens"] = {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}}
    title = body.get("title")
    info["title"] = title if title is not None else default_title(parent is not None, created)
    for key in ("agent", "model", "metadata", "permission"):
        if body.get(key) is not None:
            info[key] = body[key]
    info["version"] = __version__
    info["time"] = {"created": created, "updated": created}
    return info


def apply_patch(info: Json, patch: Json) -> Json:
    """The session after a `PATCH /session/{id}` body; only the fields upstream allows."""
    for key in ("title", "metadata", "permission"):
        if key in patch and patch[key] is not None:
            info[key] = patch[key]
    archived = (patch.get("time") or {}).get("archived")
    if archived is not None:
        info["time"]["archived"] = archived
    info["time"]["updated"] = now_ms()
    return info


_FORK_SUFFIX = re.compile(r" \(fork #(\d+)\)$")


def fork_info(source: Json) -> Json:
    """A fork: a new root session in the same place, titled `<title> (fork #n)`."""
    match = _FORK_SUFFIX.search(source["title"])
    base = source["title"][: match.start()] if match else source["title"]
    number = int(match.group(1)) + 1 if match else 1
    created = now_ms()
    info: Json = {
        "id": ids.descending("ses"),
        "slug": slug(),
        "projectID": source["projectID"],
        "directory": source["directory"],
        "path": source.get("path", ""),
        "cost": 0,
        "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
        "title": f"{base} (fork #{number})",
        "version": __version__,
        "time": {"created": created, "updated": created},
    }
    for key in ("agent", "model", "permission"):
        if key in source:
            info[key] = source[key]
    return info
