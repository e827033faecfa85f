"""Writes configuration patches to the project's or the user's opencode.json(c), atomically."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from pyopencode.config.edit import EditError, merge_text
from pyopencode.config.loader import _global_dir, _read, merge
from pyopencode.errors import BadRequestError

Config = dict[str, Any]

_STR = (str,)
_OBJ = (dict,)
_LIST = (list,)
# The top-level keys of the reference's Config schema (it allows no others), with the JSON
# types each may take; nested shapes are left to the readers of each key.
KEYS: dict[str, tuple[type, ...]] = {
    "$schema": _STR,
    "shell": _STR,
    "logLevel": _STR,
    "server": _OBJ,
    "command": _OBJ,
    "skills": _OBJ,
    "references": _OBJ,
    "reference": _OBJ,
    "watcher": _OBJ,
    "snapshot": (bool,),
    "plugin": _LIST,
    "share": _STR,
    "autoshare": (bool,),
    "autoupdate": (bool, str),
    "disabled_providers": _LIST,
    "enabled_providers": _LIST,
    "model": _STR,
    "small_model": _STR,
    "default_agent": _STR,
    "subagent_depth": (int,),
    "username": _STR,
    "mode": _OBJ,
    "agent": _OBJ,
    "provider": _OBJ,
    "mcp": _OBJ,
    "formatter": (bool, dict),
    "lsp": (bool, dict),
    "instructions": _LIST,
    "layout": _STR,
    "permission": (str, dict),
    "tools": _OBJ,
    "attachment": _OBJ,
    "enterprise": _OBJ,
    "tool_output": _OBJ,
    "compaction": _OBJ,
    "experimental": _OBJ,
}
_ENUMS = {
    "share": {"manual", "auto", "disabled"},
    "logLevel": {"DEBUG", "INFO", "WARN", "ERROR"},
    "layout": {"auto", "stretch"},
}

_lock = threading.Lock()


def check(patch: Any) -> Config:
    """`patch` if it is a config object the reference allows, else BadRequestError."""
    if not isinstance(patch, dict):
        raise BadRequestError("The configuration must be a JSON object")
    for key, value in patch.items():
        allowed = KEYS.get(key)
        if allowed is None:
            raise BadRequestError(f"{key}: not a configuration key", field=key)
        if isinstance(value, bool) and bool not in allowed:
            raise BadRequestError(f"{key}: has the wrong type", field=key)
        if not isinstance(value, allowed):
            raise BadRequestError(f"{key}: has the wrong type", field=key)
        if key in _ENUMS and value not in _ENUMS[key]:
            raise BadRequestError(f"{key}: must be one of {sorted(_ENUMS[key])}", field=key)
    return patch


def project_file(directory: str) -> Path:
    """The project config file a patch goes to: the existing one, else a new opencode.json."""
    base = Path(directory)
    for candidate in (base / "opencode.jsonc", base / "opencode.json"):
        if candidate.is_file():
            return candidate
    return base / "opencode.json"


def global_file() -> Path:
    base = _global_dir()
    for name in ("opencode.jsonc", "opencode.json", "config.json"):
        if (base / name).is_file():
            return base / name
    return base / "opencode.json"


def read_global() -> Config:
    found: Config = {}
    base = _global_dir()
    for name in ("opencode.json", "opencode.jsonc", "config.json"):
        if (base / name).is_file():
            found = merge(found, _read(base / name))
    return found


def write(path: Path, patch: Config) -> None:
    """Merge `patch` into `path`, keeping its comments; the file is replaced atomically."""
    check(patch)
    with _lock:
        try:
            text = path.read_text()
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            text, mode = "", 0o644
        except OSError as exc:
            raise BadRequestError(f"Cannot read {path}: {exc.strerror}") from exc
        try:
            updated = merge_text(text, patch)
        except (EditError, ValueError) as exc:
            raise BadRequestError(f"Cannot update {path}: {exc}") from exc
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".opencode-", dir=path.parent)
            try:
                with os.fdopen(fd, "w") as out:
                    out.write(updated)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, mode)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise BadRequestError(f"Cannot write {path}: {exc.strerror}") from exc
