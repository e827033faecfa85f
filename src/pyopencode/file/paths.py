"""Path safety: every path a client names must resolve inside the project directory."""

from __future__ import annotations

import os

from pyopencode.errors import BadRequestError, NotFoundError, OpencodeError

_NAME_MAX = 255
_PATH_MAX = 4096


class ForbiddenError(OpencodeError):
    """The path resolves outside the project directory (`..`, absolute, or a symlink)."""

    status = 403


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve(root: str, path: str, *, field: str = "path") -> str:
    """The absolute path of `path` under `root`, refused if it (or a symlink on it) leaves."""
    if "\x00" in path:
        raise BadRequestError(f"{field}: contains a NUL byte", field=field, kind="Query")
    # Names no filesystem here can hold: the kernel would refuse them (ENAMETOOLONG).
    encoded = os.fsencode(path)
    if len(encoded) > _PATH_MAX or any(len(p) > _NAME_MAX for p in encoded.split(b"/")):
        raise BadRequestError(f"{field}: name too long", field=field, kind="Query")
    root = os.path.normpath(os.path.abspath(root))
    candidate = os.path.normpath(os.path.join(root, path))
    if not _inside(candidate, root):
        raise ForbiddenError(f"Path escapes the project directory: {path}")
    # The lexical check passed; now follow symlinks, which may still point elsewhere.
    real = os.path.realpath(candidate)
    if not _inside(real, os.path.realpath(root)):
        raise ForbiddenError(f"Path escapes the project directory: {path}")
    return candidate


def relative(root: str, absolute: str) -> str:
    """`absolute` relative to `root`, with forward slashes, `""` for the root itself."""
    rel = os.path.relpath(absolute, root)
    return "" if rel == "." else rel.replace(os.sep, "/")


def missing(path: str) -> NotFoundError:
    return NotFoundError(f"File not found: {path}")
