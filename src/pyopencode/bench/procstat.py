"""CPU time and resident memory of a server process and its children, read from /proc."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its closing one.
    return raw[raw.rindex(")") + 2 :].split()


def _tree(pid: int) -> list[int]:
    """`pid` and its live descendants (upstream runs helpers as child processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid`, its live descendants and their reaped children."""
    root = _stat(pid)
    if root is None:
        return None
    # Fields after the name: utime, stime, cutime, cstime are 12..15 (0-based from state).
    total = sum(int(x) for x in root[11:15])
    for child in _tree(pid)[1:]:
        fields = _stat(child)
        if fields is not None:
            # Its reaped children too: a helper process that spawns commands for the server
            # (pyopencode's spawner) holds their time, which the server would hold itself.
            total += sum(int(x) for x in fields[11:15])
    return total / _TICK


def rss_mb(pid: int) -> float | None:
    """Resident memory of `pid` and its live descendants, in MiB."""
    total = 0
    seen = False
    for member in _tree(pid):
        try:
            pages = int(Path(f"/proc/{member}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        seen = True
        total += pages * _PAGE
    return total / (1024 * 1024) if seen else None
