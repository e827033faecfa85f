"""Stored provider credentials: `auth.json`, shared with OpenCode, readable by the user alone.

The file is OpenCode's own (`$XDG_DATA_HOME/opencode/auth.json`), so a key saved with
`opencode auth login` works here and one saved here works there. It is written atomically
with mode 0600, and its directory is created 0700.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import orjson

Json = dict[str, Any]

_lock = threading.Lock()


def path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "opencode" / "auth.json"


def load() -> dict[str, Json]:
    """Every stored credential by provider id; an unreadable or malformed file holds none."""
    try:
        data = orjson.loads(path().read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def get(provider_id: str) -> Json | None:
    return load().get(provider_id)


def key(provider_id: str) -> str | None:
    """The API key (or OAuth access token) stored for `provider_id`."""
    found = get(provider_id)
    if found is None:
        return None
    value = found.get("access") if found.get("type") == "oauth" else found.get("key")
    return value if isinstance(value, str) and value else None


def _save(data: dict[str, Json]) -> None:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".auth-", dir=target.parent)
    try:
        # mkstemp creates the file 0600: the keys are never readable by others, not even briefly.
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def set(provider_id: str, credential: Json) -> None:
    with _lock:
        data = load()
        data[provider_id] = credential
        _save(data)


def remove(provider_id: str) -> bool:
    """Forget `provider_id`'s credential; whether there was one."""
    with _lock:
        data = load()
        if data.pop(provider_id, None) is None:
            return False
        _save(data)
        return True
