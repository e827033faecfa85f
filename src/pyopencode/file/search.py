"""`find.text`: ripgrep's JSON matches, capped as upstream caps them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import orjson

from pyopencode import process
from pyopencode.errors import BadRequestError
from pyopencode.file import ripgrep

# Upstream answers at most this many matches.
MAX_MATCHES = 10
TIMEOUT = 30.0


def _text(value: dict[str, Any]) -> str:
    """rg sends `{"text": ...}`, or `{"bytes": base64}` for what is not UTF-8."""
    if "text" in value:
        return str(value["text"])
    raw = base64.b64decode(value.get("bytes", ""))
    return raw.decode("utf-8", errors="replace")


def _match(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "path": {"text": _text(data["path"])},
        "lines": {"text": _text(data["lines"])},
        "line_number": data.get("line_number") or 0,
        "absolute_offset": data.get("absolute_offset") or 0,
        "submatches": [
            {"match": {"text": _text(s["match"])}, "start": s["start"], "end": s["end"]}
            for s in data.get("submatches", [])
        ],
    }


async def text(directory: str, pattern: str, limit: int = MAX_MATCHES) -> list[dict[str, Any]]:
    """The first `limit` lines matching the regex `pattern`, as rg reports them."""
    if "\x00" in pattern:
        raise BadRequestError("pattern: contains a NUL byte", field="pattern", kind="Query")
    proc = await process.start(
        ripgrep.binary(),
        "--json",
        *ripgrep.COMMON_ARGS,
        "-e",
        pattern,
        cwd=directory,
        limit=16 * 1024 * 1024,
    )
    assert proc.stdout is not None and proc.stderr is not None
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            while len(found) < limit:
                try:
                    line = await proc.stdout.readline()
                except ValueError:
                    # One line longer than the reader's limit: skip the rest of it.
                    continue
                if not line:
                    break
                event = orjson.loads(line)
                if event.get("type") == "match":
                    found.append(_match(event["data"]))
            if len(found) >= limit:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            stderr = await proc.stderr.read(65536)
            code = await proc.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    # rg: 0 found, 1 nothing found, 2 error (a bad regex among them).
    if code == 2 and not found:
        message = stderr.decode("utf-8", errors="replace").strip() or "ripgrep failed"
        raise BadRequestError(f"pattern: {message}", field="pattern", kind="Query")
    return found
