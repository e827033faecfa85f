"""Storage faults get a clear, typed answer: a full disk 507 (deletes still work), a database
locked elsewhere 503 with Retry-After, a stalled write 503 "outcome unknown"; health answers
from memory throughout, and the log holds no traceback per failed request."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.serverproc import RunningServer

BLOB = "x" * (256 * 1024)


def _log(server: RunningServer) -> str:
    """Everything the server printed, once it has stopped."""
    assert server.proc is not None and server.proc.stdout is not None
    server.proc.terminate()
    server.proc.wait(timeout=30)
    return server.proc.stdout.read()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 12 MiB tmpfs, so the disk really fills up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_full_disk_answers_507_and_deletes_still_free_space(
    server_factory: Callable[..., RunningServer], small_disk: Path
) -> None:
    server = server_factory(data_dir=small_disk / "data")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        keep = [
            client.post("/session", json={"title": f"early {i}"}).json()["id"] for i in range(3)
        ]
        full: httpx.Response | None = None
        for i in range(200):
            answer = client.post("/session", json={"title": f"big {i}", "metadata": {"b": BLOB}})
            if answer.status_code != 200:
                full = answer
                break
        assert full is not None, "the disk never filled"
        assert full.status_code == 507, full.text
        assert full.json()["name"] == "StorageFullError"
        assert "storage full" in full.json()["data"]["message"]
        # More writes keep failing cleanly, each with a whole answer on the same connection.
        for _ in range(5):
            again = client.post("/session", json={"metadata": {"b": BLOB}})
            assert again.status_code == 507, again.text
        health = client.get("/global/health")
        assert health.status_code == 200 and health.headers["x-pyopencode-store"] == "full"
        # Deletes still commit: space can be freed through the API.
        for sid in keep:
            gone = client.delete(f"/session/{sid}")
            assert (gone.status_code, gone.text) == (200, "true")
            assert client.get(f"/session/{sid}").status_code == 404
        listed = {s["id"] for s in client.get("/session", params={"limit": 1000}).json()}
        assert not listed & set(keep)
    output = _log(server)
    # One warning per kind of fault, not a traceback per failed request.
    assert output.count("Traceback") <= 1, output[-3000:]


def _hold_write_lock(db: Path, seconds: float, held: threading.Event) -> None:
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def test_a_database_locked_elsewhere_answers_503_with_retry_after(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = server_factory(data_dir=tmp_path / "data")
    db = tmp_path / "data" / "pyopencode.db"
    assert db.is_file()
    with httpx.Client(base_url=server.url, timeout=60) as client:
        held = threading.Event()
        locker = threading.Thread(target=_hold_write_lock, args=(db, 13.0, held))
        locker.start()
        try:
            assert held.wait(10)
            started = time.monotonic()
            # Health answers from memory while every write waits for the lock.
            assert client.get("/global/health", timeout=1).status_code == 200
            refused = client.post("/session", json={"title": "while locked"})
            waited = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["name"] == "StorageUnavailableError"
            assert "locked by another process" in refused.json()["data"]["message"]
            assert waited < 12
            assert client.get("/global/health").headers["x-pyopencode-store"] == "unavailable"
        finally:
            locker.join()
        created = client.post("/session", json={"title": "after"})
        assert created.status_code == 200, created.text
        titles = [s["title"] for s in client.get("/session").json()]
        assert "after" in titles and "while locked" not in titles
        assert client.get("/global/health").headers["x-pyopencode-store"] == "ok"


def test_a_stalled_write_answers_503_outcome_unknown_and_the_answer_stays_true(
    server_factory: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = server_factory(data_dir=tmp_path / "data", extra_args=["--write-timeout", "1"])
    db = tmp_path / "data" / "pyopencode.db"
    with httpx.Client(base_url=server.url, timeout=60) as client:
        # The project is recorded on first use; after that a create is one write.
        assert client.post("/session", json={"title": "warm"}).status_code == 200
        held = threading.Event()
        locker = threading.Thread(target=_hold_write_lock, args=(db, 3.0, held))
        locker.start()
        try:
            assert held.wait(10)
            started = time.monotonic()
            stalled = client.post("/session", json={"title": "stalled"})
            assert time.monotonic() - started < 2.5
            assert stalled.status_code == 503, stalled.text
            message = stalled.json()["data"]["message"]
            assert "outcome is unknown" in message and "may still be applied" in message
        finally:
            locker.join()
        # The write was not cancelled, so once the disk moves again it lands, as promised.
        deadline = time.monotonic() + 15
        titles: list[str] = []
        while time.monotonic() < deadline:
            titles = [s["title"] for s in client.get("/session").json()]
            if "stalled" in titles:
                break
            time.sleep(0.1)
        assert "stalled" in titles
