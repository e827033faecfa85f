"""`{env:VAR}` and `{file:path}` substitution inside configuration text."""

from __future__ import annotations

import os
import re
from pathlib import Path

import orjson

_ENV = re.compile(r"\{env:([^}]+)\}")
_FILE = re.compile(r"\{file:([^}]+)\}")


def substitute(text: str, base: Path) -> str:
    text = _ENV.sub(lambda m: _escape(os.environ.get(m.group(1), "")), text)

    def read(match: re.Match[str]) -> str:
        raw = match.group(1)
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute():
            path = base / path
        # Inserted into a JSON string, so the file's text is escaped like one.
        return _escape(path.read_text().strip())

    return _FILE.sub(read, text)


def _escape(value: str) -> str:
    return orjson.dumps(value).decode()[1:-1]
