"""Benchmark one OpenCode-compatible server, or two interleaved (A then B per workload)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.markdown import Markdown

# Benchmark the checkout this script lives in, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pyopencode import bench

RESULTS_DIR = Path(__file__).resolve().parent / "results"
console = Console()


@dataclass
class Target:
    """One server under test and the bench sessions it currently holds."""

    label: str
    url: str
    live: set[str] = field(default_factory=set)
    seeding: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url", help="base URL of server A, e.g. http://127.0.0.1:4096")
    p.add_argument("--vs", metavar="URL2", help="base URL of server B, run interleaved with A")
    p.add_argument("--label", default="A", help="name of server A in tables (default: A)")
    p.add_argument("--label2", default="B", help="name of server B in tables (default: B)")
    p.add_argument(
        "--sessions",
        type=int,
        default=10_000,
        help="seed each server up to this many stored sessions before the list/get workloads",
    )
    p.add_argument("--ops", type=int, default=2000, help="requests per create/delete/get workload")
    p.add_argument(
        "--concurrency", type=int, nargs="+", default=[32, 64], help="worker counts to test"
    )
    p.add_argument(
        "--list-requests", type=int, default=500, help="requests per GET /session workload"
    )
    p.add_argument("--list-limit", type=int, default=100, help="limit= for GET /session")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every workload (A, B alternating each round); tables show the median",
    )
    p.add_argument("--no-get", action="store_true", help="skip the GET /session/{id} workload")
    p.add_argument("--out", type=Path, help="JSON output path (default: bench/results/DATE.json)")
    p.add_argument(
        "--purge",
        action="store_true",
        help="only delete leftover bench sessions (title prefix) from the server(s), then exit",
    )
    p.add_argument(
        "--pool",
        choices=bench.POOLS,
        default="per-worker",
        help="httpx pooling: one 1-connection client per worker (default) or one shared client",
    )
    p.add_argument("--no-uvloop", action="store_true", help="use the default asyncio loop")
    args = p.parse_args(argv)
    if min(args.ops, args.list_requests, args.repeat, *args.concurrency) < 1:
        p.error("--ops, --list-requests, --repeat and --concurrency must be positive")
    if args.vs and args.label == args.label2:
        p.error("--label and --label2 must differ")
    return args


def machine_info(loop_name: str, pool: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "httpx": httpx.__version__,
        "event_loop": loop_name,
        "pool": pool,
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


async def server_info(t: Target) -> dict[str, Any]:
    """Health/version (best effort) and the stored session count before the run."""
    info: dict[str, Any] = {"url": t.url, "label": t.label}
    async with httpx.AsyncClient(base_url=t.url, timeout=bench.TIMEOUT) as client:
        try:
            resp = await client.get("/global/health")
            if resp.is_success:
                info["health"] = resp.json()
        except (httpx.HTTPError, ValueError):
            pass
    info["sessions_before"] = await bench.count_sessions(t.url)
    return info


def record(
    results: list[dict[str, Any]], t: Target, result: bench.WorkloadResult, rnd: int
) -> None:
    result.params["round"] = rnd
    results.append(result.to_dict())
    style = "red" if result.errors else "green"
    console.print(
        f"  [{style}]{t.label:>10}[/] {result.name:<7} c={result.concurrency:<3}"
        f" {result.throughput:9,.1f} req/s  p50 {result.p50_ms:7.2f}  p99 {result.p99_ms:7.2f} ms"
        f"  cpu {result.client_cpu:4.0%}  err {result.errors}",
        soft_wrap=True,
    )
    for sample in result.error_samples:
        console.print(f"    [red]{sample}[/]", markup=False, highlight=False)


async def run_all(
    args: argparse.Namespace, targets: list[Target], results: list[dict[str, Any]]
) -> None:
    """Run every workload, A then B each time, appending to `results` as they finish."""
    tag = bench.new_run_tag()
    top = max(args.concurrency)
    task = asyncio.current_task()
    if task is not None and hasattr(signal, "SIGTERM"):
        # Treat SIGTERM like Ctrl-C: cancel the run so the `finally` cleanup still happens.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    console.print(f"run tag [bold]{tag}[/] (session titles start with '{bench.TITLE_PREFIX}')")
    try:
        for t in targets:
            t.info = await server_info(t)

        for rnd in range(args.repeat):
            console.rule(f"create, round {rnd + 1}/{args.repeat}")
            created: dict[tuple[str, int], list[str]] = {}
            for c in args.concurrency:
                for t in targets:
                    r = await bench.run_create(
                        t.url, args.ops, c, label=t.label, tag=tag, pool=args.pool, track=t.live
                    )
                    created[(t.label, c)] = r.ids
                    record(results, t, r, rnd)

            console.rule(f"delete the sessions just created, round {rnd + 1}/{args.repeat}")
            for c in args.concurrency:
                for t in targets:
                    r = await bench.run_delete(
                        t.url, created[(t.label, c)], c, label=t.label, pool=args.pool, track=t.live
                    )
                    record(results, t, r, rnd)

        console.rule(f"seed to {args.sessions:,} stored sessions")
        get_ids: dict[str, list[str]] = {}
        for t in targets:
            have = await bench.count_sessions(t.url)
            need = max(0, args.sessions - have)
            s = await bench.seed(
                t.url, need, top, label=t.label, tag=tag, pool=args.pool, track=t.live
            )
            t.seeding.append(s.to_dict())
            t.info["stored_sessions"] = await bench.count_sessions(t.url)
            console.print(
                f"  {t.label}: had {have:,}, seeded {len(s.ids):,} ({s.throughput:,.1f}/s,"
                f" {s.errors} errors), now {t.info['stored_sessions']:,}"
            )
            get_ids[t.label] = s.ids[: args.ops] or [
                x["id"] for x in (await bench.list_all(t.url))[: args.ops]
            ]

        for rnd in range(args.repeat):
            console.rule(f"GET /session?limit={args.list_limit}, round {rnd + 1}/{args.repeat}")
            for c in args.concurrency:
                for t in targets:
                    r = await bench.run_list(
                        t.url,
                        args.list_requests,
                        c,
                        limit=args.list_limit,
                        label=t.label,
                        stored=t.info["stored_sessions"],
                        pool=args.pool,
                    )
                    record(results, t, r, rnd)
            if args.no_get:
                continue
            console.rule(f"GET /session/{{id}}, round {rnd + 1}/{args.repeat}")
            for c in args.concurrency:
                for t in targets:
                    if not get_ids[t.label]:
                        console.print(f"  [yellow]{t.label}: no sessions to GET, skipped[/]")
                        continue
                    r = await bench.run_get(
                        t.url, get_ids[t.label], c, requests=args.ops, label=t.label, pool=args.pool
                    )
                    record(results, t, r, rnd)
    finally:
        console.rule("cleanup")
        for t in targets:
            await clean_target(t, tag, top)


async def clean_target(t: Target, tag: str, concurrency: int) -> None:
    """Delete the sessions we know about, then any of this run's that we never saw an id for."""
    try:
        r = await bench.cleanup(t.url, sorted(t.live), concurrency, label=t.label, track=t.live)
        # An interrupted POST may still have created a session; its title carries our tag.
        extra = await bench.purge(t.url, concurrency, prefix=bench.title_prefix(tag))
    except httpx.HTTPError as exc:
        console.print(f"  [red]{t.label}: cleanup failed: {exc!r} (run --purge later)[/]")
        return
    left = f", [red]{len(t.live)} left (run --purge)[/]" if t.live else ""
    console.print(f"  {t.label}: deleted {len(r.ids):,} + {len(extra.ids)} untracked{left}")


