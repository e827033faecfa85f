"""`find.files`: fuzzy search of file and directory names, `.gitignore` honoured."""

from __future__ import annotations

import asyncio

from rapidfuzz import fuzz, process

from pyopencode.file import index

DEFAULT_LIMIT = 10
# Weaker matches are noise, not results.
MIN_SCORE = 60.0


def _rank(query: str, listing: index.Listing, kinds: tuple[bool, bool], limit: int) -> list[str]:
    want_files, want_dirs = kinds
    names = listing.files + listing.directories
    nfiles = len(listing.files)
    allowed = range(0 if want_files else nfiles, len(names) if want_dirs else nfiles)
    if not query:
        chosen: list[str] = []
        for i in listing.nearest:
            if i in allowed:
                chosen.append(names[i])
                if len(chosen) >= limit:
                    break
        return chosen
    scored = process.extract(
        query.lower(),
        listing.lowered,
        scorer=fuzz.partial_ratio,
        processor=None,
        score_cutoff=MIN_SCORE,
        limit=None,
    )
    # Best score first; among equals the shorter (closer) path.
    hits = [(score, names[i]) for _, score, i in scored if i in allowed]
    hits.sort(key=lambda item: (-item[0], len(item[1]), item[1]))
    return [name for _, name in hits[:limit]]


async def files(
    directory: str,
    query: str,
    *,
    dirs: bool = True,
    kind: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[str]:
    """Paths under `directory` matching `query`: files, and directories (ending in `/`)."""
    listing = await index.listing(directory)
    kinds = (kind != "directory", kind == "directory" or (kind is None and dirs))
    return await asyncio.to_thread(_rank, query.strip(), listing, kinds, limit)
