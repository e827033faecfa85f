"""Starts the real `pyopencode serve` process for end-to-end tests and stops it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import httpx

_URL = re.compile(r"listening on (http://\S+)")


@dataclass
class RunningServer:
    """A live server process on a data directory that outlives restarts."""

    data_dir: Path
    cwd: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    proc: subprocess.Popen[str] | None = None
    output: deque[str] = field(default_factory=lambda: deque(maxlen=2000))

    def start(self, timeout: float = 30.0) -> RunningServer:
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyopencode",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
                *self.extra_args,
            ],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            match = _URL.search(line)
            if match:
                self.url = match.group(1)
                break
        if not self.url:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r}")
        # Keep draining output so a chatty server never blocks on a full pipe; the newest
        # lines are kept for tests that read what the server logged.
        import threading

        stdout = self.proc.stdout
        threading.Thread(target=lambda: self.output.extend(stdout), daemon=True).start()
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/global/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("server never became healthy")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Stop the process with `sig` and return its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> RunningServer:
        self.url = ""
        return self.start()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "pyopencode.db"
