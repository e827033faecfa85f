"""Fixtures for the terminal UI tests: the upstream `opencode` binary, a logged server, tmux."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.agent.fakes import FakeProvider
from tests.jssdk import unavailable

UI_VERSION = "1.18.33"
WIDTH, HEIGHT = 160, 50
CAPTURES = Path(__file__).resolve().parents[2] / "docs" / "tui"
_UPSTREAM = Path.home() / "upstream-opencode" / "node_modules"
_URL = re.compile(r"listening on (http://\S+)")
_ACCESS = re.compile(r"pyopencode\.access (\w+) (\S+) (\d{3}) ")

# A provider that is configured but never called: the home screen then shows a model instead
# of the "Connect a provider" dialog. Nothing here prompts, so the key is never sent anywhere.
PROJECT_CONFIG = {
    "provider": {
        "openai": {
            "name": "OpenAI",
            "options": {"apiKey": "sk-not-a-real-key"},
            "models": {"gpt-4o-mini": {"name": "GPT-4o mini"}},
        }
    },
    "model": "openai/gpt-4o-mini",
}


def _version(binary: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _candidates() -> Iterator[Path]:
    yield _UPSTREAM / "opencode-linux-x64" / "bin" / "opencode"
    yield _UPSTREAM / ".bin" / "opencode"
    found = shutil.which("opencode")
    if found:
        yield Path(found)


@pytest.fixture(scope="session")
def opencode_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official UI at the version we target; installed once from npm if not present."""
    if shutil.which("tmux") is None:
        unavailable("tmux is not installed (apt-get install -y tmux)")
    for candidate in _candidates():
        if candidate.is_file() and _version(candidate) == UI_VERSION:
            return candidate
    npm = shutil.which("npm")
    if npm is None:
        unavailable(f"opencode {UI_VERSION} not found and npm is not installed to fetch it")
    prefix = tmp_path_factory.mktemp("opencode-npm")
    try:
        subprocess.run(
            [npm, "install", "--prefix", str(prefix), f"opencode-ai@{UI_VERSION}"],
            capture_output=True,
            timeout=300,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        unavailable(f"opencode {UI_VERSION} not found and `npm install` failed: {exc}")
    binary = prefix / "node_modules" / ".bin" / "opencode"
    if not binary.exists() or _version(binary) != UI_VERSION:
        unavailable(f"npm installed no usable opencode {UI_VERSION} at {binary}")
    return binary


@dataclass
class LoggedServer:
    """`pyopencode serve --access-log`, its output kept in a file so tests can read requests."""

    workdir: Path
    data_dir: Path
    log_path: Path
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> LoggedServer:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyopencode",
                "serve",
                "--port",
                "0",
                "--access-log",
                "--data-dir",
                str(self.data_dir),
            ],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.url:
            match = _URL.search(self.log_path.read_text(errors="replace"))
            if match:
                self.url = match.group(1)
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if not self.url:
            raise RuntimeError(f"server did not start: {self.log_path.read_text()[-2000:]}")
        return self

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path with query, status) of every request answered so far."""
        text = self.log_path.read_text(errors="replace")
        return [(m[1], m[2], int(m[3])) for m in _ACCESS.finditer(text)]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Tui:
    """One `opencode attach` running in a private tmux server; read and typed through tmux."""

    socket: str  # a private server: the user's own tmux sessions are never touched
    session: str = "ui"
    captures: list[tuple[str, str]] = field(default_factory=list)

    def tmux(self, *args: str) -> str:
        out = subprocess.run(
            ["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=10
        )
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def press(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, key)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def wait_for(self, check: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        """Poll the screen until `check` holds; fail with the last screen after `timeout`."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen:\n{screen}")

    def wait_text(self, text: str, timeout: float = 30.0) -> str:
        return self.wait_for(lambda s: text in s, repr(text), timeout)

    def capture(self, name: str) -> str:
        """Remember the current screen under `name` (written to docs/tui/ on request)."""
        screen = self.screen()
        self.captures.append((name, screen))
        return screen


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A git repository on branch `main` with an opencode.json, as a user's project would be."""
    work = tmp_path / "project"
    work.mkdir()
    (work / "opencode.json").write_text(json.dumps(PROJECT_CONFIG))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=work, check=True)
    subprocess.run([*git, "add", "."], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=work, check=True)
    return work


@pytest.fixture
def logged_server(tmp_path: Path, workdir: Path) -> Iterator[LoggedServer]:
    server = LoggedServer(workdir, tmp_path / "data", tmp_path / "server.log").start()
    yield server
    server.stop()


@pytest.fixture
def fake_model() -> Iterator[FakeProvider]:
    """A scripted OpenAI-compatible model on localhost (tests/agent/fakes.py)."""
    fake = FakeProvider("openai").start()
    yield fake
    fake.stop()


def fake_model_config(fake: FakeProvider) -> dict[str, object]:
    """opencode.json for a project whose only model is `fake`, with `bash` asking first."""
    provider = {
        "name": "Fake",
        "npm": "@ai-sdk/openai-compatible",
        "options": {"baseURL": fake.url + "/v1", "apiKey": "sk-fake"},
        "models": {"m1": {"name": "Fake Model"}},
    }
    return {"provider": {"fake": provider}, "model": "fake/m1", "permission": {"bash": "ask"}}


@pytest.fixture
def agent_server(tmp_path: Path, workdir: Path, fake_model: FakeProvider) -> Iterator[LoggedServer]:
    """`pyopencode serve` in a project configured to use the fake model."""
    (workdir / "opencode.json").write_text(json.dumps(fake_model_config(fake_model)))
    server = LoggedServer(workdir, tmp_path / "data", tmp_path / "server.log").start()
    yield server
    server.stop()


@pytest.fixture
def attach(
    tmp_path: Path, workdir: Path, opencode_binary: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Tui]]:
    """Start the UI against a URL, with its own HOME and XDG dirs so no real config is touched."""
    started: list[Tui] = []

    def start(url: str) -> Tui:
        scratch = tmp_path / "ui-home"
        env = {"HOME": str(scratch)}
        for name in ("CONFIG", "DATA", "STATE", "CACHE"):
            env[f"XDG_{name}_HOME"] = str(scratch / name.lower())
        for path in env.values():
            Path(path).mkdir(parents=True, exist_ok=True)
        env["OPENCODE_DISABLE_AUTOUPDATE"] = "1"
        assigns = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = (
            f"cd {shlex.quote(str(workdir))} && env {assigns} TERM=xterm-256color "
            f"{shlex.quote(str(opencode_binary))} attach {shlex.quote(url)}; "
            'echo "[opencode exited: $?]"; sleep 600'
        )
        tui = Tui(socket=str(tmp_path / f"tmux-{len(started)}.sock"))
        tui.tmux(
            "-f", "/dev/null", "new-session", "-d", "-s", tui.session,
            "-x", str(WIDTH), "-y", str(HEIGHT), command,
        )  # fmt: skip
        started.append(tui)
        return tui

    yield start
    for tui in started:
        if os.environ.get("PYOPENCODE_SAVE_TUI_CAPTURES") == "1":
            CAPTURES.mkdir(parents=True, exist_ok=True)
            for name, screen in tui.captures:
                lines = [line.rstrip() for line in screen.splitlines()]
                (CAPTURES / f"{name}.txt").write_text("\n".join(lines).rstrip("\n") + "\n")
        tui.tmux("kill-server")


def api(server: LoggedServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10)
