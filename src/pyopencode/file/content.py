"""`file.read`: a file's text (or base64 bytes), with git's diff when it is modified."""

from __future__ import annotations

import asyncio
import base64
import mimetypes
import os
import re
import stat
from typing import Any

from pyopencode.errors import BadRequestError
from pyopencode.file import paths
from pyopencode.file.git import git

# Larger files are refused before any byte is read.
MAX_READ_BYTES = 10 * 1024 * 1024

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class FileTooLargeError(BadRequestError):
    def __init__(self, path: str, size: int) -> None:
        super().__init__(
            f"File too large to read: {path} is {size} bytes, the limit is {MAX_READ_BYTES}",
            field="path",
            kind="Query",
        )


def _read(root: str, path: str) -> tuple[str, bytes]:
    target = paths.resolve(root, path)
    try:
        fh = open(target, "rb")  # noqa: SIM115 (closed below, after the size check)
    except FileNotFoundError as exc:
        raise paths.missing(path) from exc
    except IsADirectoryError as exc:
        raise BadRequestError(f"Not a file: {path}", field="path", kind="Query") from exc
    with fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BadRequestError(f"Not a file: {path}", field="path", kind="Query")
        if st.st_size > MAX_READ_BYTES:
            raise FileTooLargeError(path, st.st_size)
        data = fh.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise FileTooLargeError(path, len(data))
    return target, data


async def read_bytes(root: str, path: str) -> bytes:
    """The bytes of the file `path` under `root`: path-checked, and refused over the cap."""
    _, data = await asyncio.to_thread(_read, root, path)
    return data


def _is_binary(name: str, data: bytes) -> tuple[bool, str | None]:
    mime, _ = mimetypes.guess_type(name)
    if mime is not None and mime.split("/")[0] in ("image", "audio", "video", "font"):
        return True, mime
    if b"\x00" in data[:8192]:
        return True, mime or "application/octet-stream"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True, mime or "application/octet-stream"
    return False, mime


def parse_patch(diff: str, name: str) -> dict[str, Any]:
    """git's unified diff of one file as jsdiff's structured patch (what upstream sends)."""
    hunks: list[dict[str, Any]] = []
    index: str | None = None
    current: dict[str, Any] | None = None
    for line in diff.split("\n"):
        match = _HUNK.match(line)
        if match:
            old_start, old_lines, new_start, new_lines = match.groups()
            current = {
                "oldStart": int(old_start),
                "oldLines": int(old_lines) if old_lines is not None else 1,
                "newStart": int(new_start),
                "newLines": int(new_lines) if new_lines is not None else 1,
                "lines": [],
            }
            hunks.append(current)
        elif current is not None and line[:1] in (" ", "+", "-", "\\"):
            current["lines"].append(line)
        elif line.startswith("index ") and current is None:
            index = line[len("index ") :]
    patch: dict[str, Any] = {"oldFileName": name, "newFileName": name, "hunks": hunks}
    if index is not None:
        patch["index"] = index
    return patch


async def _diff(root: str, target: str) -> str | None:
    """git's diff of a tracked file against HEAD, or None when unmodified or untracked."""
    toplevel = await git("rev-parse", "--show-toplevel", cwd=root)
    if not toplevel.ok:
        return None
    rel = os.path.relpath(os.path.realpath(target), os.path.realpath(toplevel.text().strip()))
    tracked = await git("ls-files", "--error-unmatch", "--", rel, cwd=toplevel.text().strip())
    if not tracked.ok:
        return None
    out = await git("diff", "HEAD", "--no-color", "--no-ext-diff", "--", rel, cwd=root)
    text = out.text()
    return text if out.ok and text.strip() else None


async def read(root: str, path: str) -> dict[str, Any]:
    """Upstream's FileContent for `path` under `root`."""
    target, data = await asyncio.to_thread(_read, root, path)
    binary, mime = _is_binary(target, data)
    if binary:
        content: dict[str, Any] = {
            "type": "binary",
            "content": base64.b64encode(data).decode("ascii"),
            "encoding": "base64",
        }
        if mime is not None:
            content["mimeType"] = mime
        return content
    # Upstream trims the text it sends; clients rely on that shape.
    result: dict[str, Any] = {"type": "text", "content": data.decode("utf-8").strip()}
    diff = await _diff(root, target)
    if diff is not None:
        result["diff"] = diff
        result["patch"] = parse_patch(diff, paths.relative(os.path.abspath(root), target))
    return result
