"""Markdown files with YAML front matter under `.opencode/` and the global config directory."""

from __future__ import annotations

import os
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


def worktree(directory: str) -> Path:
    """The git root above `directory`, or `directory` itself outside git (no subprocess)."""
    start = Path(directory).resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def upward(directory: str) -> list[Path]:
    """`directory` and its parents up to the worktree root, nearest first."""
    start, root = Path(directory).resolve(), worktree(directory)
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
