"""Confines every path a tool touches to the project unless `external_directory` is permitted.

One rule for all tools: a path is resolved the way the kernel will open it (`..` collapsed,
symlinks followed) and held against the project root, itself resolved the same way. Outside
means asking for `external_directory` with the directory it lands in. Glob patterns are
confined too: their literal leading directories are resolved as a path, and what is left may
not climb with `..`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyopencode.tool.base import ToolContext, ToolError

_GLOB_CHARS = frozenset("*?[]{}")


def project_root(ctx: ToolContext) -> Path:
    return Path(os.path.realpath(ctx.directory))


def is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


async def confine(ctx: ToolContext, path: Path) -> Path:
    """`path` (absolute) resolved; asks `external_directory` if it lands outside the project."""
    real = Path(os.path.realpath(path))
    if not is_inside(real, project_root(ctx)):
        parent = real if real.is_dir() else real.parent
        await ctx.ask("external_directory", [f"{parent}/*"], {"filepath": str(real)})
    return real


async def resolve(ctx: ToolContext, raw: str) -> Path:
    """A path argument, relative to the project directory, resolved and confined."""
    if "\x00" in raw:
        raise ToolError("Paths may not contain NUL characters")
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = Path(ctx.directory) / path
    return await confine(ctx, path)


async def resolve_glob(ctx: ToolContext, root: Path, pattern: str) -> tuple[Path, str]:
    """Split `pattern` into a confined base directory and a pattern relative to it.

    `../../etc/*.conf` searches `/etc` (after asking) for `*.conf`; `src/**/*.py` searches
    `<root>/src` for `**/*.py`. A `..` after a wildcard could land anywhere, so it is refused.
    """
    if "\x00" in pattern:
        raise ToolError("Patterns may not contain NUL characters")
    parts = Path(os.path.expanduser(pattern)).parts
    literal: list[str] = []
    for part in parts:
        if _GLOB_CHARS.intersection(part):
            break
        literal.append(part)
    rest = parts[len(literal) :]
    if ".." in rest:
        raise ToolError("A pattern may not use `..` after a wildcard; give the directory first")
    if not rest:
        # No wildcard at all: the last component is the file name to match.
        literal, rest = literal[:-1], tuple(literal[-1:])
    base = Path(*literal) if literal else Path()
    if not base.is_absolute():
        base = root / base
    confined = await confine(ctx, base)
    return confined, "/".join(rest) or "*"
