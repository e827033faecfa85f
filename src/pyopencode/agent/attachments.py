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
MAX_IMAGE_BYTES = 10 * 1024 * 1024


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


def image(part: Json) -> Json | None:
    """An image file part as {mime, data (base64), name}; None if the part is not an image."""
    url = str(part.get("url") or "")
    mime = str(part.get("mime") or "")
    if not mime.startswith("image/"):
        return None
    name = str(part.get("filename") or "image")
    data: bytes | None = None
    if url.startswith("data:"):
        decoded = _data_url(url)
        data = decoded[1] if decoded else None
    elif urlparse(url).scheme == "file":
        path = Path(unquote(urlparse(url).path))
        if path.is_file() and path.stat().st_size <= MAX_IMAGE_BYTES:
            data = path.read_bytes()
    if not data or len(data) > MAX_IMAGE_BYTES:
        return None
    return {"mime": mime, "data": base64.b64encode(data).decode(), "name": name}


def inline(part: Json) -> str:
    """The text a user message's file part becomes for the model."""
    url = str(part.get("url") or "")
    mime = str(part.get("mime") or "")
    name = str(part.get("filename") or url)
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
