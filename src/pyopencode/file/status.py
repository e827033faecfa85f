"""git's view of the working tree: changed files with line counts, their diffs, `git apply`."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pyopencode.file.git import Result, git

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_STATUS = {"A": "added", "D": "deleted", "M": "modified", "T": "modified"}
_DIFF_START = re.compile(r"^diff --git ", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Change:
    file: str
    additions: int
    deletions: int
    status: str
    patch: str | None = None


async def toplevel(directory: str) -> str | None:
    out = await git("rev-parse", "--show-toplevel", cwd=directory)
    return out.text().strip() if out.ok else None


async def _base(top: str, mode: str) -> str:
    """The commit a diff starts from: HEAD, or where HEAD left the default branch."""
    head = await git("rev-parse", "--verify", "--quiet", "HEAD", cwd=top)
    if not head.ok:
        return EMPTY_TREE
    if mode == "branch":
        default = await default_branch(top)
        if default is not None:
            base = await git("merge-base", "HEAD", default, cwd=top)
            if base.ok:
                return base.text().strip()
    return "HEAD"


async def default_branch(top: str) -> str | None:
    remote = await git("symbolic-ref", "--short", "refs/remotes/origin/HEAD", cwd=top)
    if remote.ok and remote.text().strip():
        return remote.text().strip()
    for name in ("main", "master"):
        found = await git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}", cwd=top)
        if found.ok:
            return name
    return None


@asynccontextmanager
async def _with_untracked(top: str) -> AsyncIterator[dict[str, str]]:
    """An env whose throwaway index also holds untracked files (intent-to-add), so one
    `git diff` shows them; the user's own index and object store are left untouched."""
    index_path = await git("rev-parse", "--git-path", "index", cwd=top)
    real_index = os.path.join(top, index_path.text().strip())
    with tempfile.TemporaryDirectory(prefix="pyopencode-index-") as tmp:
        scratch = os.path.join(tmp, "index")
        if os.path.exists(real_index):
            await asyncio.to_thread(shutil.copyfile, real_index, scratch)
        env = {"GIT_INDEX_FILE": scratch}
        await git("add", "--intent-to-add", "--all", "--", ".", cwd=top, env=env)
        yield env


def numstat(out: Result) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for record in out.stdout.decode("utf-8", errors="replace").split("\0"):
        if not record:
            continue
        name, lines = _numstat_record(record)
        counts[name] = lines
    return counts


def _numstat_record(record: str) -> tuple[str, tuple[int, int]]:
    """A `--numstat -z` record: the path, and lines added and removed."""
    added, removed, name = record.split("\t", 2)
    # Binary files have "-" counts.
    return name, (int(added) if added.isdigit() else 0, int(removed) if removed.isdigit() else 0)


def name_status(out: Result) -> list[tuple[str, str]]:
    fields = out.stdout.decode("utf-8", errors="replace").split("\0")
    pairs: list[tuple[str, str]] = []
    for i in range(0, len(fields) - 1, 2):
        pairs.append((fields[i], fields[i + 1]))
    return pairs


def raw_numstat_patch(out: Result) -> list[tuple[str, str, int, int, str]]:
    """(status letter, path, added, removed, patch) per file of one `git diff --raw --numstat
    -p -z` run: three views of the diff from one process instead of three."""
    data = out.stdout
    pos = 0
    entries: list[tuple[str, str]] = []
    # Raw records come first: ":<modes> <hashes> <status>\0<path>\0" (no renames asked for).
    while data.startswith(b":", pos):
        meta_end = data.index(b"\0", pos)
        path_end = data.index(b"\0", meta_end + 1)
        letter = data[pos:meta_end].rsplit(b" ", 1)[-1].decode()
        entries.append((letter, data[meta_end + 1 : path_end].decode("utf-8", errors="replace")))
        pos = path_end + 1
    counts: dict[str, tuple[int, int]] = {}
    for _ in entries:
        end = data.index(b"\0", pos)
        name, lines = _numstat_record(data[pos:end].decode("utf-8", errors="replace"))
        counts[name] = lines
        pos = end + 1
    # An empty record separates the numstat lines from the patch text.
    if data.startswith(b"\0", pos):
        pos += 1
    chunks = split_patches(data[pos:].decode("utf-8", errors="replace"))
    return [
        (letter, name, *counts.get(name, (0, 0)), chunks[i] if i < len(chunks) else "")
        for i, (letter, name) in enumerate(entries)
    ]


def split_patches(text: str) -> list[str]:
    """A multi-file unified diff as one chunk per file, in git's (path) order."""
    starts = [m.start() for m in _DIFF_START.finditer(text)]
    if not starts:
        return []
    ends = [*starts[1:], len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


async def changes(
    directory: str, mode: str = "git", context: int | None = None, patches: bool = False
) -> list[Change]:
    """Every file that differs between the diff base and the working tree."""
    top = await toplevel(directory)
    if top is None:
        return []
    base = await _base(top, mode)
    async with _with_untracked(top) as env:
        common = ["diff", base, "--no-renames", "--no-color", "--no-ext-diff", "-z"]
        numstats, names = await asyncio.gather(
            git(*common, "--numstat", cwd=top, env=env),
            git(*common, "--name-status", cwd=top, env=env),
        )
        chunks: list[str] = []
        if patches:
            unified = [f"-U{context}"] if context is not None else []
            raw = await git(
                "diff",
                base,
                "--no-renames",
                "--no-color",
                "--no-ext-diff",
                *unified,
                cwd=top,
                env=env,
            )
            chunks = split_patches(raw.text())
    counts = numstat(numstats)
    found: list[Change] = []
    for i, (letter, name) in enumerate(name_status(names)):
        added, removed = counts.get(name, (0, 0))
        patch = chunks[i] if patches and i < len(chunks) else None
        found.append(Change(name, added, removed, _STATUS.get(letter[:1], "modified"), patch))
    return found


async def raw_diff(directory: str) -> str:
    """The working tree's whole diff against HEAD, untracked files included."""
    top = await toplevel(directory)
    if top is None:
        return ""
    base = await _base(top, "git")
    async with _with_untracked(top) as env:
        out = await git(
            "diff", base, "--no-renames", "--no-color", "--no-ext-diff", cwd=top, env=env
        )
    return out.text()


class ApplyError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


async def apply(directory: str, patch: str) -> None:
    """`git apply` the patch to the working tree, all of it or none (checked first)."""
    top = await toplevel(directory)
    if top is None:
        raise ApplyError("non-git", "Patch can't be applied because the project is not git-based")
    data = patch.encode()
    if not data.endswith(b"\n"):
        data += b"\n"
    check = await git("apply", "--check", "--whitespace=nowarn", "-", cwd=top, stdin=data)
    if not check.ok or not patch.strip():
        raise ApplyError("not-clean", "Patch can't be applied")
    done = await git("apply", "--whitespace=nowarn", "-", cwd=top, stdin=data)
    if not done.ok:
        raise ApplyError("not-clean", "Patch can't be applied")
