"""The ripgrep binary (from the PyPI `ripgrep` package) and the file list it walks."""

from __future__ import annotations

import os
import shutil
import sysconfig
from functools import cache

from pyopencode.errors import OpencodeError
from pyopencode.file.git import run

# Large trees list quickly with rg; this bounds a pathological one.
MAX_FILES = 200_000
# Hidden files are searched, as upstream does; git's own directory never is.
COMMON_ARGS = ("--hidden", "--glob", "!.git/", "--no-messages")


class RipgrepMissingError(OpencodeError):
    """Neither the packaged nor a system ripgrep is installed."""

    status = 500


@cache
def binary() -> str:
    """The packaged `rg` next to this interpreter's scripts, else one on PATH."""
    packaged = os.path.join(sysconfig.get_path("scripts"), "rg")
    if os.access(packaged, os.X_OK):
        return packaged
    found = shutil.which("rg")
    if found is None:
        raise RipgrepMissingError("ripgrep (rg) is not installed; pip install ripgrep")
    return found


async def files(directory: str) -> list[str]:
    """Every file under `directory` that `.gitignore` keeps, relative, in no set order."""
    out = await run([binary(), "--files", "--null", *COMMON_ARGS], cwd=directory)
    names = out.stdout.decode("utf-8", errors="replace").split("\0")
    return [name for name in names[:MAX_FILES] if name]
