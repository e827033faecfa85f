"""`.gitignore` rules (root, nested and `.git/info/exclude`) as pathspec matchers."""

from __future__ import annotations

import os
from functools import lru_cache

import pathspec


@lru_cache(maxsize=256)
def _spec(path: str, mtime_ns: int) -> pathspec.GitIgnoreSpec:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return pathspec.GitIgnoreSpec.from_lines(fh.read().splitlines())


def _load(path: str) -> pathspec.GitIgnoreSpec | None:
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError:
        return None
    return _spec(path, mtime)


class IgnoreRules:
    """Which paths under `root` git would ignore, by the ignore files on the way to them."""

    def __init__(self, root: str) -> None:
        self.root = os.path.normpath(root)

    def _specs_for(self, rel_dir: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        """(prefix, spec) pairs for every ignore file that applies inside `rel_dir`."""
        found: list[tuple[str, pathspec.GitIgnoreSpec]] = []
        exclude = _load(os.path.join(self.root, ".git", "info", "exclude"))
        if exclude is not None:
            found.append(("", exclude))
        parts = [p for p in rel_dir.split("/") if p]
        for depth in range(len(parts) + 1):
            prefix = "/".join(parts[:depth])
            spec = _load(os.path.join(self.root, prefix, ".gitignore"))
            if spec is not None:
                found.append((prefix + "/" if prefix else "", spec))
        return found

    def ignored_names(self, rel_dir: str, entries: list[tuple[str, bool]]) -> set[str]:
        """Names in `rel_dir` (name, is_dir) that are ignored, themselves or via a parent."""
        specs = self._specs_for(rel_dir)
        if not specs:
            return set()
        base = rel_dir.strip("/")
        parents = [p for p in base.split("/") if p]
        ignored: set[str] = set()
        # A parent directory that is ignored ignores everything below it.
        for depth in range(1, len(parents) + 1):
            parent = "/".join(parents[:depth]) + "/"
            if self._match(specs, parent):
                return {name for name, _ in entries}
        for name, is_dir in entries:
            rel = f"{base}/{name}" if base else name
            if self._match(specs, rel + "/" if is_dir else rel):
                ignored.add(name)
        return ignored

    @staticmethod
    def _match(specs: list[tuple[str, pathspec.GitIgnoreSpec]], rel: str) -> bool:
        result = False
        for prefix, spec in specs:
            if prefix and not rel.startswith(prefix):
                continue
            # Later (deeper) files override earlier ones, negations included.
            outcome = spec.check_file(rel[len(prefix) :])
            if outcome.include is not None:
                result = outcome.include
        return result
