"""Markdown files with YAML front matter under `.opencode/` and the global config directory."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from pyopencode.errors import BadRequestError

Json = dict[str, Any]

# Caps a single agent, command, skill or instruction file read into a prompt.
MAX_FILE_BYTES = 256 * 1024


def global_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opencode"


# Answers to "where is the worktree" for the duration of `one_look` (see there).
_LOOKS: ContextVar[dict[str, tuple[Path, Path]] | None] = ContextVar("looks", default=None)


@contextlib.contextmanager
def one_look() -> Iterator[None]:
    """Within this block, where a directory's worktree is is looked up on disk once.

    A step's configuration and system prompt ask it a dozen times (agents, commands, skills,
    instructions, the environment), each a path resolution and a walk up the tree: most of
    the CPU of preparing a step, in a thread that the event loop then waits on for the GIL.
    The block is one moment, so one look answers them all; the next step looks again."""
    token = _LOOKS.set({})
    try:
        yield
    finally:
        _LOOKS.reset(token)


def _look(directory: str) -> tuple[Path, Path]:
    """(`directory` resolved, its worktree root)."""
    looks = _LOOKS.get()
    if looks is not None and directory in looks:
        return looks[directory]
    start = Path(directory).resolve()
    root = next((c for c in (start, *start.parents) if (c / ".git").exists()), start)
    if looks is not None:
        looks[directory] = (start, root)
    return start, root


def worktree(directory: str) -> Path:
    """The git root above `directory`, or `directory` itself outside git (no subprocess)."""
    return _look(directory)[1]


def upward(directory: str) -> list[Path]:
    """`directory` and its parents up to the worktree root, nearest first."""
    start, root = _look(directory)
    out = [start]
    if root != start and root in start.parents:
        out += [p for p in start.parents if p == root or root in p.parents]
    return out


def config_dirs(directory: str) -> list[Path]:
    """Where `agent/`, `command/` and `skill/` folders live, lowest precedence first."""
    project = [p / ".opencode" for p in reversed(upward(directory))]
    return [global_dir(), *project]


@dataclass(frozen=True, slots=True)
class Document:
    path: Path
    meta: Json
    body: str


def read(path: Path) -> Document:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BadRequestError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        post = frontmatter.loads(path.read_text(errors="replace"))
    except (yaml.YAMLError, ValueError) as exc:
        raise BadRequestError(f"Invalid front matter in {path}: {exc}") from exc
    meta = {str(k): v for k, v in post.metadata.items()}
    return Document(path, meta, post.content)


def documents(
    dirs: list[Path], folders: tuple[str, ...], pattern: str
) -> list[tuple[str, Document]]:
    """(name, document) for each file matching `pattern` in each folder, by precedence.

    A name is the path below its folder without `.md`, so `command/git/pr.md` is `git/pr`.
    """
    out: list[tuple[str, Document]] = []
    for base in dirs:
        for folder in folders:
            root = base / folder
            if not root.is_dir():
                continue
            for path in sorted(root.glob(pattern)):
                if path.is_file():
                    name = path.relative_to(root).with_suffix("").as_posix()
                    out.append((name, read(path)))
    return out
