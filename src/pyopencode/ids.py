"""OpenCode-format identifiers: `<prefix>_` + 12 hex digits of time + 14 random base-62 chars."""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Literal

Prefix = Literal["ses", "msg", "prt", "per", "que", "evt", "usr", "wrk", "tool", "pty"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_LENGTH = 14
_MASK48 = (1 << 48) - 1

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def _monotonic_stamp(now_ms: int | None) -> int:
    # Same scheme as upstream: milliseconds * 4096 plus a per-millisecond counter, so ids made
    # in one process sort in creation order even within a single millisecond.
    global _last_ms, _counter
    with _lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        if ms != _last_ms:
            _last_ms = ms
            _counter = 0
        _counter += 1
        return (ms * 0x1000 + _counter) & _MASK48


# Ids name things; they are not secrets (access control is the server password), so a fast
# generator seeded once from the OS is enough, and the 12 hex digits of time keep them unique.
_random = random.Random(os.urandom(32))


choice = _random.choice


def _random_suffix() -> str:
    return "".join(_random.choices(_BASE62, k=_RANDOM_LENGTH))


def ascending(prefix: Prefix, now_ms: int | None = None) -> str:
    """An id that sorts after every id made before it."""
    return f"{prefix}_{_monotonic_stamp(now_ms):012x}{_random_suffix()}"


def descending(prefix: Prefix, now_ms: int | None = None) -> str:
    """An id that sorts before every id made before it (sessions: newest first)."""
    return f"{prefix}_{(~_monotonic_stamp(now_ms)) & _MASK48:012x}{_random_suffix()}"


def has_prefix(identifier: str, prefix: Prefix) -> bool:
    return identifier.startswith(prefix)
