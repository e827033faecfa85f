"""The shadow-repository snapshots on real git repositories: track, patch, diff, revert, restore."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pyopencode.snapshot import Patch, ShadowRepo
from pyopencode.snapshot import shadow as shadow_module
from tests.workspace.conftest import make_repo


def tree_state(root: Path) -> dict[str, bytes]:
    """Every file outside .git with its bytes."""
    state: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath) / name
            state[str(path.relative_to(root))] = path.read_bytes()
    return state


def git_dir_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for dirpath, _, filenames in sorted(os.walk(root / ".git")):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


class GitRuns:
    """Counts the snapshot module's git runs whose arguments hold `word` (`add`, `diff`...)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, word: str) -> None:
        self.count = 0
        real_git = shadow_module.git

        async def counting_git(*args: str, **kwargs: Any) -> Any:
            self.count += word in args
            return await real_git(*args, **kwargs)

        monkeypatch.setattr(shadow_module, "git", counting_git)


def test_track_edit_diff_revert_restore(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))
    users_git = git_dir_digest(repo)

    async def scenario() -> None:
        before = tree_state(repo)
        first = await shadow.track()
        assert len(first) == 40
        assert await shadow.track() == first, "an unchanged tree has the same hash"
        unchanged, now = await shadow.patch(first)
        assert unchanged.files == [] and now == first

        binary = bytes(range(256))
        (repo / "a.txt").write_text("rewritten\n")
        (repo / "pkg" / "deep").mkdir(parents=True)
        (repo / "pkg" / "deep" / "made.bin").write_bytes(binary)
        (repo / "src" / "main.py").unlink()
        (repo / "ignored.log").write_text("changed but ignored\n")

        patch, second = await shadow.patch(first)
        assert sorted(patch.files) == sorted(
            str(repo / p) for p in ("a.txt", "pkg/deep/made.bin", "src/main.py")
        )
        assert second != first
        assert await shadow.track() == second, "the patch's snapshot is the tree as it is now"
        diffs = {d["file"]: d for d in await shadow.diff(first, second)}
        assert {f: d["status"] for f, d in diffs.items()} == {
            "a.txt": "modified",
            "pkg/deep/made.bin": "added",
            "src/main.py": "deleted",
        }
        assert diffs["a.txt"]["additions"] == 1 and diffs["a.txt"]["deletions"] == 3
        assert "+rewritten" in diffs["a.txt"]["patch"]
        assert await shadow.diff(first) == await shadow.diff(first, second)

        after = tree_state(repo)
        await shadow.revert([patch])
        reverted = tree_state(repo)
        assert reverted == {**before, "ignored.log": b"changed but ignored\n"}
        assert not (repo / "pkg").exists(), "directories the step created go too"

        await shadow.restore(second)
        assert tree_state(repo) == after
        assert (repo / "pkg" / "deep" / "made.bin").read_bytes() == binary

        await shadow.restore(first)
        assert tree_state(repo) == {**before, "ignored.log": b"changed but ignored\n"}

    asyncio.run(scenario())
    assert git_dir_digest(repo) == users_git, "the user's .git is never touched"
    assert (tmp_path / "data" / "snapshot" / "proj").is_dir()


def test_revert_takes_each_file_from_its_first_patch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))

    async def scenario() -> None:
        original = (repo / "a.txt").read_bytes()
        h1 = await shadow.track()
        (repo / "a.txt").write_text("step one\n")
        p1, h2 = await shadow.patch(h1)
        (repo / "a.txt").write_text("step two\n")
        (repo / "b.txt").write_text("born in step two\n")
        p2, _ = await shadow.patch(h2)
        await shadow.revert([p1, p2])
        assert (repo / "a.txt").read_bytes() == original
        assert not (repo / "b.txt").exists()

    asyncio.run(scenario())


def test_revert_ignores_paths_outside_the_worktree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))

    async def scenario() -> None:
        h = await shadow.track()
        await shadow.revert([Patch(h, [str(outside)])])

    asyncio.run(scenario())
    assert outside.read_text() == "keep"


def test_diff_in_one_git_run_matches_three(tmp_path: Path) -> None:
    """The summary's single `--raw --numstat --patch` run gives what three runs gave: each
    file's status, line counts and its own patch, for odd names and binary files too."""
    repo = make_repo(tmp_path / "repo")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))

    async def scenario() -> None:
        first = await shadow.track()
        (repo / "a.txt").write_text("one\ntwo\nthree\nfour\n")
        (repo / "tab\tand space é.txt").write_text("x\ny\n")
        (repo / "blob.bin").write_bytes(b"\0\1\2" * 50)
        (repo / "src" / "main.py").unlink()
        _, second = await shadow.patch(first)
        got = {d["file"]: d for d in await shadow.diff(first, second)}

        def run(*args: str) -> str:
            # Paths in the patch text as they are (é, not \303\251), as -z gives them.
            git = ["git", "-c", "core.quotePath=false", "--git-dir", shadow.git_dir]
            return subprocess.run(
                [*git, "diff", "--no-renames", *args],
                capture_output=True,
                check=True,
                text=True,
            ).stdout

        common = [first, second]
        statuses = run(*common, "--name-status", "-z").split("\0")
        expected_status = dict(zip(statuses[1::2], statuses[0::2], strict=False))
        numstats = [r.split("\t", 2) for r in run(*common, "--numstat", "-z").split("\0") if r]
        assert set(got) == set(expected_status) == {n for _, _, n in numstats}
        letters = {"A": "added", "D": "deleted", "M": "modified"}
        for added, removed, name in numstats:
            d = got[name]
            assert d["status"] == letters[expected_status[name]]
            assert (d["additions"], d["deletions"]) == (
                int(added) if added.isdigit() else 0,
                int(removed) if removed.isdigit() else 0,
            )
            assert d["patch"] == run(*common, "--", name), name
        assert got["a.txt"]["additions"] == 4 and got["blob.bin"]["additions"] == 0
        assert "Binary files" in got["blob.bin"]["patch"]

    asyncio.run(scenario())


