"""`find.files`: fuzzy search of file and directory names, `.gitignore` honoured."""

from __future__ import annotations

import asyncio

from rapidfuzz import fuzz, process, utils

from pyopencode.file import ripgrep

DEFAULT_LIMIT = 10
# Weaker matches are noise, not results.
MIN_SCORE = 60.0


def _directories(files: list[str]) -> list[str]:
    dirs: set[str] = set()
    for name in files:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]) + "/")
    return list(dirs)


def _rank(query: str, choices: list[str], limit: int) -> list[str]:
    if not query:
        return sorted(choices, key=lambda c: (c.count("/") - c.endswith("/"), len(c), c))[:limit]
    scored = process.extract(
        query,
        choices,
        scorer=fuzz.partial_ratio,
        processor=utils.default_process,
        score_cutoff=MIN_SCORE,
        limit=None,
    )
    # Best score first; among equals the shorter (closer) path.
    scored.sort(key=lambda item: (-item[1], len(item[0]), item[0]))
    return [choice for choice, _, _ in scored[:limit]]


async def files(
    directory: str,
    query: str,
    *,
    dirs: bool = True,
    kind: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """Paths under `directory` matching `query`: files, and directories (ending in `/`)."""
    listed = await ripgrep.files(directory)
    choices: list[str] = []
    if kind != "directory":
        choices.extend(listed)
    if kind == "directory" or (kind is None and dirs):
        choices.extend(_directories(listed))
    return await asyncio.to_thread(_rank, query.strip(), choices, limit)
