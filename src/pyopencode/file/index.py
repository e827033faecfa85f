"""The names `find.files` searches: ripgrep's file list per directory, reused while no
directory in it has changed (checked by mtimes, so a new, deleted or renamed file or an
edited ignore file is seen on the very next request)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from pyopencode.file import ripgrep

# Directories whose lists are kept; each costs about 100 bytes per file.
MAX_CACHED = 16
RACE_SLACK_NS = 100_000_000
_IGNORE_FILES = (".gitignore", ".ignore", ".rgignore")


@dataclass(frozen=True, slots=True)
class Listing:
    files: list[str]
    directories: list[str]
    lowered: list[str]
    # Indexes into files + directories, shallowest and shortest first: the empty query's answer.
    nearest: list[int]
    watched: tuple[str, ...]
    signature: tuple[int, ...]


_CACHE: OrderedDict[str, Listing] = OrderedDict()
_LOCKS: dict[str, asyncio.Lock] = {}


def _mtimes(paths: tuple[str, ...]) -> tuple[int, ...]:
    out: list[int] = []
    for path in paths:
        try:
            out.append(os.stat(path).st_mtime_ns)
        except OSError:
            out.append(-1)
    return tuple(out)


def _watch_list(root: str, files: list[str], directories: list[str]) -> tuple[str, ...]:
    """Every listed directory, the root, their other (empty or ignored) subdirectories, and
    the ignore files in them: what a change to the searchable names must touch."""
    listed = {os.path.join(root, d.rstrip("/")) for d in directories}
    listed.add(root)
    watched = set(listed)
    watched.add(os.path.join(root, ".git", "info", "exclude"))
    for directory in listed:
        for name in _IGNORE_FILES:
            watched.add(os.path.join(directory, name))
        try:
            with os.scandir(directory) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False) and entry.name != ".git":
                        watched.add(entry.path)
        except OSError:
            continue
    return tuple(sorted(watched))


def _directories(files: list[str]) -> list[str]:
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]) + "/")
    return sorted(dirs)


async def listing(directory: str) -> Listing:
    """The files and directories under `directory` that `.gitignore` keeps."""
    root = os.path.realpath(directory)
    cached = _CACHE.get(root)
    if cached is not None and await asyncio.to_thread(_mtimes, cached.watched) == cached.signature:
        _CACHE.move_to_end(root)
        return cached
    lock = _LOCKS.setdefault(root, asyncio.Lock())
    async with lock:
        started = time.time_ns()
        files = await ripgrep.files(root)
        fresh = await asyncio.to_thread(_build, root, files, started)
        _CACHE[root] = fresh
        _CACHE.move_to_end(root)
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
        return fresh


def _build(root: str, files: list[str], started: int) -> Listing:
    directories = _directories(files)
    watched = _watch_list(root, files, directories)
    # A directory changed while rg was listing it may be missing that change: such an entry
    # can never match again, so the next request lists afresh. The slack covers the
    # filesystem's coarser clock.
    recent = started - RACE_SLACK_NS
    signature = tuple(-2 if m >= recent else m for m in _mtimes(watched))
    names = files + directories
    nearest = sorted(
        range(len(names)),
        key=lambda i: (names[i].count("/") - names[i].endswith("/"), len(names[i]), names[i]),
    )
    lowered = [name.lower() for name in names]
    return Listing(files, directories, lowered, nearest, watched, signature)