def test_concurrent_snapshots_share_staging_and_each_sees_its_own_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions of one project asking for snapshots at once share `git add` runs (they queue
    on one index otherwise), and every snapshot still holds what its caller wrote before
    asking; a caller that goes away does not take the shared run with it."""
    repo = make_repo(tmp_path / "repo")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))
    stagings = GitRuns(monkeypatch, "add")

    def names(tree: str) -> set[str]:
        out = subprocess.run(
            ["git", "--git-dir", shadow.git_dir, "ls-tree", "-r", "-z", "--name-only", tree],
            capture_output=True,
            check=True,
        ).stdout
        return set(out.decode().split("\0"))

    async def writer(i: int, delay: float) -> None:
        await asyncio.sleep(delay)
        (repo / f"new-{i}.txt").write_text(f"{i}\n")
        assert f"new-{i}.txt" in names(await shadow.track())

    async def scenario() -> None:
        await shadow.track()
        stagings.count = 0
        await asyncio.gather(*(writer(i, 0) for i in range(32)))
        assert stagings.count == 1, "32 callers at once: one staging run"

        stagings.count = 0
        await asyncio.gather(*(writer(100 + i, random.uniform(0, 0.05)) for i in range(32)))
        assert 1 <= stagings.count < 32

        (repo / "late.txt").write_text("late\n")
        gone = asyncio.ensure_future(shadow.track())
        staying = asyncio.ensure_future(shadow.track())
        await asyncio.sleep(0)
        gone.cancel()
        assert "late.txt" in names(await staying)

    asyncio.run(scenario())


def test_callers_of_one_shared_run_return_on_loop_turns_of_their_own(tmp_path: Path) -> None:
    """Dozens of sessions released by one staging run at once would each build a model request
    in the same loop turn, holding up every stream; they go on one per turn instead, and a
    caller that went away does not hold up the ones after it."""
    repo = make_repo(tmp_path / "repo")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))

    async def scenario() -> None:
        await shadow.track()
        loop = asyncio.get_running_loop()
        turn = 0
        ticking = True

        def tick() -> None:
            nonlocal turn
            turn += 1
            if ticking:
                loop.call_soon(tick)

        returned: list[int] = []

        async def caller() -> None:
            await shadow.track()
            returned.append(turn)

        tasks = [asyncio.ensure_future(caller()) for _ in range(12)]
        gone = asyncio.ensure_future(shadow.track())
        loop.call_soon(tick)
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        ticking = False
        assert len(returned) == 12
        assert len(set(returned)) == 12, f"callers returned together: {returned}"

    asyncio.run(scenario())


def test_a_diff_between_two_trees_runs_git_once_for_every_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sessions released by one staging run ask for the same tree pairs (a step's patch, then
    the turn's summary): one git run answers them all, and a failed run is not kept."""
    repo = make_repo(tmp_path / "repo")
    shadow = ShadowRepo(tmp_path / "data", "proj", str(repo))
    diffs = GitRuns(monkeypatch, "diff")

    async def scenario() -> None:
        first = await shadow.track()
        (repo / "a.txt").write_text("rewritten\n")
        second = await shadow.track()
        diffs.count = 0

        gone = asyncio.ensure_future(shadow.diff(first, second))
        await asyncio.sleep(0)
        gone.cancel()
        answers = await asyncio.gather(*(shadow.diff(first, second) for _ in range(8)))
        assert diffs.count == 1, "eight callers at once, and one that went away: one git run"
        assert all(a == answers[0] for a in answers)
        assert [d["file"] for d in answers[0]] == ["a.txt"]
        assert "+rewritten" in answers[0][0]["patch"]

        patches = await asyncio.gather(*(shadow.patch(first) for _ in range(4)))
        assert {p.files[0] for p, _now in patches} == {str(repo / "a.txt")}
        assert diffs.count == 2, "the patch's file list is a diff of its own, run once"
        assert await shadow.diff(first, second) == answers[0]
        assert diffs.count == 2, "asked again later: still no new run"
        assert await shadow.diff(second, first) != answers[0]
        assert diffs.count == 3, "another pair is another run"

        missing = "0" * 40
        for _ in range(2):
            with pytest.raises(shadow_module.SnapshotError):
                await shadow.diff(missing, second)
        assert diffs.count == 5, "a failed diff is tried again, not remembered"

        (repo / "big.txt").write_text("line\n" * (shadow_module.DIFF_KEPT_BYTES // 4))
        third = await shadow.track()
        diffs.count = 0
        both = await asyncio.gather(shadow.diff(second, third), shadow.diff(second, third))
        assert diffs.count == 1 and both[0] == both[1], "callers at once still share the run"
        await shadow.diff(second, third)
        assert diffs.count == 2, "a large answer is not kept for later callers"

    asyncio.run(scenario())
