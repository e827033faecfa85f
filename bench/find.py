"""`find.text` and `find.files` latency on a generated 20,000-file git tree: pyopencode vs
upstream OpenCode 1.18.33, side by side, rounds alternating between the two servers."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results" / "find-vs-1.18.33.md"
UPSTREAM = Path.home() / "upstream-opencode/node_modules/opencode-linux-x64/bin/opencode"
_URL = re.compile(r"listening on (http://\S+)")
WORDS = ["alpha", "beta", "gamma", "delta", "render", "parse", "client", "server", "widget"]
QUERIES = [
    ("find.text", "/find", {"pattern": "needle_[0-9]+"}),
    ("find.text", "/find", {"pattern": "unmatched_token_zz"}),
    ("find.files", "/find/file", {"query": "widget"}),
    ("find.files", "/find/file", {"query": "rendpars"}),
]


def generate(root: Path, files: int) -> None:
    """`files` small source files in a two-level tree, a few needles, an ignored build dir."""
    per_dir = 100
    for i in range(files):
        d = root / f"pkg{i // (per_dir * 20)}" / f"mod{(i // per_dir) % 20}"
        d.mkdir(parents=True, exist_ok=True)
        word = WORDS[i % len(WORDS)]
        body = "".join(f"def {word}_{i}_{n}(x):\n    return x + {n}\n" for n in range(10))
        if i % 997 == 0:
            body += f"# needle_{i}\n"
        (d / f"{word}_{WORDS[(i * 7) % len(WORDS)]}_{i}.py").write_text(body)
    (root / "build").mkdir()
    for i in range(200):
        (root / "build" / f"gen{i}.js").write_text("needle_0 widget\n")
    (root / ".gitignore").write_text("build/\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "tree"],
        cwd=root,
        check=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = _URL.search(line)
        if match:
            return proc, match.group(1)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"{argv[0]} did not start")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def rg_version(env: dict[str, str]) -> str:
    rg = shutil.which("rg", path=env["PATH"]) or "rg"
    return subprocess.run([rg, "--version"], capture_output=True, text=True).stdout.split("\n")[0]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=10, help="per query per round")
    args = parser.parse_args()
    if not UPSTREAM.exists():
        raise SystemExit(
            f"missing {UPSTREAM}: npm install --prefix ~/upstream-opencode opencode-ai@1.18.33"
        )
    scratch = Path(tempfile.mkdtemp(prefix="pyopencode-find-bench-"))
    tree = scratch / "tree"
    tree.mkdir()
    generate(tree, args.files)
    scripts = sysconfig.get_path("scripts")
    env = {**os.environ, "PATH": f"{scripts}:{os.environ.get('PATH', '')}"}
    home = scratch / "home"
    up_env = {**env, "HOME": str(home)}
    for var, sub in (
        ("XDG_DATA_HOME", "d"),
        ("XDG_CONFIG_HOME", "c"),
        ("XDG_CACHE_HOME", "ca"),
        ("XDG_STATE_HOME", "s"),
    ):
        up_env[var] = str(home / sub)
    load_before = load()
    servers = {
        "pyopencode": start(
            [
                sys.executable,
                "-m",
                "pyopencode",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(scratch / "data"),
            ],
            tree,
            env,
        ),
        "opencode 1.18.33": start(
            [str(UPSTREAM), "serve", "--port", str(free_port())], tree, up_env
        ),
    }
    times: dict[tuple[str, str], list[float]] = {}
    answers: dict[tuple[str, str], int] = {}
    try:
        with httpx.Client(timeout=60) as client:
            for _, url in servers.values():  # warm-up: first calls build caches
                for _, path, params in QUERIES:
                    client.get(url + path, params={**params, "directory": str(tree)})
            for rnd in range(args.rounds):
                names = list(servers) if rnd % 2 == 0 else list(reversed(servers))
                for name in names:
                    url = servers[name][1]
                    for op, path, params in QUERIES:
                        for _ in range(args.requests):
                            t0 = time.perf_counter()
                            r = client.get(url + path, params={**params, "directory": str(tree)})
                            elapsed = (time.perf_counter() - t0) * 1000
                            assert r.status_code == 200, (name, path, r.text[:200])
                            key = (name, f"{op} {next(iter(params.values()))}")
                            times.setdefault(key, []).append(elapsed)
                            answers[key] = len(r.json())
    finally:
        for proc, _ in servers.values():
            stop(proc)
    load_after = load()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    lines = [
        "# find.text and find.files: pyopencode vs OpenCode 1.18.33",
        "",
        f"`python bench/find.py --files {args.files} --rounds {args.rounds} "
        f"--requests {args.requests}`: one generated git tree of {args.files} Python files "
        "(plus 200 `.gitignore`d ones), both servers on this machine, sequential requests, "
        "server order alternating each round, after one warm-up request per query.",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- commit: {commit}",
        f"- machine: {platform.platform()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}",
        f"- ripgrep: {rg_version(env)}",
        f"- load before: `{load_before}`",
        f"- load after: `{load_after}`",
        "- the machine is shared with other engineers' test runs; figures are noisy",
        "",
        "| query | server | results | p50 ms | p99 ms | mean ms | n |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for (name, query), values in sorted(times.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(
            f"| `{query}` | {name} | {answers[(name, query)]} | {pct(values, 0.5):.1f} | "
            f"{pct(values, 0.99):.1f} | {statistics.mean(values):.1f} | {len(values)} |"
        )
    text = "\n".join(lines) + "\n"
    RESULTS.write_text(text)
    print(text)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
