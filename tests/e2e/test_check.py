"""`pyopencode check` as a real subprocess against faulty and real servers, and its checker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from pyopencode.check.history import Entry, History
from pyopencode.check.verify import verify
from tests.serverproc import RunningServer

ROOT = Path(__file__).resolve().parents[2]
_URL = re.compile(r"listening on (http://\S+)")
PREFIX = "pyopencode-check"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_SERVER_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def check(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyopencode", "check", url, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _check_sessions(url: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{url}/session", params={"limit": 10_000, "search": PREFIX})
    assert response.status_code == 200
    return [s for s in response.json() if s["title"].startswith(PREFIX)]


@pytest.fixture
def faulty_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.faulty_server"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = _URL.search(line)
    try:
        assert match, f"faulty server did not start: {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(10)


def test_faulty_server_fails_and_names_the_ghosts(faulty_server: str) -> None:
    result = check(
        faulty_server, "--workload", "concurrent-delete", "--workload", "double-delete",
        "--rounds", "10",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    dropped = httpx.get(f"{faulty_server}/faulty/dropped").json()
    assert dropped, "the faulty server never dropped a delete; the test proves nothing"
    ghost_lines = [line for line in result.stdout.splitlines() if "ghost ids" in line]
    assert ghost_lines, result.stdout
    for session_id in dropped:
        assert session_id in "".join(ghost_lines), f"{session_id} not reported"
    assert re.search(r"concurrent-delete\s+FAIL", result.stdout)
    # The server answers `true` to both deletes of one id: exactly one may succeed.
    assert re.search(r"double-delete\s+FAIL", result.stdout)
    assert "double-ack" in result.stdout
    # The ghosts were this run's, so cleanup removed them (one delete at a time).
    assert _check_sessions(faulty_server) == []


def test_real_server_passes_every_workload(server: RunningServer) -> None:
    result = check(server.url)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("concurrent-delete", "churn", "cascade", "double-delete", "read-during-delete"):
        assert re.search(rf"{name}\s+PASS", result.stdout), result.stdout
    assert _check_sessions(server.url) == []


def test_history_is_valid_jsonl(server: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    result = check(server.url, "--workload", "cascade", "--rounds", "3", "--history", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert [r["seq"] for r in rows] == list(range(len(rows)))
    for row in rows:
        assert {"workload", "op", "method", "path", "start", "end"} <= row.keys()
        assert row["start"] <= row["end"]
        assert isinstance(row.get("status"), int) or row.get("error")
    ops = {r["op"] for r in rows if r["workload"] == "cascade"}
    assert ops == {"create", "prompt", "children", "messages", "delete", "get", "list"}
    created = {r["session"] for r in rows if r["op"] == "create" and "session" in r}
    assert {r["session"] for r in rows if r["op"] == "delete"} <= created
    # The file alone is enough to judge the run again.
    entries = History.read_jsonl(path)
    assert verify([e for e in entries if e.workload == "cascade"]).ok


def test_check_never_deletes_a_session_it_did_not_create(server: RunningServer) -> None:
    titles = ["someone else's session", f"{PREFIX}-deadbeef an older run's session"]
    foreign = [httpx.post(f"{server.url}/session", json={"title": t}).json()["id"] for t in titles]
    child = httpx.post(
        f"{server.url}/session", json={"title": "a foreign child", "parentID": foreign[0]}
    ).json()["id"]
    result = check(
        server.url, "--workload", "concurrent-delete", "--workload", "cascade", "--rounds", "3"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for session_id in [*foreign, child]:
        assert httpx.get(f"{server.url}/session/{session_id}").status_code == 200


def test_ctrl_c_cleans_up(server: RunningServer) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyopencode", "check", server.url, "--workload", "churn",
         "--rounds", "1000000", "--sessions", "30"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(_check_sessions(server.url)) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _check_sessions(server.url), "check never created a session"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert _check_sessions(server.url) == []


# ---- the checker alone, on hand-made histories -------------------------------------------------


class Script:
    """Builds a history by hand: each call is one request with an explicit time window."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []

    def add(self, op: str, start: float, end: float, status: int | None, **kw: Any) -> Entry:
        method = {"create": "POST", "delete": "DELETE", "patch": "PATCH", "prompt": "POST"}
        entry = Entry(
            len(self.entries), "w", op, method.get(op, "GET"), f"/{op}", start, end, status, **kw
        )
        self.entries.append(entry)
        return entry

    def create(self, sid: str, start: float, end: float, parent: str | None = None) -> None:
        self.add("create", start, end, 200, session=sid, parent=parent, request={"title": sid})

    def listed(self, start: float, end: float, *sids: str, count: int | None = None) -> None:
        seen = {s: s for s in sids}
        self.add("list", start, end, 200, seen=seen, count=len(seen) if count is None else count,
                 limit=10_000)  # fmt: skip

    def kinds(self) -> list[tuple[str, str | None]]:
        return sorted((v.kind, v.session) for v in verify(self.entries).violations)


