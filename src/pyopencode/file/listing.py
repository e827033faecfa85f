"""`file.list`: one directory's entries as upstream's FileNode, directories first."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pyopencode.errors import BadRequestError
from pyopencode.file import paths
from pyopencode.file.ignore import IgnoreRules

# A directory listing is answered whole or not at all; this bounds its size.
MAX_ENTRIES = 10_000


def _list(root: str, path: str) -> list[dict[str, Any]]:
    target = paths.resolve(root, path)
    if not os.path.exists(target):
        raise paths.missing(path)
    if not os.path.isdir(target):
        raise BadRequestError(f"Not a directory: {path}", field="path", kind="Query")
    real_root = os.path.realpath(root)
    entries: list[tuple[str, bool, str]] = []
    with os.scandir(target) as it:
        for entry in it:
            if len(entries) >= MAX_ENTRIES:
                break
            full = os.path.join(target, entry.name)
            if entry.is_symlink():
                # A link that leaves the project is not part of it.
                real = os.path.realpath(full)
                if not (real == real_root or real.startswith(real_root + os.sep)):
                    continue
            is_dir = entry.is_dir()
            entries.append((entry.name, is_dir, full))
    rel_dir = paths.relative(os.path.abspath(root), target)
    ignored = IgnoreRules(os.path.abspath(root)).ignored_names(
        rel_dir, [(name, is_dir) for name, is_dir, _ in entries]
    )
    entries.sort(key=lambda e: (not e[1], e[0]))
    nodes: list[dict[str, Any]] = []
    for name, is_dir, full in entries:
        rel = f"{rel_dir}/{name}" if rel_dir else name
        nodes.append(
            {
                "name": name,
                "path": rel + "/" if is_dir else rel,
                "absolute": full,
                "type": "directory" if is_dir else "file",
                "ignored": name in ignored,
            }
        )
    return nodes


async def list_directory(root: str, path: str) -> list[dict[str, Any]]:
    """The entries of `path` under `root`; `.gitignore`d ones are listed with `ignored`."""
    return await asyncio.to_thread(_list, root, path)
