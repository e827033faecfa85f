"""Writes configuration patches to the project's or the user's opencode.json(c), atomically."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from pyopencode.config.edit import EditError, merge_text
from pyopencode.config.loader import _global_dir, _read, merge
from pyopencode.errors import BadRequestError

Config = dict[str, Any]

# The reference's `Config` schema, with the shapes it references: a patch must fit it, down to
# nested keys, so nothing written is a file the clients (or we) cannot read back.
SCHEMA = Path(__file__).with_name("config.schema.json")


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA.read_text()))


_lock = threading.Lock()


def check(patch: Any) -> Config:
    """`patch` if it is a config object the reference allows, else BadRequestError."""
    if not isinstance(patch, dict):
        raise BadRequestError("The configuration must be a JSON object")
    error = best_match(_validator().iter_errors(patch))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        field = str(error.absolute_path[0]) if error.absolute_path else None
        raise BadRequestError(f"{where or 'config'}: {error.message[:300]}", field=field)
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
