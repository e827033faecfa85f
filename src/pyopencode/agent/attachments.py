"""File parts as the model sees them: text inlined as `read` shows it, folders listed."""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import orjson

from pyopencode.tool.base import truncate
from pyopencode.tool.read import DEFAULT_LIMIT

Json = dict[str, Any]

MAX_ENTRIES = 500
NO_IMAGES = "ERROR: Cannot read {name} (this model does not support image input). Inform the user."


def _numbered(lines: list[str], offset: int) -> str:
    return "\n".join(f"{offset + i:05d}| {line}" for i, line in enumerate(lines))


def _called(path: str, extra: Json | None = None) -> str:
    args = orjson.dumps({"filePath": path, **(extra or {})}).decode()
    return f"Called the Read tool with the following input: {args}"


def _read_file(path: Path, query: dict[str, list[str]]) -> str:
    start = int((query.get("start") or ["1"])[0] or 1)
    end = (query.get("end") or [""])[0]
    with path.open(errors="replace") as f:
        lines = f.read().splitlines()
    offset = max(start, 1)
    limit = int(end) - offset + 1 if end and end.isdigit() else DEFAULT_LIMIT
    chosen = lines[offset - 1 : offset - 1 + max(limit, 0)]
    extra = {"offset": offset, "limit": limit} if offset > 1 or end else None
    body = truncate(f"<file>\n{_numbered(chosen, offset)}\n</file>")
    return f"{_called(str(path), extra)}\n{body}"


def _list_dir(path: Path) -> str:
    entries = sorted(os.scandir(path), key=lambda e: e.name)[:MAX_ENTRIES]
    names = [f"{e.name}/" if e.is_dir() else e.name for e in entries]
    listing = "\n".join(names)
    return f'{_called(str(path))}\n<directory path="{path}">\n{listing}\n</directory>'


def _data_url(url: str) -> tuple[str, bytes] | None:
    head, sep, payload = url.partition(",")
    if not sep or not head.startswith("data:"):
        return None
    mime = head[5:].split(";")[0] or "text/plain"
    try:
        data = base64.b64decode(payload) if head.endswith(";base64") else unquote(payload).encode()
    except (binascii.Error, ValueError):
        return None
    return mime, data


def inline(part: Json, images: bool = False) -> str:
    """The text a user message's file part becomes for the model."""
    url = str(part.get("url") or "")
    mime = str(part.get("mime") or "")
    name = str(part.get("filename") or url)
    if mime.startswith("image/") and not images:
        return NO_IMAGES.format(name=name)
    if url.startswith("data:"):
        decoded = _data_url(url)
        if decoded is None or not decoded[0].startswith("text/"):
            return f"[attached file: {name} ({mime or 'unknown type'})]"
        return f'<file name="{name}">\n{truncate(decoded[1].decode(errors="replace"))}\n</file>'
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return f"[attached file: {name}]"
    path = Path(unquote(parsed.path))
    try:
        if path.is_dir() or mime == "application/x-directory":
            return _list_dir(path)
        if path.is_file():
            return _read_file(path, parse_qs(parsed.query))
    except (OSError, ValueError) as exc:
        return f"[attached file {name} could not be read: {exc}]"
    return f"[attached file {name} not found: {path}]"
