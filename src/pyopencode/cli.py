"""Command line: `pyopencode serve` (alias `server`) runs the HTTP server; `check` tests one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI

from pyopencode import __version__
from pyopencode.server.settings import Settings, default_data_dir

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """Closes event streams when asked to stop, so they do not hold shutdown open."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises SIGTERM after a graceful shutdown, which turns a clean stop into
        # exit status -15; a clean stop here exits 0.
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        # uvicorn wraps the app in its own middleware, so keep the app itself for its state.
        self.app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        state = getattr(self.app.state, "pyopencode", None)
        if state is not None:
            loop = asyncio.get_event_loop()
            loop.call_soon_threadsafe(state.bus.close_all)


def _bind(hostname: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in hostname else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((hostname, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(args: argparse.Namespace) -> int:
    from pyopencode.server.app import create_app

    settings = Settings(
        data_dir=Path(args.data_dir).expanduser().resolve(),
        database_url=args.database or None,
        max_body_bytes=args.max_body_bytes,
        heartbeat_seconds=args.heartbeat,
    )
    try:
        sock = _bind(args.hostname, args.port)
    except OSError as exc:
        print(f"pyopencode: cannot listen on {args.hostname}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    server = _Server(config, app)
    # Printed before serving starts: scripts (and our tests) read the URL from here.
    print(f"pyopencode server listening on http://{shown}:{port}", flush=True)
    server.run(sockets=[sock])
    return 0


def check(args: argparse.Namespace) -> int:
    from pyopencode.check import run_check

    return run_check(
        args.url,
        workloads=args.workload,
        rounds=args.rounds,
        sessions=args.sessions,
        concurrency=args.concurrency,
        timeout=args.timeout,
        history_path=args.history,
        password=args.password,
        seed=args.seed,
    )


def migrate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from pyopencode.store.migrate import CopyError, copy_sqlite_to_postgres, sqlite_source
    from pyopencode.store.postgres import is_postgres_url

    console = Console(stderr=True)
    if not is_postgres_url(args.to):
        console.print(f"pyopencode migrate: --to must be a postgresql:// URL, not {args.to!r}")
        return 2
    source = sqlite_source(args.source)
    tasks: dict[str, object] = {}
    with Progress(
        TextColumn("{task.description:>8}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:

        def on_table(table: str, total: int) -> None:
            tasks[table] = progress.add_task(table, total=total)

        def on_rows(table: str, count: int) -> None:
            progress.advance(tasks[table], count)  # type: ignore[arg-type]

        try:
            counts = copy_sqlite_to_postgres(
                source,
                args.to,
                force=args.force,
                batch_size=args.batch_size,
                on_table=on_table,
                on_rows=on_rows,
            )
        except CopyError as exc:
            console.print(f"pyopencode migrate: {exc}")
            return 1
    for table, (copied, total) in counts.items():
        console.print(f"{table:>8}: {copied} copied, {total} in the target")
    console.print("verified: row counts match")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyopencode", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pyopencode {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve", aliases=["server"], help="run the OpenCode-compatible HTTP server"
    )
    serve_cmd.add_argument("--port", type=int, default=4096, help="port (0 picks a free one)")
    serve_cmd.add_argument("--hostname", default="127.0.0.1", help="address to bind")
    serve_cmd.add_argument(
        "--data-dir",
        default=str(default_data_dir()),
        help="where the SQLite database lives (default: $XDG_DATA_HOME/pyopencode)",
    )
    serve_cmd.add_argument(
        "--database",
        default=os.environ.get("PYOPENCODE_DATABASE_URL"),
        metavar="URL",
        help="postgresql://... to share one PostgreSQL database between instances"
        " (default: $PYOPENCODE_DATABASE_URL, else SQLite in --data-dir)",
    )
    serve_cmd.add_argument(
        "--max-body-bytes", type=int, default=16 * 1024 * 1024, help="larger bodies get 413"
    )
    serve_cmd.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between SSE heartbeats"
    )
    serve_cmd.add_argument("--log-level", default="warning")
    serve_cmd.add_argument("--access-log", action="store_true", help="log every request")
    serve_cmd.set_defaults(run=serve)

    migrate_cmd = commands.add_parser(
        "migrate", help="copy an embedded SQLite data directory into PostgreSQL"
    )
    migrate_cmd.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="sqlite:PATH",
        help="the data directory (or its pyopencode.db) to copy from",
    )
    migrate_cmd.add_argument("--to", required=True, metavar="URL", help="postgresql://...")
    migrate_cmd.add_argument(
        "--force", action="store_true", help="copy even if the target already has sessions"
    )
    migrate_cmd.add_argument("--batch-size", type=int, default=1000, help="rows per INSERT batch")
    migrate_cmd.set_defaults(run=migrate)

    check_cmd = commands.add_parser(
        "check", help="run consistency workloads against a running OpenCode-compatible server"
    )
    check_cmd.add_argument("url", help="server base URL, e.g. http://127.0.0.1:4096")
    check_cmd.add_argument(
        "--workload", action="append", help="workload to run (repeatable; default: all)"
    )
    check_cmd.add_argument("--rounds", type=int, help="rounds (churn: operations) per workload")
    check_cmd.add_argument("--sessions", type=int, help="sessions per round")
    check_cmd.add_argument("--concurrency", type=int, help="requests in flight at once")
    check_cmd.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    check_cmd.add_argument("--seed", type=int, help="random seed for churn and readers")
    check_cmd.add_argument("--history", metavar="FILE", help="write every request as JSON Lines")
    check_cmd.add_argument(
        "--password", help="HTTP Basic password (default: $OPENCODE_SERVER_PASSWORD)"
    )
    check_cmd.set_defaults(run=check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
