"""Instruction files for the system prompt: AGENTS.md (or CLAUDE.md) and config `instructions`."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

from pyopencode.config.markdown import MAX_FILE_BYTES, global_dir, upward, worktree

Json = dict[str, Any]

# Tried in order; the first name found anywhere up the tree is the one used.
PROJECT_FILES = ("AGENTS.md", "CLAUDE.md", "CONTEXT.md")


def project_files(directory: str) -> list[Path]:
    """AGENTS.md from `directory` up to the worktree root (CLAUDE.md if there is none)."""
    places = upward(directory)
    for name in PROJECT_FILES:
        found = [p / name for p in places if (p / name).is_file()]
        if found:
            return found
    return []


def global_files() -> list[Path]:
    for path in (global_dir() / "AGENTS.md", Path.home() / ".claude" / "CLAUDE.md"):
        if path.is_file():
            return [path]
    return []


def configured_files(directory: str, config: Json) -> list[Path]:
    """Files and globs from config `instructions`, relative ones from the project upward."""
    out: list[Path] = []
    entries = config.get("instructions")
    if not isinstance(entries, list):
        return out
    root = worktree(directory)
    for entry in entries:
        if not isinstance(entry, str) or entry.startswith(("http://", "https://")):
            continue
        raw = os.path.expanduser(entry)
        if os.path.isabs(raw):
            matches = glob.glob(raw, recursive=True)
        else:
            matches = []
            for place in upward(directory):
                matches += glob.glob(str(place / raw), recursive=True)
                if place == root:
                    break
        out += [Path(m) for m in sorted(matches) if os.path.isfile(m)]
    return out


def files(directory: str, config: Json) -> list[Path]:
    out: list[Path] = []
    seen: set[Path] = set()
    for path in [*project_files(directory), *global_files(), *configured_files(directory, config)]:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            out.append(real)
    return out


def sections(directory: str, config: Json) -> list[str]:
    """One `Instructions from: <path>` block per file, in the order they apply."""
    out = []
    for path in files(directory, config):
        try:
            with path.open("rb") as f:
                text = f.read(MAX_FILE_BYTES).decode(errors="replace")
        except OSError:
            continue
        out.append(f"Instructions from: {path}\n{text}")
    return out
