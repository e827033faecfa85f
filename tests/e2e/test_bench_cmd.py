"""`pyopencode bench URL --vs URL2` as a subprocess against two real servers, tiny sizes."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from tests.serverproc import RunningServer

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BENCH_PREFIX = "pyopencode-bench"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCODE_SERVER_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


def _bench_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pyopencode", "bench", *args]


def _bench_sessions(url: str) -> list[str]:
    resp = httpx.get(f"{url}/session", params={"limit": 1_000_000})
    assert resp.status_code == 200
    return [s["id"] for s in resp.json() if str(s.get("title", "")).startswith(BENCH_PREFIX)]


def test_bench_vs_two_servers(server_factory: Callable[..., RunningServer], tmp_path: Path) -> None:
    a, b = server_factory(), server_factory()
    # A session the benchmark did not create must survive it.
    keep = httpx.post(f"{a.url}/session", json={"title": "not a bench session"}).json()["id"]
    out = tmp_path / "res" / "bench.json"
    proc = subprocess.run(
        _bench_cmd(
            a.url,
            "--vs",
            b.url,
            "--label",
            "one",
            "--label2",
            "two",
            "--ops",
            "50",
            "--concurrency",
            "4",
            "--list-sizes",
            "100",
            "200",
            "--list-requests",
            "30",
            "--list-concurrency",
            "1",
            "4",
            "--out",
            str(out),
        ),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "smaller stores than the default" in proc.stdout

    report = orjson.loads(out.read_bytes())
    summary = report["summary"]
    for label in ("one", "two"):
        names = {(r["name"], r["params"].get("size")) for r in summary if r["label"] == label}
        assert names == {
            ("create", None),
            ("delete", None),
            ("get", None),
            ("list100", 100),
            ("list100", 200),
        }
    for r in report["results"]:
        assert r["errors"] == 0, r["error_samples"]
        assert r["throughput"] > 0, r
        assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] and r["max_ms"] >= r["p99_ms"]
    ratios = {(r["name"], r["concurrency"], r["size"]) for r in report["ratios"]}
    assert ratios == {
        ("create", 4, None),
        ("delete", 4, None),
        ("get", 4, None),
        ("list100", 1, 100),
        ("list100", 4, 100),
        ("list100", 1, 200),
        ("list100", 4, 200),
    }
    assert all(r["a_over_b"] > 0 for r in report["ratios"])
    lat = report["list_latency"]
    assert {(r["label"], r["size"], r["concurrency"]) for r in lat} == {
        (label, size, c) for label in ("one", "two") for size in (100, 200) for c in (1, 4)
    }
    # A already held one foreign session, so seeding to 100 stored only created 99 there.
    stored = {s["label"]: s["stored_sessions"] for s in report["servers"]}
    assert stored == {"one": {"100": 100, "200": 200}, "two": {"100": 100, "200": 200}}

    markdown = out.with_suffix(".md").read_text()
    assert "| one | list100 @200 | 1 |" in markdown
    assert "## Ratios" in markdown
    assert "list sizes 100 200 instead of the default" in markdown

    # Nothing the benchmark created is left, and what it did not create is untouched.
    assert _bench_sessions(a.url) == []
    assert _bench_sessions(b.url) == []
    assert httpx.get(f"{a.url}/session/{keep}").status_code == 200

    chart = out.with_suffix(".png")
    if importlib.util.find_spec("matplotlib") is None:
        assert "pip install 'pyopencode[bench]'" in proc.stdout
        assert not chart.exists()
        pytest.skip("matplotlib is not installed (pip install 'pyopencode[bench]'): no chart")
    assert chart.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_bench_interrupted_cleans_up(
    server_factory: Callable[..., RunningServer], tmp_path: Path, sig: signal.Signals
) -> None:
    a, b = server_factory(), server_factory()
    keep = httpx.post(f"{b.url}/session", json={"title": "not a bench session"}).json()["id"]
    out = tmp_path / "bench.json"
    proc = subprocess.Popen(
        [
            *_bench_cmd(a.url, "--vs", b.url, "--ops", "20", "--concurrency", "4"),
            *("--list-sizes", "100000", "--out", str(out), "--no-chart"),
        ],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "seed to" in line:
            break
    # Let it create some seed sessions (and have requests in flight), then interrupt.
    deadline = time.monotonic() + 20
    while len(_bench_sessions(a.url)) < 50 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(sig)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert _bench_sessions(a.url) == []
    assert _bench_sessions(b.url) == []
    assert httpx.get(f"{b.url}/session/{keep}").status_code == 200
    # The partial results are still written.
    assert {r["name"] for r in orjson.loads(out.read_bytes())["results"]} >= {"create", "delete"}


def test_chart_without_matplotlib_is_skipped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pyopencode.bench.command import write_chart

    # A None entry makes `import matplotlib` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    chart = tmp_path / "chart.png"
    assert write_chart({"servers": [], "summary": [], "ratios": []}, chart) is False
    assert "pip install 'pyopencode[bench]'" in capsys.readouterr().out
    assert not chart.exists()
