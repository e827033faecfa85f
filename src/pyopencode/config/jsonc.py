"""JSON with comments and trailing commas, as opencode.jsonc allows."""

from __future__ import annotations

import re
from typing import Any

import orjson

_COMMENTS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING = re.compile(r'"(?:\\.|[^"\\])*"|,(?=\s*[}\]])')


def _keep_strings(match: re.Match[str]) -> str:
    token = match.group(0)
    return token if token.startswith('"') else ""


def loads(text: str) -> Any:
    # Two passes: a trailing comma may be followed by a comment before its bracket.
    text = _COMMENTS.sub(_keep_strings, text)
    return orjson.loads(_TRAILING.sub(_keep_strings, text))
