"""Confines file paths to the project directory unless `external_directory` is permitted."""

from __future__ import annotations

import os
from pathlib import Path

from pyopencode.tool.base import ToolContext


async def resolve(ctx: ToolContext, raw: str) -> Path:
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        path = Path(ctx.directory) / path
    # realpath so `..` and symlinks cannot step outside unnoticed.
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(ctx.directory))
    if real != root and root not in real.parents:
        parent = real if real.is_dir() else real.parent
        await ctx.ask("external_directory", [f"{parent}/*"], {"filepath": str(real)})
    return real
