"""Command line: `pyopencode serve` (alias `server`) runs the HTTP server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import uvicorn

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

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        app = self.config.loaded_app
        state = getattr(getattr(app, "state", None), "pyopencode", None)
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
    config = uvicorn.Config(
        create_app(settings),
        log_level=args.log_level,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
        lifespan="on",
    )
    server = _Server(config)
    # Printed before serving starts: scripts (and our tests) read the URL from here.
    print(f"pyopencode server listening on http://{shown}:{port}", flush=True)
    server.run(sockets=[sock])
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
        "--max-body-bytes", type=int, default=16 * 1024 * 1024, help="larger bodies get 413"
    )
    serve_cmd.add_argument(
        "--heartbeat", type=float, default=10.0, help="seconds between SSE heartbeats"
    )
    serve_cmd.add_argument("--log-level", default="warning")
    serve_cmd.add_argument("--access-log", action="store_true", help="log every request")
    serve_cmd.set_defaults(run=serve)
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
