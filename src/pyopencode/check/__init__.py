"""`pyopencode check URL`: consistency workloads against any OpenCode-compatible server."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pyopencode.check.history import Entry, History, RecordingClient
from pyopencode.check.verify import KINDS, Report, verify
from pyopencode.check.workloads import WORKLOADS

__all__ = ["WORKLOADS", "run_check"]

TITLE_PREFIX = "pyopencode-check"
# Violations printed in full per workload; the rest are counted (the history has them all).
SHOWN = 10
# Id summary lines; "ghost" ids are the bug report's: acknowledged deleted, still there.
ID_LINES = {
    "ghost": ("ghost", "residue", "double-ack"),
    "orphan": ("orphan",),
    "lost": ("lost", "lost-message", "no-ack"),
}


class _Unusable(Exception):
    """The server cannot be checked at all (unreachable, refuses us, or answers nonsense)."""


def run_check(
    url: str,
    *,
    workloads: Sequence[str] | None = None,
    rounds: int | None = None,
    sessions: int | None = None,
    concurrency: int | None = None,
    timeout: float = 30.0,
    history_path: str | Path | None = None,
    password: str | None = None,
    username: str | None = None,
    seed: int | None = None,
    console: Console | None = None,
) -> int:
    """Run the named workloads (default all) and print a verdict for each.

    Returns 0 when every workload passed, 1 on any violation, 2 when the server could not be
    checked, 130 when interrupted.
    """
    out = console or Console(soft_wrap=True, highlight=False)
    names = list(workloads or WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        out.print(f"unknown workload(s): {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
        return 2
    password = password or os.environ.get("OPENCODE_SERVER_PASSWORD") or None
    username = username or os.environ.get("OPENCODE_SERVER_USERNAME") or "opencode"
    run = _Run(
        url=url.rstrip("/"),
        names=names,
        sizes=(rounds, sessions, concurrency),
        timeout=timeout,
        auth=httpx.BasicAuth(username, password) if password else None,
        seed=random.randrange(1_000_000) if seed is None else seed,
        history_path=Path(history_path) if history_path else None,
        out=out,
    )
    try:
        return asyncio.run(run.main())
    except KeyboardInterrupt:
        out.print("[yellow]interrupted[/]")
        return 130


class _Run:
    """One invocation: preflight, the workloads with a verdict each, cleanup, history file."""

    def __init__(
        self,
        *,
        url: str,
        names: list[str],
        sizes: tuple[int | None, int | None, int | None],
        timeout: float,
        auth: httpx.Auth | None,
        seed: int,
        history_path: Path | None,
        out: Console,
    ) -> None:
        self.url, self.names, self.sizes, self.seed = url, names, sizes, seed
        self.timeout, self.auth, self.history_path, self.out = timeout, auth, history_path, out
        self.prefix = f"{TITLE_PREFIX}-{secrets.token_hex(4)}"
        self.history = History()

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, auth=self.auth, timeout=self.timeout)

    async def main(self) -> int:
        self.out.print(f"pyopencode check {self.url}  run {self.prefix}  seed {self.seed}")
        reports: list[Report] = []
        client: RecordingClient | None = None
        try:
            async with self._http() as http:
                client = RecordingClient(http, self.history, self.prefix)
                try:
                    await self._preflight(client)
                except _Unusable as exc:
                    self.out.print(f"[red]cannot check {escape(self.url)}[/]: {escape(str(exc))}")
                    return 2
                progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=self.out,
                    transient=True,
                    disable=not self.out.is_terminal,
                )
                with progress:
                    for name in self.names:
                        reports.append(await self._workload(client, name, progress))
                        await self._cleanup(client)
        except asyncio.CancelledError:
            self.out.print("[yellow]interrupted; deleting the sessions this run created[/]")
            raise
        finally:
            if client is not None:
                # A fresh connection pool: requests cancelled mid-flight may have spoilt the old.
                async with self._http() as http:
                    client.http = http
                    await self._cleanup(client, final=True)
            if self.history_path is not None:
                self.history.write_jsonl(self.history_path)
                self.out.print(
                    f"history: {len(self.history.entries)} requests -> {self.history_path}"
                )
        failed = [r.workload for r in reports if not r.ok]
        if failed:
            self.out.print(
                f"[red bold]FAIL[/]: {len(failed)} of {len(reports)} workloads: {', '.join(failed)}"
            )
            return 1
        self.out.print(f"[green bold]PASS[/]: all {len(reports)} workloads")
        return 0

    async def _preflight(self, client: RecordingClient) -> None:
        client.workload = "preflight"
        listed = await client.list()
        if listed.status == 401:
            raise _Unusable("401 Unauthorized: pass --password or set OPENCODE_SERVER_PASSWORD")
        if not listed.ok:
            raise _Unusable(_why(listed))
        created = await client.create(client.title("preflight"))
        if created.session is None:
            raise _Unusable(_why(created))
        version = created.body.get("version") if isinstance(created.body, dict) else None
        await client.delete(created.session)
        self.out.print(f"server reports version {version or 'unknown'}")

    async def _workload(self, client: RecordingClient, name: str, progress: Progress) -> Report:
        workload = WORKLOADS[name]
        options = workload.options(*self.sizes, seed=self.seed)
        task = progress.add_task(name, total=options.rounds)
        client.workload = name
        began = time.monotonic()
        try:
            await workload.run(client, options, lambda: progress.advance(task))
        finally:
            progress.remove_task(task)
        elapsed = time.monotonic() - began
        report = verify(self.history.of(name), name)
        self._print_report(report, elapsed, options.rounds, options.sessions, options.concurrency)
        return report

    def _print_report(
        self, report: Report, elapsed: float, rounds: int, sessions: int, concurrency: int
    ) -> None:
        verdict = "[green]PASS[/]" if report.ok else "[red]FAIL[/]"
        counts = report.by_kind()
        self.out.print(
            f"{report.workload:<19} {verdict}  {report.requests} requests, "
            f"{report.creates_acked} creates and {report.deletes_acked} deletes acknowledged, "
            f"{report.judged} observations judged, {sum(counts.values())} violations "
            f"({elapsed:.1f}s; rounds={rounds} sessions={sessions} concurrency={concurrency})"
        )
        if report.ok:
            return
        for kind, count in sorted(counts.items()):
            self.out.print(f"  {kind}: {count}  ({KINDS.get(kind, '')})")
        for label, kinds in ID_LINES.items():
            ids = report.ids(kinds)
            if ids:
                self.out.print(f"  {label} ids ({len(ids)}): {' '.join(ids)}")
        for v in report.violations[:SHOWN]:
            again = f" (and {v.repeats} more times)" if v.repeats else ""
            self.out.print(f"  [bold]{v.kind}[/]: {escape(v.message)}{again}")
            for entry in v.entries:
                self.out.print(f"      {escape(entry.describe())}")
        if len(report.violations) > SHOWN:
            more = len(report.violations) - SHOWN
            self.out.print(f"  ... {more} more violations; --history FILE records every request")

    async def _cleanup(self, client: RecordingClient, final: bool = False) -> None:
        """Delete what this run created and has no acknowledged delete for, then any ghost."""
        client.workload = "cleanup"
        parent: dict[str, str] = {}
        deleted: set[str] = set()
        for e in self.history.entries:
            if e.op == "create" and e.session and e.parent:
                parent[e.session] = e.parent
            elif e.op == "delete" and e.ok and e.session:
                deleted.add(e.session)

        def depth(sid: str) -> int:
            return 1 + depth(parent[sid]) if sid in parent else 0

        def removed(sid: str) -> bool:
            return sid in deleted or (sid in parent and removed(parent[sid]))

        attempts = 0
        # Roots first: one delete then takes its whole tree, and one at a time, because a
        # faulty server may drop concurrent deletes.
        for sid in sorted(client.owned, key=depth):
            if not removed(sid):
                attempts += 1
                if (await client.delete(sid)).ok:
                    deleted.add(sid)
        remaining: dict[str, str] = {}
        for sweep in range(4):
            listed = await client.list()
            if not listed.ok or listed.seen is None:
                break
            remaining = {s: t for s, t in listed.seen.items() if client.is_ours(t)}
            if not remaining or sweep == 3:
                break
            for sid, title in remaining.items():
                client.adopt(sid, title)
                attempts += 1
                await client.delete(sid)
        if final and attempts:
            self.out.print(f"cleanup: {attempts} delete requests for sessions this run left")
        if remaining:
            self.out.print(
                f"[yellow]cleanup: {len(remaining)} sessions of this run are still listed:[/] "
                + " ".join(sorted(remaining))
            )


def _why(entry: Entry) -> str:
    if entry.status is None:
        return f"{entry.method} {entry.path}: {entry.error}"
    return f"{entry.method} {entry.path} answered {entry.status}: {str(entry.body)[:200]}"
