"""`pyopencode bench --workload agent` against two real servers, tiny sizes, correctness only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from tests.serverproc import RunningServer

ROOT = Path(__file__).resolve().parents[2]
CHUNKS = 20
ROUNDS = 2
CONCURRENCY = (1, 3)
SUBSCRIBERS, FANOUT_SESSIONS = 10, 2


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_SERVER_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def _bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyopencode", "bench", "--workload", "agent", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=_env(),
        cwd=cwd,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_agent_bench_two_servers(tmp_path: Path) -> None:
    project = tmp_path / "project"
    port = _free_port()
    wrote = _bench("--write-config", str(project), "--model-port", str(port), cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    config = json.loads((project / "opencode.json").read_text())
    provider = config["provider"]["bench"]
    assert provider["options"]["baseURL"] == f"http://127.0.0.1:{port}/v1"
    assert config["model"] == "bench/instant"

    servers = [RunningServer(data_dir=tmp_path / f"data{i}", cwd=project).start() for i in range(2)]
    try:
        a, b = servers
        assert a.proc is not None and b.proc is not None
        out = tmp_path / "res" / "agent.json"
        args = ["--model-port", str(port), "--agent-chunks", str(CHUNKS)]
        args += ["--agent-concurrency", *map(str, CONCURRENCY), "--agent-rounds", str(ROUNDS)]
        args += ["--fanout-subscribers", str(SUBSCRIBERS)]
        args += ["--fanout-sessions", str(FANOUT_SESSIONS), "--out", str(out)]
        args += ["--pid", str(a.proc.pid), "--vs-pid", str(b.proc.pid)]
        args += ["--label", "one", "--label2", "two"]
        proc = _bench(a.url, "--vs", b.url, *args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

        report = orjson.loads(out.read_bytes())
        rows = report["results"]
        assert [(r["label"], r["concurrency"]) for r in rows] == [
            (label, c) for c in CONCURRENCY for label in ("one", "two")
        ]
        for r in rows:
            assert r["errors"] == 0 and not r["event_stream_ended"], r["error_samples"]
            assert r["prompts"] == r["concurrency"] * ROUNDS
            # Every stamped chunk the model wrote came back out of /event exactly once.
            assert r["chunks_seen"] == r["chunks_expected"] == r["prompts"] * CHUNKS, r
            assert 0 <= r["chunk_p50_ms"] <= r["chunk_p99_ms"] <= r["chunk_max_ms"]
            assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
            assert r["cpu_per_prompt_s"] is not None and r["cpu_per_prompt_s"] > 0
            assert r["rss_peak_mb"] is not None and r["rss_peak_mb"] > 10
        fanouts = report["fanout"]
        assert [f["label"] for f in fanouts] == ["one", "two"]
        for f in fanouts:
            assert f["errors"] == f["subscriber_errors"] == 0, f["error_samples"]
            # Every subscriber got every stamped chunk, however the server grouped them.
            assert f["chunks_max"] == f["chunks_expected"] == FANOUT_SESSIONS * CHUNKS, f
            assert f["subscribers_short"] == f["chunks_dropped"] == 0, f
            assert f["chunks_delivered"] == SUBSCRIBERS * FANOUT_SESSIONS * CHUNKS, f
            assert f["events_delivered"] >= SUBSCRIBERS * FANOUT_SESSIONS
            assert f["lag_samples"] > 0
        assert "| sessions | prompts/s one/two |" in out.with_suffix(".md").read_text()

        # The tool calls really ran: one file per prompt, holding the prompt that asked for it.
        written = sorted((project / "bench-out").rglob("*.txt"))
        warm_up = 2  # one untimed turn per server
        prompts = sum(r["prompts"] for r in rows) + FANOUT_SESSIONS * 2 + warm_up
        assert len(written) == prompts
        # The model server's own count, reported by its process as it stops.
        assert f"model server answered {prompts} tool calls, {prompts} answers" in proc.stdout
        for path in written:
            assert path.read_text() == f"written for: {_prompt_for(path, project)}\n"

        # Every bench session was deleted afterwards, on both servers.
        for server in servers:
            listed = httpx.get(f"{server.url}/session", params={"limit": 10_000}).json()
            assert [s["title"] for s in listed if "pyopencode-bench" in s["title"]] == []
    finally:
        for server in servers:
            server.stop()


def _prompt_for(path: Path, project: Path) -> str:
    tag = path.parent.name
    session_id, turn = path.stem.rsplit("-", 1)
    assert session_id.startswith("ses_") and turn.isdigit(), path
    relative = path.relative_to(project)
    assert relative.parts[:2] == ("bench-out", tag)
    return f"pyopencode bench {tag}: write file {relative.as_posix()}"


def test_agent_bench_refuses_a_server_without_the_bench_model(tmp_path: Path) -> None:
    (tmp_path / "bare").mkdir()
    server = RunningServer(data_dir=tmp_path / "data", cwd=tmp_path / "bare").start()
    try:
        proc = _bench(server.url, "--model-port", str(_free_port()), "--no-fanout", cwd=tmp_path)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "no 'bench' provider" in proc.stdout
        listed = httpx.get(f"{server.url}/session").json()
        assert listed == []
    finally:
        server.stop()
