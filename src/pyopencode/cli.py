"""Command line: `pyopencode serve` (alias `server`) runs the server; `check`, `bench` test one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
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
from pyopencode.bench.agentcmd import add_arguments as add_agent_arguments
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


def _is_loopback(hostname: str) -> bool:
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        # A name counts as loopback only if every address it resolves to is one.
        infos = socket.getaddrinfo(hostname, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _check_cors(origins: list[str]) -> str | None:
    """Why these --cors origins are refused, or None if they are fine."""
    for origin in origins:
        if "*" in origin or origin.strip().lower() == "null":
            # Any page (or any sandboxed one, for "null") could then drive the server with the
            # user's credentials: upstream's CVE.
            return f"--cors {origin!r}: wildcards and 'null' are refused; name exact origins"
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
            return f"--cors {origin!r}: expected an origin like https://app.example.com"
    return None


def _check_limits(args: argparse.Namespace) -> str | None:
    """Why these numeric serve options are refused, or None if they are fine."""
    positive = {
        "--heartbeat": args.heartbeat,
        "--sse-queue": args.sse_queue,
        "--sse-queue-bytes": args.sse_queue_bytes,
        "--max-body-bytes": args.max_body_bytes,
        "--request-timeout": args.request_timeout,
    }
    for flag, value in positive.items():
        # `not value > 0` also refuses NaN.
        if not value > 0 or value == float("inf"):
            return f"{flag} must be a positive finite number, not {value}"
    for flag, value in {
        "--event-buffer": args.event_buffer,
        "--event-buffer-bytes": args.event_buffer_bytes,
    }.items():
        if value < 0:
            return f"{flag} must be 0 (no replay) or more, not {value}"
    return None


# Young objects in a request are mostly dicts that die by reference counting; at the default
# (700) the collector ran about 130 times a second under load for little it freed.
_GC_YOUNG_THRESHOLD = 10_000


_SWITCH_INTERVAL_S = 0.001


def _tune_gc() -> None:
    # What start-up built (modules, routes, schemas: most of the heap) lives as long as the
    # process. Frozen, full collections no longer walk it: each one had stalled every request
    # for 30-50 ms under load, which was most of the p99.
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, middle, old)


def serve(args: argparse.Namespace) -> int:
    from pyopencode.server.app import create_app
    from pyopencode.server.complete import CompleteResponses
    from pyopencode.server.limits import GuardedHttpTools
    from pyopencode.server.lockfile import DataDirInUse, DataDirLock
    from pyopencode.store.url import is_postgres_url

    password = os.environ.get("OPENCODE_SERVER_PASSWORD") or None
    username = os.environ.get("OPENCODE_SERVER_USERNAME") or "opencode"
    if password is None and not args.insecure_no_auth and not _is_loopback(args.hostname):
        # Upstream servers bound to 0.0.0.0 without a password were taken over (a cryptominer).
        print(
            f"pyopencode: refusing to listen on {args.hostname} without a password: anyone who"
            " can reach it could run commands as you. Set OPENCODE_SERVER_PASSWORD, bind"
            " 127.0.0.1, or pass --insecure-no-auth if something else guards it.",
            file=sys.stderr,
        )
        return 2
    cors_problem = _check_cors(args.cors or []) or _check_limits(args)
    if cors_problem:
        print(f"pyopencode: {cors_problem}", file=sys.stderr)
        return 2
    settings = Settings(
        data_dir=Path(args.data_dir).expanduser().resolve(),
        database_url=args.database or None,
        max_body_bytes=args.max_body_bytes,
        heartbeat_seconds=args.heartbeat,
        sse_queue_size=args.sse_queue,
        sse_queue_bytes=args.sse_queue_bytes,
        event_buffer_size=args.event_buffer,
        event_buffer_bytes=args.event_buffer_bytes,
        username=username,
        password=password,
        cors_origins=tuple(o.rstrip("/") for o in args.cors or ()),
        body_timeout_seconds=args.request_timeout,
        write_timeout_seconds=args.write_timeout,
        access_log=args.access_log,
        check_host=_is_loopback(args.hostname),
        allowed_hosts=tuple(args.allowed_host or ()),
        hot_routes=os.environ.get("PYOPENCODE_HOT_ROUTES", "1") != "0",
        hot_trace=os.environ.get("PYOPENCODE_HOT_TRACE", "0") == "1",
    )
    if args.access_log:
        logging.getLogger("pyopencode.access").setLevel(logging.INFO)
    GuardedHttpTools.header_timeout = args.request_timeout
    lock: DataDirLock | None = None
    if not is_postgres_url(settings.store_url):
        lock = DataDirLock(settings.data_dir)
        try:
            lock.acquire()
        except DataDirInUse as exc:
            print(f"pyopencode: refusing to start: {exc}", file=sys.stderr)
            return 1
    try:
        sock = _bind(args.hostname, args.port)
    except OSError as exc:
        print(f"pyopencode: cannot listen on {args.hostname}:{args.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    if lock is not None:
        lock.record(f"http://{shown}:{port}")
    app = create_app(settings)
    _tune_gc()
    # The event loop shares the GIL with the SQLite writer and the threads that read files
    # and rows; Python's default 5 ms turn let one of them hold up every stream that long.
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    config = uvicorn.Config(
        CompleteResponses(app),
        log_level=args.log_level,
        # Our own access log (server/accesslog.py) replaces uvicorn's, which logs query strings.
        access_log=False,
        http=GuardedHttpTools,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    server = _Server(config, app)
    # Printed before serving starts: scripts (and our tests) read the URL from here.
    print(f"pyopencode server listening on http://{shown}:{port}", flush=True)
    try:
        server.run(sockets=[sock])
    finally:
        if lock is not None:
            lock.release()
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


def bench(args: argparse.Namespace) -> int:
    from pyopencode.bench.command import run_bench

    # The driver's own collection pauses would read as server latency.
    _tune_gc()
    return run_bench(args)


def migrate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

    from pyopencode.store.copy import CopyError, copy_sqlite_to_postgres, sqlite_source
    from pyopencode.store.url import is_postgres_url

    if not is_postgres_url(args.to):
        print(
            f"pyopencode migrate: --to must be a postgresql:// URL, not {args.to!r}",
            file=sys.stderr,
        )
        return 2
    source = sqlite_source(args.source)
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
    ) as progress:

        def on_table(table: str, total: int) -> None:
            tasks[table] = progress.add_task(table, total=total)

        def on_rows(table: str, count: int) -> None:
            progress.advance(tasks[table], count)

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
            progress.stop()
            print(f"pyopencode migrate: {exc}", file=sys.stderr)
            return 1
    for table, (copied, total) in counts.items():
        print(f"{table:>8}: {copied} copied, {total} in the target")
    print("verified: row counts match")
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
    serve_cmd.add_argument(
        "--sse-queue",
        type=int,
        default=10_000,
        metavar="N",
        help="events queued per SSE subscriber; one that falls further behind is disconnected",
    )
    serve_cmd.add_argument(
        "--sse-queue-bytes",
        type=int,
        default=16 * 1024 * 1024,
        metavar="BYTES",
        help="the same per-subscriber cap in bytes of queued events (default 16 MiB); over it"
        " the subscriber gets server.resync and is disconnected",
    )
    serve_cmd.add_argument(
        "--event-buffer",
        type=int,
        default=1000,
        metavar="N",
        help="recent events kept so a reconnecting client can resume with Last-Event-ID",
    )
    serve_cmd.add_argument(
        "--event-buffer-bytes",
        type=int,
        default=32 * 1024 * 1024,
        metavar="BYTES",
        help="the same replay buffer capped in bytes of events (default 32 MiB); oldest go first",
    )
    serve_cmd.add_argument(
        "--allowed-host",
        action="append",
        metavar="NAME",
        help="also accept this Host header name when bound to loopback (repeatable; loopback"
        " names and addresses are always accepted)",
    )
    serve_cmd.add_argument(
        "--cors",
        action="append",
        metavar="ORIGIN",
        help="allow browser calls from this exact origin (repeatable; default: none)",
    )
    serve_cmd.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --hostname without OPENCODE_SERVER_PASSWORD",
    )
    serve_cmd.add_argument(
        "--request-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="time allowed for request headers, and again for a request body (408 after)",
    )
    serve_cmd.add_argument(
        "--write-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="a write not committed by then gets 503, its outcome unknown (a stalled disk)",
    )
    serve_cmd.add_argument("--log-level", default="warning")
    serve_cmd.add_argument(
        "--access-log", action="store_true", help="log every request (credentials never logged)"
    )
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

    bench_cmd = commands.add_parser(
        "bench", help="benchmark one OpenCode-compatible server, or two A/B (--vs)"
    )
    bench_cmd.add_argument(
        "url", nargs="?", help="base URL of server A, e.g. http://127.0.0.1:4096"
    )
    bench_cmd.add_argument(
        "--vs", metavar="URL2", help="base URL of server B, run alternately with A"
    )
    bench_cmd.add_argument("--label", default="A", help="name of server A in tables (default: A)")
    bench_cmd.add_argument("--label2", default="B", help="name of server B in tables (default: B)")
    bench_cmd.add_argument(
        "--ops", type=int, default=2000, help="requests per create/delete/get workload"
    )
    bench_cmd.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 8, 32, 64],
        help="worker counts for create/delete/get (default: 1 8 32 64)",
    )
    bench_cmd.add_argument(
        "--list-sizes",
        type=int,
        nargs="+",
        default=[1_000, 10_000, 100_000],
        metavar="N",
        help="seed each server up to N stored sessions, then time GET /session?limit=100"
        " (default: 1000 10000 100000)",
    )
    bench_cmd.add_argument(
        "--list-requests", type=int, default=200, help="requests per list workload (default: 200)"
    )
    bench_cmd.add_argument(
        "--list-concurrency",
        type=int,
        nargs="+",
        default=[1, 32],
        help="worker counts for the list workload (default: 1 32; the chart uses the lowest)",
    )
    bench_cmd.add_argument("--list-limit", type=int, default=100, help="limit= for GET /session")
    bench_cmd.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every workload (A, B alternating each round); tables show the median",
    )
    bench_cmd.add_argument(
        "--no-get", action="store_true", help="skip the GET /session/{id} workload"
    )
    bench_cmd.add_argument(
        "--out", type=Path, help="JSON results path (default: ./pyopencode-bench-DATE.json)"
    )
    bench_cmd.add_argument(
        "--chart", type=Path, help="PNG chart path (default: beside the JSON; needs [bench])"
    )
    bench_cmd.add_argument("--no-chart", action="store_true", help="do not draw the PNG chart")
    bench_cmd.add_argument(
        "--purge",
        action="store_true",
        help="only delete leftover bench sessions (title prefix) from the server(s), then exit",
    )
    bench_cmd.add_argument(
        "--pool",
        choices=["per-worker", "raw", "shared"],
        default="per-worker",
        help="client for timed requests: one httpx client per worker (default), a lean HTTP/1.1"
        " connection per worker (costs far less CPU, so fast servers are measured rather than"
        " the driver; the recorded results use it, but a Ctrl-C can leave the creates that were"
        " in flight behind), or one shared httpx client",
    )
    bench_cmd.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    add_agent_arguments(bench_cmd)
    bench_cmd.set_defaults(run=bench)
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
