"""Config patches, stored credentials, client logs and git init, through a real server."""

from __future__ import annotations

import json
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.fakes import FakeProvider, Reply
from tests.schema import reference
from tests.serverproc import RunningServer
from tests.tui.conftest import LoggedServer

JSONC = """{
  // the model everyone uses
  "model": "a/one", /* inline */
  "agent": {
    "build": {"temperature": 0.1} // warm
  },
}
"""


def _valid(template: str, method: str, status: int, body: Any) -> None:
    assert reference().response_problems(template, method, status, body) == [], body


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """XDG directories of the server's user, so no real config or auth.json is touched."""
    env = {}
    for name in ("CONFIG", "DATA", "STATE"):
        path = tmp_path / f"xdg-{name.lower()}"
        path.mkdir()
        env[f"XDG_{name}_HOME"] = str(path)
    return env


@pytest.fixture
def started(
    server_factory: Callable[..., RunningServer], home: dict[str, str]
) -> Iterator[RunningServer]:
    yield server_factory(env=home)


@pytest.fixture(scope="module")
def shared_started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server, in its own XDG home, for the bad-patch cases: each case rewrites the file it
    checks, and a refused patch changes nothing, so the cases need no server each."""
    base = tmp_path_factory.mktemp("config")
    env = {}
    for name in ("CONFIG", "DATA", "STATE"):
        path = base / f"xdg-{name.lower()}"
        path.mkdir()
        env[f"XDG_{name}_HOME"] = str(path)
    (base / "work").mkdir()
    server = RunningServer(data_dir=base / "data", cwd=base / "work", env=env).start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.stop()


def test_patch_config_keeps_jsonc_comments(started: RunningServer) -> None:
    path = started.cwd / "opencode.jsonc"
    path.write_text(JSONC)
    c = httpx.Client(base_url=started.url, timeout=10)
    patch = {"model": "a/two", "agent": {"build": {"steps": 3}, "plan": {"temperature": 0.5}}}
    r = c.patch("/config", json=patch)
    assert r.status_code == 200, r.text
    _valid("/config", "patch", 200, r.json())
    text = path.read_text()
    for kept in ("// the model everyone uses", "/* inline */", "// warm"):
        assert kept in text
    got = c.get("/config").json()
    assert got["model"] == "a/two"
    assert got["agent"]["build"] == {"temperature": 0.1, "steps": 3}
    assert got["agent"]["plan"] == {"temperature": 0.5}
    assert not (started.cwd / "opencode.json").exists()


def test_patch_config_creates_opencode_json(started: RunningServer) -> None:
    c = httpx.Client(base_url=started.url, timeout=10)
    r = c.patch("/config", json={"username": "ada"})
    assert r.status_code == 200, r.text
    assert json.loads((started.cwd / "opencode.json").read_text()) == {"username": "ada"}
    assert c.get("/config").json()["username"] == "ada"


@pytest.mark.parametrize(
    "body",
    [{"nope": 1}, {"model": 5}, {"share": "sometimes"}, [1], {"agent": "x"}, {"snapshot": 1}],
)
def test_bad_config_patch_changes_nothing(shared_started: RunningServer, body: Any) -> None:
    path = shared_started.cwd / "opencode.jsonc"
    path.write_text(JSONC)
    c = httpx.Client(base_url=shared_started.url, timeout=10)
    r = c.patch("/config", json=body)
    assert r.status_code == 400, r.text
    _valid("/config", "patch", 400, r.json())
    assert path.read_text() == JSONC
    malformed = c.patch("/config", content=b"{", headers={"content-type": "application/json"})
    assert malformed.status_code == 400
    assert path.read_text() == JSONC


def test_global_config(started: RunningServer, home: dict[str, str]) -> None:
    c = httpx.Client(base_url=started.url, timeout=10)
    assert c.get("/global/config").json() == {}
    r = c.patch("/global/config", json={"username": "grace", "share": "manual"})
    assert r.status_code == 200, r.text
    _valid("/global/config", "patch", 200, r.json())
    written = Path(home["XDG_CONFIG_HOME"]) / "opencode" / "opencode.json"
    assert json.loads(written.read_text()) == {"username": "grace", "share": "manual"}
    got = c.get("/global/config")
    _valid("/global/config", "get", 200, got.json())
    assert got.json() == {"username": "grace", "share": "manual"}
    # The project sees the user's config beneath its own.
    assert c.get("/config").json()["username"] == "grace"
    assert c.patch("/global/config", json={"username": 7}).status_code == 400
    assert json.loads(written.read_text())["username"] == "grace"


def test_auth_keys_are_stored_private_and_used(
    server_factory: Callable[..., RunningServer], home: dict[str, str], tmp_path: Path
) -> None:
    fake = FakeProvider("openai").start()
    try:
        project = tmp_path / "work0"
        project.mkdir()
        spec = {
            "npm": "@ai-sdk/openai-compatible",
            "options": {"baseURL": fake.url + "/v1"},
            "models": {"m1": {}},
        }
        (project / "opencode.json").write_text(
            json.dumps({"provider": {"fake": spec}, "model": "fake/m1"})
        )
        server = server_factory(env={**home, "OPENAI_API_KEY": ""})
        c = httpx.Client(base_url=server.url, timeout=30)
        r = c.put("/auth/fake", json={"type": "api", "key": "sk-stored-key"})
        assert r.status_code == 200 and r.json() is True
        _valid("/auth/{providerID}", "put", 200, r.json())
        stored = Path(home["XDG_DATA_HOME"]) / "opencode" / "auth.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert json.loads(stored.read_text()) == {"fake": {"type": "api", "key": "sk-stored-key"}}

        fake.script = [Reply(text="hello")]
        sid = c.post("/session", json={}).json()["id"]
        answer = c.post(f"/session/{sid}/message", json={"parts": [{"type": "text", "text": "hi"}]})
        assert answer.status_code == 200, answer.text
        assert fake.headers[-1]["authorization"] == "Bearer sk-stored-key"

        assert c.put("/auth/fake", json={"type": "api"}).status_code == 400
        assert c.put("/auth/fake", json={"type": "magic", "key": "k"}).status_code == 400
        assert json.loads(stored.read_text())["fake"]["key"] == "sk-stored-key"

        removed = c.delete("/auth/fake")
        assert removed.status_code == 200 and removed.json() is True
        assert json.loads(stored.read_text()) == {}
    finally:
        fake.stop()


def test_log_reaches_the_server_output(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    server = LoggedServer(tmp_path / "work", tmp_path / "data", tmp_path / "server.log").start()
    c = httpx.Client(base_url=server.url, timeout=10)
    entry = {"service": "probe", "level": "warn", "message": "line one\nforged", "extra": {"a": 1}}
    r = c.post("/log", json=entry)
    assert r.status_code == 200 and r.json() is True
    _valid("/log", "post", 200, r.json())
    bad = c.post("/log", json={"service": "probe", "level": "loud", "message": "m"})
    assert bad.status_code == 400
    _valid("/log", "post", 400, bad.json())
    deadline = time.monotonic() + 10
    while "service=probe" not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()
    lines = [line for line in server.log_path.read_text().splitlines() if "service=probe" in line]
    assert len(lines) == 1, lines
    assert "WARNING pyopencode.client service=probe line one\\nforged {" in lines[0]


def test_git_init(started: RunningServer, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    c = httpx.Client(base_url=started.url, timeout=10)
    r = c.post("/project/git/init", params={"directory": str(plain)})
    assert r.status_code == 200, r.text
    _valid("/project/git/init", "post", 200, r.json())
    assert r.json()["vcs"] == "git" and r.json()["worktree"] == str(plain)
    assert (plain / ".git").is_dir()
    head = subprocess.run(
        ["git", "rev-parse", "--git-dir"], cwd=plain, capture_output=True, text=True, check=True
    )
    assert head.stdout.strip() == ".git"
    again = c.post("/project/git/init", params={"directory": str(plain)})
    assert again.status_code == 200
    missing = c.post("/project/git/init", params={"directory": str(tmp_path / "nope")})
    assert missing.status_code == 400
    _valid("/project/git/init", "post", 400, missing.json())
