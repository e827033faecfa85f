"""`pyopencode migrate`: copy an embedded SQLite database into PostgreSQL, verified by counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyopencode.store.migrate import sqlite_revision, upgrade_postgres
from pyopencode.store.url import libpq_url

COPY_TABLES = ("project", "session", "message", "part", "todo")
_COLUMNS = {
    "project": ("id", "worktree", "time_created", "time_updated", "data"),
    "session": (
        "id",
        "project_id",
        "parent_id",
        "directory",
        "path",
        "title",
        "time_created",
        "time_updated",
        "data",
    ),
    "message": ("id", "session_id", "time_created", "data"),
    "part": ("id", "message_id", "session_id", "data"),
    "todo": ("session_id", "position", "data"),
}
_KEYS = {"todo": ("session_id", "position")}


class CopyError(Exception):
    """The copy was refused or did not verify; nothing was written to the target."""


def sqlite_source(spec: str) -> Path:
    """`sqlite:PATH` (or a bare PATH) naming a data directory or its database file."""
    path = Path(spec.removeprefix("sqlite:").removeprefix("//")).expanduser()
    return path / "pyopencode.db" if path.is_dir() else path


def _source_query(table: str) -> str:
    cols = ", ".join(f"t.{c}" for c in _COLUMNS[table])
    if table == "session":
        # Parents before children: the target checks the parent foreign key on every row.
        return (
            "WITH RECURSIVE tree(id, depth) AS ("
            " SELECT id, 0 FROM session WHERE parent_id IS NULL"
            " UNION ALL SELECT s.id, tree.depth + 1 FROM session s JOIN tree"
            " ON s.parent_id = tree.id)"
            f" SELECT {cols} FROM tree JOIN session t ON t.id = tree.id ORDER BY tree.depth, t.id"
        )
    return f"SELECT {cols} FROM {table} t ORDER BY {', '.join(_KEYS.get(table, ('id',)))}"


def _upsert(table: str) -> str:
    cols = _COLUMNS[table]
    keys = _KEYS.get(table, ("id",))
    updates = ", ".join(f"{c}=excluded.{c}" for c in cols if c not in keys)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('%s' for _ in cols)})"
        f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )


def _overlap(table: str) -> str:
    """Counts the rows of a batch that the target already has (they are replaced, not added)."""
    if table == "todo":
        return (
            "SELECT count(*) FROM todo JOIN unnest(%s::text[], %s::int[]) AS k(s, p)"
            " ON todo.session_id = k.s AND todo.position = k.p"
        )
    return f"SELECT count(*) FROM {table} WHERE id = ANY(%s::text[])"


def copy_sqlite_to_postgres(
    source: Path,
    target_url: str,
    *,
    force: bool = False,
    batch_size: int = 1000,
    on_table: Callable[[str, int], None] = lambda _t, _n: None,
    on_rows: Callable[[str, int], None] = lambda _t, _n: None,
) -> dict[str, tuple[int, int]]:
    """Copy every row in one PostgreSQL transaction; returns {table: (source rows, target rows)}.

    Raises CopyError, with the target unchanged, when the target already has sessions (unless
    `force`, which replaces rows with the same key) or when the counts do not add up.
    """
    import psycopg

    from pyopencode.store.postgres import NulSafeStr

    if not source.is_file():
        raise CopyError(f"no SQLite database at {source}")
    revision = sqlite_revision(source)
    if revision is None:
        raise CopyError(f"{source} is not a pyopencode database (no schema revision)")
    upgrade_postgres(target_url)
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        # One read transaction: every table comes from the same snapshot.
        src.execute("BEGIN")
        totals = {
            t: int(src.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in COPY_TABLES
        }
        with psycopg.connect(libpq_url(target_url)) as dst, dst.transaction():
            dst.adapters.register_dumper(str, NulSafeStr)
            # Writers elsewhere wait until we commit, so the counts below are exact.
            dst.execute(f"LOCK TABLE {', '.join(COPY_TABLES)} IN SHARE ROW EXCLUSIVE MODE")
            before = {}
            for table in COPY_TABLES:
                row = dst.execute(f"SELECT count(*) FROM {table}").fetchone()
                before[table] = int(row[0]) if row else 0
            if before["session"] and not force:
                raise CopyError(
                    f"the target already has {before['session']} sessions;"
                    " pass --force to copy into it anyway (rows with the same id are replaced)"
                )
            replaced = dict.fromkeys(COPY_TABLES, 0)
            with dst.cursor() as cur:
                for table in COPY_TABLES:
                    on_table(table, totals[table])
                    rows = src.execute(_source_query(table))
                    while batch := rows.fetchmany(batch_size):
                        if table == "todo":
                            keys: tuple[Any, ...] = ([r[0] for r in batch], [r[1] for r in batch])
                        else:
                            keys = ([r[0] for r in batch],)
                        found = cur.execute(_overlap(table), keys).fetchone()
                        replaced[table] += int(found[0]) if found else 0
                        cur.executemany(_upsert(table), batch)
                        on_rows(table, len(batch))
            counts: dict[str, tuple[int, int]] = {}
            problems = []
            for table in COPY_TABLES:
                row = dst.execute(f"SELECT count(*) FROM {table}").fetchone()
                after = int(row[0]) if row else 0
                counts[table] = (totals[table], after)
                expected = before[table] + totals[table] - replaced[table]
                if after != expected:
                    problems.append(
                        f"{table}: source has {totals[table]}, target has {after},"
                        f" expected {expected}"
                    )
            if problems:
                raise CopyError(
                    "row counts do not match; nothing was copied: " + "; ".join(problems)
                )
        return counts
    finally:
        src.close()
