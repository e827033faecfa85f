"""Where a directory's worktree is: looked up afresh each time, once within `one_look`."""

from __future__ import annotations

from pathlib import Path

from pyopencode.config.markdown import one_look, upward, worktree


def test_each_question_looks_again_outside_a_look_and_once_inside_one(tmp_path: Path) -> None:
    top = tmp_path / "repo"
    sub = top / "pkg" / "deep"
    sub.mkdir(parents=True)
    assert worktree(str(sub)) == sub.resolve(), "outside git: the directory itself"

    (top / ".git").mkdir()
    assert worktree(str(sub)) == top.resolve(), "a new repository is seen at once"
    assert upward(str(sub)) == [sub.resolve(), (top / "pkg").resolve(), top.resolve()]

    with one_look():
        assert worktree(str(sub)) == top.resolve()
        (top / ".git").rmdir()
        # One moment: every question in the block gets the answer of its first look.
        assert worktree(str(sub)) == top.resolve()
        assert upward(str(sub))[-1] == top.resolve()
        assert worktree(str(top / "pkg")) == (top / "pkg").resolve(), "another directory looks"

    assert worktree(str(sub)) == sub.resolve(), "after the block, the next question looks again"
    assert upward(str(sub)) == [sub.resolve()]
