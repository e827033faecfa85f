"""`find.files`: fuzzy search of file and directory names, `.gitignore` honoured."""

from __future__ import annotations

import asyncio
import heapq

from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from pyopencode.file import index

DEFAULT_LIMIT = 10


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
    needle = query.lower()
    # A fuzzy finder's notion of a match: the query's characters in order (the longest
    # common subsequence), a quarter of them allowed missing. Bit-parallel, so cheap.
    scored = process.extract(
        needle,
        listing.lowered,
        scorer=LCSseq.similarity,
        processor=None,
        score_cutoff=len(needle) - len(needle) // 4,
        limit=None,
    )
    # More of the query first; then the query as one piece; then the shorter path.
    hits = heapq.nsmallest(
        limit,
        (
            (-score, needle not in listing.lowered[i], len(names[i]), names[i])
            for _, score, i in scored
            if i in allowed
        ),
    )
    return [hit[3] for hit in hits]


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