def build_report(
    args: argparse.Namespace,
    targets: list[Target],
    meta: dict[str, Any],
    results: list[dict[str, Any]],
) -> tuple[dict[str, Any], str]:
    # Chronological order already interleaves A and B, so summary rows pair up.
    summary = bench.summarize(results)
    ratios: list[dict[str, Any]] = []
    if len(targets) > 1:
        a, b = targets[0].label, targets[1].label
        ratios = bench.compare(
            [r for r in summary if r["label"] == a], [r for r in summary if r["label"] == b]
        )
    report: dict[str, Any] = {
        "meta": meta,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "servers": [t.info for t in targets],
        "seeding": [s for t in targets for s in t.seeding],
        "summary": summary,
        "ratios": ratios,
        "results": results,
    }
    lines = [
        f"# Benchmark {meta['date']}",
        "",
        f"- machine: {meta['cpu_count']} CPUs, {meta['platform']}, Python {meta['python']}"
        f" ({meta['event_loop']})",
    ]
    for info in report["servers"]:
        version = info.get("health", {}).get("version", "?")
        lines.append(
            f"- {info['label']}: {info['url']} (version {version}),"
            f" {info.get('stored_sessions', '?')} stored sessions for list/get"
        )
    lines.append(
        f"- ops {args.ops} per create/delete/get, {args.list_requests} list requests,"
        f" concurrency {' '.join(map(str, args.concurrency))}, {args.repeat} round(s)"
        f" (tables show each median round), httpx pool {meta['pool']}"
    )
    load = meta.get("loadavg_at_start"), meta.get("loadavg_at_end")
    if load[0] is not None:
        lines.append(f"- load average (1/5/15 min) at start {load[0]}, at end {load[1]}")
    lines += ["", "## Results", "", bench.markdown_table(summary)]
    if ratios:
        lines += ["## Ratios (throughput)", "", bench.markdown_ratios(ratios)]
    return report, "\n".join(lines)


async def purge(targets: list[Target], concurrency: int) -> None:
    for t in targets:
        r = await bench.purge(t.url, concurrency)
        console.print(f"{t.label}: deleted {len(r.ids):,} leftover bench sessions")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets = [Target(args.label, args.url.rstrip("/"))]
    if args.vs:
        targets.append(Target(args.label2, args.vs.rstrip("/")))

    loop_name = "asyncio"
    runner: Any = asyncio.run
    if not args.no_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop_name, runner = f"uvloop {metadata.version('uvloop')}", uvloop.run

    if args.purge:
        runner(purge(targets, max(args.concurrency)))
        return 0

    meta = machine_info(loop_name, args.pool)
    results: list[dict[str, Any]] = []
    try:
        runner(run_all(args, targets, results))
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[red]interrupted; partial results follow[/]")
    except httpx.HTTPError as exc:
        console.print(f"[red]aborted: {exc!r}[/]")
        if not results:
            return 2
    if hasattr(os, "getloadavg"):
        meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        if max(meta["loadavg_at_start"][0], meta["loadavg_at_end"][0]) > (os.cpu_count() or 1):
            console.print("[yellow]load average exceeded the CPU count: the machine was busy[/]")

    report, markdown = build_report(args, targets, meta, results)
    out: Path = args.out or RESULTS_DIR / f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    out.with_suffix(".md").write_text(markdown)

    console.rule("results")
    if console.is_terminal and console.width >= 130:
        console.print(Markdown(markdown))
    else:
        console.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {out} and {out.with_suffix('.md')}")
    errors = sum(r["errors"] for r in report["results"])
    if errors:
        console.print(f"[bold red]{errors} failed requests; see error_samples in the JSON[/]")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
