"""A shadow git repository per project: the work tree is the project, the git dir is ours.

Every call passes `--git-dir` and `--work-tree`, so the user's own `.git` (index, objects,
refs, hooks) is never read for writing or touched. The project's `.gitignore` still applies.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyopencode import futures, spawner
from pyopencode.file.git import Result, git
from pyopencode.file.status import raw_numstat_patch

_STATUS = {"A": "added", "D": "deleted", "M": "modified", "T": "modified"}
# Snapshot git runs yield the CPU to the server's event loop: on a busy machine they are what
# competes with every session's streaming for the cores.
SNAPSHOT_NICE = 5
# Tree diffs kept per project: sessions that share staging runs ask for the same ones. A
# larger answer (a turn that rewrote a big file) is shared by the callers of its run only.
DIFFS_KEPT = 256
DIFF_KEPT_BYTES = 256 * 1024


class _Index:
    """The shadow index of one project, which its snapshots share: a lock, and the staging
    run that callers arriving now will share."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.pending: asyncio.Task[str] | None = None
        # Callers of a finished run, let go one loop turn apart (see `_own_turn`).
        self.leaving: deque[asyncio.Future[None]] = deque()
        # Diffs between two stored trees, newest last (see `ShadowRepo._tree_diff`).
        self.diffs: OrderedDict[tuple[str, ...], asyncio.Future[Result]] = OrderedDict()


_INDEXES: dict[str, _Index] = {}


class SnapshotError(Exception):
    """git refused a snapshot operation; the message is git's."""


@dataclass(frozen=True, slots=True)
class Patch:
    """The files changed since the snapshot `hash` (absolute paths), as upstream's patch part."""

    hash: str
    files: list[str] = field(default_factory=list)


class ShadowRepo:
    """Snapshots of `worktree`, kept under `data_dir/snapshot/<project>/<worktree digest>`."""

    def __init__(self, data_dir: Path, project_id: str, worktree: str) -> None:
        self.worktree = os.path.realpath(worktree)
        digest = hashlib.sha1(self.worktree.encode()).hexdigest()[:16]
        self.git_dir = str(Path(data_dir) / "snapshot" / project_id / digest)
        self._index = _INDEXES.setdefault(self.git_dir, _Index())
        self._lock = self._index.lock

    async def _git(self, *args: str, stdin: bytes | None = None, check: bool = True) -> Result:
        argv = ("--git-dir", self.git_dir, "--work-tree", self.worktree, *args)
        try:
            # A helper process spawns them: each spawn here cost the event loop about a
            # millisecond, several times per step of every session.
            helper = spawner.shared(SNAPSHOT_NICE)
            out = await git(*argv, cwd=self.worktree, stdin=stdin, timeout=120, runner=helper)
        except spawner.SpawnerGone:
            out = await git(*argv, cwd=self.worktree, stdin=stdin, timeout=120, nice=SNAPSHOT_NICE)
        if check and not out.ok:
            message = out.stderr.decode("utf-8", errors="replace").strip()
            raise SnapshotError(f"git {args[0]}: {message}")
        return out

    async def _init(self) -> None:
        if os.path.exists(os.path.join(self.git_dir, "HEAD")):
            return
        os.makedirs(self.git_dir, exist_ok=True)
        await git("init", "--quiet", "--bare", self.git_dir, cwd=self.worktree)
        for key, value in (
            ("core.autocrlf", "false"),
            ("core.symlinks", "true"),
            ("core.fsmonitor", "false"),
            ("gc.auto", "0"),
        ):
            await git("--git-dir", self.git_dir, "config", key, value, cwd=self.worktree)

    async def _stage(self) -> None:
        await self._init()
        await self._git("add", "--all", "--", ".")

    async def track(self) -> str:
        """Record the whole work tree; the hash of its tree.

        Callers that ask while the index is busy share the next staging run: it starts after
        they asked, so it sees every change they made before asking. Under load that is one
        `git add` + `write-tree` for many sessions instead of one each, in a queue on the lock.
        """
        index = self._index
        pending = index.pending
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = index.pending = asyncio.ensure_future(self._staged(index))
            pending.add_done_callback(futures.retrieve)
        # A caller that goes away must not cancel the run the others wait for.
        tree = await asyncio.shield(pending)
        await _own_turn(index.leaving)
        return tree

    async def _staged(self, index: _Index) -> str:
        async with self._lock:
            # From here on, a new caller may have changed files after this run began: it
            # needs a later one.
            index.pending = None
            await self._stage()
            return (await self._git("write-tree")).text().strip()

    async def patch(self, since: str) -> tuple[Patch, str]:
        """The files that differ now from the snapshot `since`, and a snapshot of now.

        One staging serves both: the step's patch part and its closing snapshot (which the
        next step starts from) are the same look at the work tree."""
        now = await self.track()
        if now == since:
            return Patch(since, []), now
        # Two stored trees: no index involved, so other sessions' snapshots need not wait.
        out = await self._tree_diff("--no-renames", "--name-only", "-z", since, now)
        names = [n for n in out.stdout.decode("utf-8", errors="replace").split("\0") if n]
        return Patch(since, [os.path.join(self.worktree, n) for n in names]), now

    async def diff(self, start: str, end: str | None = None) -> list[dict[str, Any]]:
        """Per-file diffs from snapshot `start` to `end` (or the work tree now)."""
        # Between two stored trees the shared index is not involved: one session's summary
        # does not hold up every other session's snapshots.
        if end is None:
            end = await self.track()
        if end == start:
            return []
        out = await self._tree_diff(
            "--no-renames",
            "--no-color",
            "--no-ext-diff",
            start,
            end,
            "--raw",
            "--numstat",
            "--patch",
            "-z",
        )
        return [
            {
                "file": name,
                "patch": patch,
                "additions": added,
                "deletions": removed,
                "status": _STATUS.get(letter[:1], "modified"),
            }
            for letter, name, added, removed, patch in raw_numstat_patch(out)
        ]

    async def _tree_diff(self, *args: str) -> Result:
        """`git diff <args>` between two stored trees, run once for every caller.

        Trees are named by their content, so the answer for a pair never changes. Sessions
        released by one staging run ask for the same pairs at about the same moment (their
        step's patch, then their turn's summary): 194 diff runs for 96 prompts of 16
        sessions, of 48 different pairs."""
        diffs = self._index.diffs
        loop = asyncio.get_running_loop()
        found = diffs.get(args)
        if found is not None and found.get_loop() is loop:
            diffs.move_to_end(args)
        else:
            found = diffs[args] = loop.create_task(self._git("diff", *args))
            found.add_done_callback(lambda f: _keep_or_forget(diffs, args, f))
            while len(diffs) > DIFFS_KEPT:
                diffs.popitem(last=False)
        # A caller that goes away must not cancel the run the others wait for.
        return await asyncio.shield(found)

    async def restore(self, snapshot: str) -> None:
        """Put every file recorded in `snapshot` back as it was, and remove files created
        since (ignored files are left alone: they were never part of a snapshot)."""
        async with self._lock:
            await self._stage()
            created = await self._git(
                "diff", "--cached", "--no-renames", "--name-only", "--diff-filter=A", "-z", snapshot
            )
            await self._git("read-tree", snapshot)
            await self._git("checkout-index", "--all", "--force")
            for name in created.stdout.decode("utf-8", errors="replace").split("\0"):
                if name:
                    _remove(self.worktree, name)

    async def revert(self, patches: list[Patch]) -> None:
        """Undo `patches` (oldest first): each file goes back to the first snapshot that saw
        it change, byte for byte, or is deleted if that snapshot did not have it."""
        first: dict[str, str] = {}
        for patch in patches:
            for path in patch.files:
                rel = os.path.relpath(path, self.worktree)
                if rel.startswith(".."):
                    continue
                first.setdefault(rel, patch.hash)
        by_hash: dict[str, list[str]] = {}
        for rel, snapshot in first.items():
            by_hash.setdefault(snapshot, []).append(rel)
        async with self._lock:
            await self._init()
            for snapshot, rels in by_hash.items():
                # The whole tree in one call: a pathspec per file could overflow argv.
                listing = await self._git("ls-tree", "-r", "-z", "--name-only", snapshot)
                recorded = set(listing.stdout.decode("utf-8", errors="replace").split("\0"))
                present = {rel for rel in rels if rel in recorded}
                if present:
                    await self._git(
                        "checkout",
                        snapshot,
                        "--pathspec-from-file=-",
                        "--pathspec-file-nul",
                        stdin=b"\0".join(p.encode() for p in sorted(present)),
                    )
                for rel in rels:
                    if rel not in present:
                        _remove(self.worktree, rel)