def test_verify_flags_a_list_after_an_acked_delete() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("delete", 2, 3, 200, session="ses_a")
    h.listed(4, 5, "ses_a")
    assert h.kinds() == [("ghost", "ses_a")]


def test_verify_accepts_reads_that_overlap_the_delete() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("delete", 2, 6, 200, session="ses_a")
    h.listed(3, 4, "ses_a")  # before the delete answered: may still show it
    h.listed(2.5, 7)  # overlapping and already gone: fine
    h.add("get", 5, 8, 200, session="ses_a", seen={"ses_a": "ses_a"})  # began before the answer
    h.listed(7, 8)
    h.add("get", 9, 10, 404, session="ses_a")
    assert h.kinds() == []


def test_verify_flags_server_errors_and_transport_errors() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("get", 2, 3, 500, session="ses_a")
    h.add("list", 4, 5, None, error="ReadTimeout")
    assert h.kinds() == [("server-error", "ses_a"), ("transport-error", None)]


def test_verify_flags_two_acked_deletes_of_one_id() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("delete", 2, 3, 200, session="ses_a")
    h.add("delete", 2.1, 3.1, 200, session="ses_a")
    assert h.kinds() == [("double-ack", "ses_a")]


def test_verify_accepts_one_acked_and_one_404_delete() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("delete", 2, 3.5, 404, session="ses_a")  # answered first, still legitimate
    h.add("delete", 2.1, 4, 200, session="ses_a")
    h.listed(5, 6)
    assert h.kinds() == []


def test_verify_flags_two_404_deletes_of_a_live_session() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("delete", 2, 3, 404, session="ses_a")
    h.add("delete", 2, 3, 404, session="ses_a")
    assert h.kinds() == [("no-ack", "ses_a")]


def test_verify_flags_a_lost_session_but_not_in_a_truncated_list() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.create("ses_b", 0, 1)
    h.listed(2, 3, "ses_b")
    h.listed(2, 3, count=10_000)  # exactly `limit` items: may be cut short, absence unproven
    h.listed(0.5, 3)  # began before the create answered
    assert h.kinds() == [("lost", "ses_a")]


def test_verify_follows_the_cascade_to_descendants() -> None:
    h = Script()
    h.create("ses_p", 0, 1)
    h.create("ses_c", 1, 2, parent="ses_p")
    h.add("delete", 3, 4, 200, session="ses_p")
    h.add("messages", 5, 6, 200, session="ses_c", messages=[])  # empty is allowed
    h.add("messages", 5, 6, 404, session="ses_c")
    h.add("get", 5, 6, 200, session="ses_c", seen={"ses_c": "ses_c"})
    h.add("messages", 7, 8, 200, session="ses_p", messages=["msg_1"])
    assert h.kinds() == [("orphan", "ses_c"), ("residue", "ses_p")]


def test_verify_accepts_a_refused_child_of_a_deleted_parent() -> None:
    h = Script()
    h.create("ses_p", 0, 1)
    h.add("delete", 2, 4, 200, session="ses_p")
    h.add("create", 3, 5, 400, parent="ses_p", request={"title": "late"})
    h.add("create", 6, 7, 404, parent="ses_p", request={"title": "later"})
    assert h.kinds() == []
    h.add("create", 0.5, 1.5, 404, parent="ses_p", request={"title": "too early"})
    assert h.kinds() == []  # began before the parent's create answered
    h.add("create", 1.5, 1.8, 400, parent="ses_p", request={"title": "wrongly refused"})
    assert h.kinds() == [("lost", "ses_p")]


def test_verify_flags_a_stale_title_but_not_a_concurrent_one() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("patch", 2, 3, 200, session="ses_a", request={"title": "new"})
    h.add("patch", 2, 9, 200, session="ses_a", request={"title": "slow"})
    h.add("get", 4, 5, 200, session="ses_a", seen={"ses_a": "slow"})  # concurrent write: fine
    h.add("get", 4, 5, 200, session="ses_a", seen={"ses_a": "ses_a"})  # older than "new"
    assert h.kinds() == [("stale-read", "ses_a")]


def test_verify_flags_a_lost_message() -> None:
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("prompt", 2, 3, 200, session="ses_a", messages=["msg_1"])
    h.add("messages", 2.5, 3.5, 200, session="ses_a", messages=[])  # overlapping: fine
    h.add("messages", 4, 5, 200, session="ses_a", messages=[])
    assert h.kinds() == [("lost-message", "ses_a")]


def test_history_round_trips_through_jsonl(tmp_path: Path) -> None:
    history = History()
    h = Script()
    h.create("ses_a", 0, 1)
    h.add("list", 2, 3, None, error="ConnectError: refused", params={"limit": 10_000})
    history.entries = h.entries
    history.write_jsonl(tmp_path / "h.jsonl")
    assert History.read_jsonl(tmp_path / "h.jsonl") == h.entries
