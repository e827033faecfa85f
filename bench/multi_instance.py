"""Create/delete/list throughput of 1 vs 2 pyopencode instances sharing one PostgreSQL database."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

# Benchmark the checkout this script lives in, installed or not.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from pyopencode import bench  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
_URL = re.compile(r"listening on (http://\S+)")


@dataclass
class Instance:
    """One `pyopencode serve --database` process."""

    proc: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _drain(stream: Any) -> None:
    for _ in stream:
        pass


def start_instance(database: str, workdir: Path, data_dir: Path) -> Instance:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pyopencode",
            "serve",
            "--port",
            "0",
            "--hostname",
            "127.0.0.1",
            "--data-dir",
            str(data_dir),
            "--database",
            database,
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if match := _URL.search(line):
            # Keep draining output so a chatty server never blocks on a full pipe.
            threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
            return Instance(proc, match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("pyopencode did not start")


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def combine(name: str, instances: int, parts: list[bench.WorkloadResult]) -> dict[str, Any]:
    """One row for a workload that ran split over several instances at the same time."""
    requests = sum(p.requests for p in parts)
    errors = sum(p.errors for p in parts)
    elapsed = max(p.elapsed_s for p in parts)
    return {
        "instances": instances,
        "name": name,
        "concurrency": sum(p.concurrency for p in parts),
        "requests": requests,
        "errors": errors,
        "elapsed_s": elapsed,
        # Successful requests over the slowest part's wall time: a conservative aggregate.
        "throughput": (requests - errors) / elapsed if elapsed else 0.0,
        # Only per-instance percentiles exist, so the worse instance's is reported.
        "p50_ms": max(p.p50_ms for p in parts),
        "p99_ms": max(p.p99_ms for p in parts),
        # Each part measured the whole driver process over (nearly) the same window.
        "client_cpu": max(p.client_cpu * p.elapsed_s for p in parts) / elapsed if elapsed else 0,
        "samples": [s for p in parts for s in p.error_samples],
    }


async def run_config(
    urls: list[str], args: argparse.Namespace, tag: str, track: set[str]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    n = len(urls)
    for conc in args.concurrency:
        created = await asyncio.gather(
            *(
                bench.run_create(u, ops, c, tag=tag, track=track)
                for u, ops, c in zip(urls, split(args.ops, n), split(conc, n), strict=True)
            )
        )
        rows.append(combine("create", n, list(created)))
        # Each instance deletes what the other one created, so every delete crosses instances
        # when there are two.
        ids = [created[(i + 1) % n].ids for i in range(n)]
        deleted = await asyncio.gather(
            *(
                bench.run_delete(u, i, c, track=track)
                for u, i, c in zip(urls, ids, split(conc, n), strict=True)
            )
        )
        rows.append(combine("delete", n, list(deleted)))
        listed = await asyncio.gather(
            *(
                bench.run_list(u, r, c, args.list_limit, stored=args.sessions)
                for u, r, c in zip(urls, split(args.list_requests, n), split(conc, n), strict=True)
            )
        )
        rows.append(combine(f"list{args.list_limit}", n, list(listed)))
    return rows


def median_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[int, str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["instances"], r["name"], r["concurrency"]), []).append(r)
    out = []
    for runs in groups.values():
        ranked = sorted(runs, key=lambda r: r["throughput"])
        row = dict(ranked[(len(ranked) - 1) // 2])
        row["runs"] = len(runs)
        row["min"] = ranked[0]["throughput"]
        row["max"] = ranked[-1]["throughput"]
        row["errors_all"] = sum(r["errors"] for r in runs)
        out.append(row)
    return sorted(out, key=lambda r: (r["name"], r["concurrency"], r["instances"]))


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| instances | workload | conc | req/s (median) | req/s min-max | p50 ms | p99 ms "
        "| errors | client cpu |",
        "|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['instances']} | {r['name']} | {r['concurrency']} | {r['throughput']:,.0f} "
            f"| {r['min']:,.0f}-{r['max']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['errors_all']} | {r['client_cpu']:.0%} |"
        )
    by_key = {(r["name"], r["concurrency"], r["instances"]): r for r in rows}
    lines += ["", "| workload | conc | 2 instances / 1 instance |", "|---|--:|--:|"]
    for (name, conc, n), row in by_key.items():
        one = by_key.get((name, conc, 1))
        if n == 2 and one and one["throughput"]:
            lines.append(f"| {name} | {conc} | {row['throughput'] / one['throughput']:.2f}x |")
    return "\n".join(lines) + "\n"


def environment(database: str) -> dict[str, str]:
    with psycopg.connect(database) as conn:
        row = conn.execute("SELECT version()").fetchone()
        pg = str(row[0]).split(" on ")[0] if row else "?"
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN"
                " ('synchronous_commit', 'fsync', 'max_connections', 'shared_buffers')"
            ).fetchall()
        )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "?",
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "postgres": pg,
        "pg settings": ", ".join(f"{k}={v}" for k, v in sorted(settings.items())),
    }


async def main_async(args: argparse.Namespace) -> int:
    name = f"pyopencode_bench_{secrets.token_hex(4)}"
    base = args.admin_url.rpartition("/")[0]
    database = f"{base}/{name}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    tmp = Path(tempfile.mkdtemp(prefix="pyopencode-bench-"))
    workdir = tmp / "project"
    workdir.mkdir()
    instances: list[Instance] = []
    track: set[str] = set()
    tag = bench.new_run_tag()
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()
    try:
        env = environment(database)
        a = start_instance(database, workdir, tmp / "a")
        instances.append(a)
        await bench.seed(a.url, args.sessions, 16, tag=tag, progress=False)
        for round_no in range(args.repeat):
            for count in (1, 2):
                if count == 2:
                    instances.append(start_instance(database, workdir, tmp / "b"))
                urls = [i.url for i in instances]
                print(f"round {round_no + 1}/{args.repeat}: {count} instance(s)", flush=True)
                rows += await run_config(urls, args, tag, track)
                if count == 2:
                    # One instance really is one: B is gone, not idle, for the next 1-run.
                    instances.pop().stop()
        load_after = os.getloadavg()
    finally:
        for instance in instances:
            instance.stop()
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    table = markdown(median_rows(rows))
    errors = sum(r["errors"] for r in rows)
    report = [
        f"# Multi-instance bench, {env['date']}",
        "",
        "`python bench/multi_instance.py "
        + " ".join(sys.argv[1:])
        + "`: 1 vs 2 `pyopencode serve --database` processes on one PostgreSQL database, the"
        " load driver, both servers and PostgreSQL all on this one machine.",
        "",
        *(f"- {k}: {v}" for k, v in env.items()),
        f"- load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f}",
        f"- ops per create/delete workload: {args.ops}; list requests: {args.list_requests}"
        f" (limit={args.list_limit}) over {args.sessions} stored sessions; rounds: {args.repeat}"
        " (1 and 2 instances alternate within each round)",
        "",
        table,
    ]
    if errors:
        samples = [s for r in rows for s in r["samples"]][:5]
        report += ["", f"**{errors} errors**:", *(f"- `{s}`" for s in samples)]
    text = "\n".join(report) + "\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + (("\n" + args.notes.read() + "\n") if args.notes else ""))
        print(f"written to {out}")
    return 1 if errors else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--admin-url",
        default=os.environ.get(
            "PYOPENCODE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL database to connect to for creating (and dropping) the bench database",
    )
    p.add_argument("--ops", type=int, default=1000, help="requests per create/delete workload")
    p.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    p.add_argument("--list-requests", type=int, default=500)
    p.add_argument("--list-limit", type=int, default=100)
    p.add_argument("--sessions", type=int, default=1000, help="stored sessions while listing")
    p.add_argument("--repeat", type=int, default=3, help="rounds (odd, for a true median)")
    p.add_argument(
        "--out",
        default=str(RESULTS_DIR / f"multi-instance-{dt.date.today().isoformat()}.md"),
        help="markdown report path ('' to skip)",
    )
    p.add_argument("--notes", type=argparse.FileType(), help="markdown appended to the report")
    args = p.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