def _keep_or_forget(
    diffs: OrderedDict[tuple[str, ...], asyncio.Future[Result]],
    key: tuple[str, ...],
    done: asyncio.Future[Result],
) -> None:
    """A failed, cancelled or large diff is not kept: the next caller runs git again."""
    futures.retrieve(done)
    kept = (
        not done.cancelled()
        and done.exception() is None
        and len(done.result().stdout) <= DIFF_KEPT_BYTES
    )
    if not kept and diffs.get(key) is done:
        del diffs[key]


async def _own_turn(queue: deque[asyncio.Future[None]]) -> None:
    """Return on a loop turn no other caller in `queue` returns on.

    A shared run ends for dozens of sessions at once, and each goes on to build its next model
    request; all in one loop turn, that is tens of milliseconds in which no model stream is read.
    One per turn, the streams' reads come in between."""
    loop = asyncio.get_running_loop()
    if queue and queue[0].get_loop() is not loop:
        queue.clear()  # left by a loop that has since closed: nothing will let them go
    waiter = loop.create_future()
    queue.append(waiter)
    if len(queue) == 1:
        loop.call_soon(_let_one_go, queue)
    await waiter


def _let_one_go(queue: deque[asyncio.Future[None]]) -> None:
    while queue:
        waiter = queue.popleft()
        if not waiter.done():  # a cancelled caller gives its turn to the next
            waiter.set_result(None)
            break
    if queue:
        asyncio.get_running_loop().call_soon(_let_one_go, queue)


def _remove(root: str, rel: str) -> None:
    """Delete a file the snapshot did not have, and the directories that leaves empty."""
    path = os.path.join(root, rel)
    try:
        os.remove(path)
    except (FileNotFoundError, IsADirectoryError):
        return
    parent = os.path.dirname(path)
    while parent != root and parent.startswith(root + os.sep):
        try:
            os.rmdir(parent)
        except OSError:
            return
        parent = os.path.dirname(parent)
