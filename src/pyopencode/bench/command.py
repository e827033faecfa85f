"""`pyopencode bench URL [--vs URL2]`: throughput and list latency of one server, or two A/B."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

from pyopencode.bench import agentcmd, loop, session
from pyopencode.bench import report as tables

DEFAULT_CONCURRENCY = (1, 8, 32, 64)
DEFAULT_LIST_SIZES = (1_000, 10_000, 100_000)
DEFAULT_LIST_CONCURRENCY = (1, 32)
# Workloads drawn as throughput bars, in chart order.
BAR_WORKLOADS = ("create", "delete", "get")
# Fewest distinct sessions the get workload cycles over.
MIN_GET_IDS = 100
# Rounds of "delete whatever of this run is still listed" during cleanup.
PURGE_ATTEMPTS = 3
INSTALL_HINT = "pip install 'pyopencode[bench]'"

console = Console(soft_wrap=True, highlight=False)


@dataclass
class Target:
    """One server under test and the bench sessions it currently holds."""

    label: str
    url: str
    live: set[str] = field(default_factory=set)
    seeded: list[str] = field(default_factory=list)
    seeding: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def _problem(args: argparse.Namespace) -> str | None:
    if not args.url:
        return "a server URL is required"
    counts = [args.ops, args.list_requests, args.repeat, args.list_limit]
    counts += [*args.concurrency, *args.list_concurrency, *args.list_sizes]
    if min(counts) < 1:
        return (
            "--ops, --list-requests, --repeat, --list-limit, --concurrency, --list-concurrency"
            " and --list-sizes must be positive"
        )
    if args.vs and args.label == args.label2:
        return "--label and --label2 must differ"
    return None


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
    async with httpx.AsyncClient(base_url=t.url, timeout=session.TIMEOUT) as client:
        try:
            resp = await client.get("/global/health")
            if resp.is_success:
                info["health"] = resp.json()
        except (httpx.HTTPError, ValueError):
            pass
    info["sessions_before"] = await session.count_sessions(t.url)
    info["stored_sessions"] = {}
    return info


def record(
    results: list[dict[str, Any]], t: Target, result: tables.WorkloadResult, rnd: int
) -> None:
    result.params["round"] = rnd
    results.append(result.to_dict())
    style = "red" if result.errors else "green"
    console.print(
        f"  [{style}]{escape(t.label):>10}[/] {tables.workload_name(result.to_dict()):<16}"
        f" c={result.concurrency:<3} {result.throughput:9,.1f} req/s"
        f"  p50 {result.p50_ms:8.2f}  p99 {result.p99_ms:8.2f}  max {result.max_ms:8.2f} ms"
        f"  cpu {result.client_cpu:4.0%}  err {result.errors}"
    )
    for sample in result.error_samples:
        console.print(f"    [red]{sample}[/]", markup=False)


async def _seed_to(t: Target, size: int, args: argparse.Namespace, tag: str, top: int) -> int:
    """Create sessions until `t` stores at least `size`; returns the stored count."""
    have = await session.count_sessions(t.url)
    need = max(0, size - have)
    s = await session.seed(t.url, need, top, label=t.label, tag=tag, pool=args.pool, track=t.live)
    t.seeded.extend(s.ids)
    t.seeding.append({**s.to_dict(), "size": size})
    stored = have + len(s.ids)
    t.info["stored_sessions"][str(size)] = stored
    note = ""
    if have > size:
        note = f" [yellow](already above {size:,}: measured at {have:,})[/]"
    console.print(
        f"  {escape(t.label)}: had {have:,}, seeded {len(s.ids):,} ({s.throughput:,.1f}/s,"
        f" {s.errors} errors), now {stored:,}{note}"
    )
    return stored


async def run_all(
    args: argparse.Namespace, targets: list[Target], results: list[dict[str, Any]]
) -> None:
    """Run every workload, A then B each time, appending to `results` as they finish."""
    tag = session.new_run_tag()
    top = max(args.concurrency)
    task = asyncio.current_task()
    if task is not None and hasattr(signal, "SIGTERM"):
        # Treat SIGTERM like Ctrl-C: cancel the run so the `finally` cleanup still happens.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    console.print(f"run tag [bold]{tag}[/] (session titles start with '{session.TITLE_PREFIX}')")
    try:
        for t in targets:
            t.info = await server_info(t)

        for rnd in range(args.repeat):
            console.rule(f"create, round {rnd + 1}/{args.repeat}")
            created: dict[tuple[str, int], list[str]] = {}
            for c in args.concurrency:
                for t in targets:
                    r = await session.run_create(
                        t.url, args.ops, c, label=t.label, tag=tag, pool=args.pool, track=t.live
                    )
                    created[(t.label, c)] = r.ids
                    record(results, t, r, rnd)

            console.rule(f"delete the sessions just created, round {rnd + 1}/{args.repeat}")
            for c in args.concurrency:
                for t in targets:
                    r = await session.run_delete(
                        t.url, created[(t.label, c)], c, label=t.label, pool=args.pool, track=t.live
                    )
                    record(results, t, r, rnd)

        for size in sorted(set(args.list_sizes)):
            console.rule(f"seed to {size:,} stored sessions")
            stored = {t.label: await _seed_to(t, size, args, tag, top) for t in targets}
            for rnd in range(args.repeat):
                console.rule(
                    f"GET /session?limit={args.list_limit} at {size:,} stored,"
                    f" round {rnd + 1}/{args.repeat}"
                )
                for c in args.list_concurrency:
                    for t in targets:
                        r = await session.run_list(
                            t.url,
                            args.list_requests,
                            c,
                            limit=args.list_limit,
                            label=t.label,
                            stored=stored[t.label],
                            pool=args.pool,
                        )
                        r.params["size"] = size
                        record(results, t, r, rnd)

        if args.no_get:
            return
        get_ids: dict[str, list[str]] = {}
        for t in targets:
            want = min(args.ops, MIN_GET_IDS)
            if len(t.seeded) < want:
                s = await session.seed(
                    t.url,
                    want - len(t.seeded),
                    top,
                    label=t.label,
                    tag=tag,
                    pool=args.pool,
                    track=t.live,
                )
                t.seeded.extend(s.ids)
            get_ids[t.label] = t.seeded[: args.ops]
        for rnd in range(args.repeat):
            console.rule(f"GET /session/{{id}}, round {rnd + 1}/{args.repeat}")
            for c in args.concurrency:
                for t in targets:
                    r = await session.run_get(
                        t.url, get_ids[t.label], c, requests=args.ops, label=t.label, pool=args.pool
                    )
                    record(results, t, r, rnd)
    finally:
        console.rule("cleanup")
        for t in targets:
            await clean_target(t, tag, top)


async def clean_target(t: Target, tag: str, concurrency: int) -> None:
    """Delete the sessions we know about, then any of this run's that are still listed."""
    prefix = session.title_prefix(tag)
    try:
        r = await session.cleanup(t.url, sorted(t.live), concurrency, label=t.label, track=t.live)
        # An interrupted POST may still have created a session; its title carries our tag. A
        # server that acknowledges deletes it does not do (OpenCode 1.0.x) still lists them.
        untracked = 0
        for _ in range(PURGE_ATTEMPTS):
            extra = await session.purge(t.url, concurrency, prefix=prefix, progress=False)
            untracked += len(extra.ids)
            if not extra.ids:
                break
        listed = [
            s
            for s in await session.list_all(t.url)
            if isinstance(s, dict) and str(s.get("title", "")).startswith(prefix)
        ]
    except httpx.HTTPError as exc:
        console.print(
            f"  [red]{escape(t.label)}: cleanup failed: {escape(repr(exc))}[/] (run --purge later)"
        )
        return
    left = len(listed)
    t.info["bench_sessions_left"] = left
    note = ""
    if left:
        note = (
            f", [red]{left} still listed although the server acknowledged deleting them"
            " (run --purge later)[/]"
        )
    console.print(
        f"  {escape(t.label)}: deleted {len(r.ids):,} + {untracked} deleted again or untracked"
        f"{note}"
    )


def list_latency(summary: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """List rows (median round) as label/size/stored/concurrency/p50/p99/req/s, by size."""
    rows = [
        {
            "label": r.get("label") or r["server"],
            "size": r["params"]["size"],
            "stored_sessions": r["params"].get("stored_sessions", r["params"]["size"]),
            "concurrency": r["concurrency"],
            "p50_ms": r["p50_ms"],
            "p99_ms": r["p99_ms"],
            "max_ms": r["max_ms"],
            "throughput": r["throughput"],
            "errors": r.get("errors_all_runs", r["errors"]),
        }
        for r in summary
        if r["name"].startswith("list") and "size" in (r.get("params") or {})
    ]
    return sorted(rows, key=lambda r: (r["size"], r["concurrency"]))


def build_report(
    args: argparse.Namespace,
    targets: list[Target],
    meta: dict[str, Any],
    results: list[dict[str, Any]],
) -> tuple[dict[str, Any], str]:
    # Chronological order already interleaves A and B, so summary rows pair up.
    summary = tables.summarize(results)
    ratios: list[dict[str, Any]] = []
    if len(targets) > 1:
        a, b = targets[0].label, targets[1].label
        ratios = tables.compare(
            [r for r in summary if r["label"] == a], [r for r in summary if r["label"] == b]
        )
    report: dict[str, Any] = {
        "meta": meta,
        "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "run"
        },
        "servers": [t.info for t in targets],
        "seeding": [s for t in targets for s in t.seeding],
        "summary": summary,
        "ratios": ratios,
        "list_latency": list_latency(summary),
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
        stored = ", ".join(f"{n:,}" for n in info.get("stored_sessions", {}).values()) or "?"
        lines.append(
            f"- {info['label']}: {info['url']} (version {version}),"
            f" {info.get('sessions_before', '?')} sessions before the run,"
            f" listed at {stored} stored sessions"
        )
    lines.append(
        f"- ops {args.ops} per create/delete/get at concurrency"
        f" {' '.join(map(str, args.concurrency))}; {args.list_requests} list requests"
        f" (limit={args.list_limit}) at concurrency {' '.join(map(str, args.list_concurrency))};"
        f" {args.repeat} round(s) (tables show each median round); client {meta['pool']}"
    )
    sizes = sorted(set(args.list_sizes))
    if sizes != list(DEFAULT_LIST_SIZES):
        lines.append(
            f"- list sizes {' '.join(f'{n:,}' for n in sizes)} instead of the default"
            f" {' '.join(f'{n:,}' for n in DEFAULT_LIST_SIZES)} (reduced to keep the run short)"
        )
    load = meta.get("loadavg_at_start"), meta.get("loadavg_at_end")
    if load[0] is not None:
        lines.append(f"- load average (1/5/15 min) at start {load[0]}, at end {load[1]}")
    lines += ["", "## Results", "", tables.markdown_table(summary)]
    if ratios:
        lines += ["## Ratios", "", tables.markdown_ratios(ratios)]
    return report, "\n".join(lines)


def _si(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def write_chart(report: dict[str, Any], path: Path) -> bool:
    """Draw throughput bars and list latency vs store size; False if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    except ImportError:
        console.print(
            f"matplotlib is not installed, so no chart was drawn: {INSTALL_HINT}",
            style="yellow",
            markup=False,
        )
        return False

    labels = [s["label"] for s in report["servers"]]
    summary = report["summary"]
    ratios = {(r["name"], r["concurrency"]): r for r in report["ratios"]}
    colors = ["#1f77b4", "#ff7f0e"]
    fig, axes = plt.subplots(2, 2, figsize=(14, 9.5))
    panels = list(axes.flat)
    for ax, name in zip(panels[:3], BAR_WORKLOADS, strict=True):
        rows = [r for r in summary if r["name"] == name]
        concs = sorted({r["concurrency"] for r in rows})
        if not rows:
            ax.set_axis_off()
            ax.set_title(f"{name}: not run")
            continue
        width = 0.8 / len(labels)
        top = max(r["throughput"] for r in rows) or 1.0
        for i, label in enumerate(labels):
            by_c = {r["concurrency"]: r["throughput"] for r in rows if r["label"] == label}
            xs = [k + (i - (len(labels) - 1) / 2) * width for k in range(len(concs))]
            ys = [by_c.get(c, 0.0) for c in concs]
            bars = ax.bar(xs, ys, width, label=label, color=colors[i % len(colors)])
            ax.bar_label(bars, labels=[_si(y) for y in ys], fontsize=8, padding=2)
        if len(labels) > 1:
            for k, c in enumerate(concs):
                ratio = ratios.get((name, c), {}).get("a_over_b")
                if ratio is not None:
                    ax.annotate(
                        f"{ratio:.2f}x",
                        (k, top * 1.12),
                        ha="center",
                        fontsize=10,
                        fontweight="bold",
                        color="green" if ratio >= 1 else "red",
                    )
        ax.set_ylim(0, top * 1.25)
        ax.set_xticks(range(len(concs)), [f"c={c}" for c in concs])
        unit = "req/s, higher is better"
        note = f"; bold: {labels[0]}/{labels[1]}" if len(labels) > 1 else ""
        ax.set_title(f"{name} throughput ({unit}{note})", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(axis="y", alpha=0.3)

    ax = panels[3]
    lat = report["list_latency"]
    if lat:
        conc = min(r["concurrency"] for r in lat)
        points: dict[str, list[dict[str, Any]]] = {}
        for r in lat:
            if r["concurrency"] == conc:
                points.setdefault(r["label"], []).append(r)
        for i, label in enumerate(labels):
            pts = points.get(label, [])
            color = colors[i % len(colors)]
            xs = [p["stored_sessions"] for p in pts]
            ax.plot(xs, [p["p50_ms"] for p in pts], "o-", color=color, label=f"{label} p50")
            ax.plot(
                xs, [p["p99_ms"] for p in pts], ":x", color=color, alpha=0.6, label=f"{label} p99"
            )
            for p in pts:
                ax.annotate(
                    f"{p['p50_ms']:.1f}",
                    (p["stored_sessions"], p["p50_ms"]),
                    textcoords="offset points",
                    xytext=(6, -10),
                    fontsize=8,
                    color=color,
                )
        if len(labels) > 1:
            a_pts = {p["size"]: p for p in points.get(labels[0], [])}
            for p in points.get(labels[1], []):
                a = a_pts.get(p["size"])
                if a is None or a["p50_ms"] <= 0:
                    continue
                ratio = p["p50_ms"] / a["p50_ms"]
                ax.annotate(
                    f"{ratio:.2f}x",
                    (a["stored_sessions"], max(a["p50_ms"], p["p50_ms"])),
                    textcoords="offset points",
                    xytext=(0, 10),
                    ha="center",
                    fontsize=10,
                    fontweight="bold",
                    color="green" if ratio >= 1 else "red",
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({p["stored_sessions"] for p in lat})
        ax.set_xticks(sizes, [_si(float(n)) for n in sizes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("stored sessions (log)")
        ax.set_ylabel("ms (log)")
        note = f"; bold: {labels[1]} p50 / {labels[0]} p50" if len(labels) > 1 else ""
        ax.set_title(
            f"GET /session?limit=100 latency at c={conc} (lower is better{note})", fontsize=10
        )
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    else:
        ax.set_axis_off()
    meta = report["meta"]
    versions = ", ".join(
        f"{s['label']} {s.get('health', {}).get('version', '?')}" for s in report["servers"]
    )
    fig.suptitle(
        f"pyopencode bench {meta['date']}: {versions}; {meta['cpu_count']} CPUs,"
        f" load {meta.get('loadavg_at_start', ['?'])[0]}",
        fontsize=12,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


async def purge(targets: list[Target], concurrency: int) -> None:
    for t in targets:
        r = await session.purge(t.url, concurrency)
        console.print(f"{escape(t.label)}: deleted {len(r.ids):,} leftover bench sessions")


def run_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the parsed `bench` options describe.

    Returns 0, 1 if any request failed, 2 if the server could not be used, 130 if interrupted
    (after cleaning up and writing the partial results).
    """
    if getattr(args, "workload", "sessions") == "agent":
        return agentcmd.run(args)
    problem = _problem(args)
    if problem:
        console.print(f"pyopencode bench: {problem}", markup=False)
        return 2
    targets = [Target(args.label, args.url.rstrip("/"))]
    if args.vs:
        targets.append(Target(args.label2, args.vs.rstrip("/")))
    loop_name, runner = loop.runner(args.no_uvloop)

    if args.purge:
        runner(purge(targets, max(args.concurrency)))
        return 0

    meta = machine_info(loop_name, args.pool)
    if sorted(set(args.list_sizes)) != list(DEFAULT_LIST_SIZES):
        console.print(
            f"[yellow]list sizes {' '.join(map(str, sorted(set(args.list_sizes))))} (default"
            f" {' '.join(map(str, DEFAULT_LIST_SIZES))}): list latency is measured at smaller"
            " stores than the default[/]"
        )
    results: list[dict[str, Any]] = []
    interrupted = False
    try:
        runner(run_all(args, targets, results))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        console.print("[red]interrupted; partial results follow[/]")
    except httpx.HTTPError as exc:
        console.print(f"[red]aborted: {escape(repr(exc))}[/]")
        if not results:
            return 2
    if hasattr(os, "getloadavg"):
        meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        if max(meta["loadavg_at_start"][0], meta["loadavg_at_end"][0]) > (os.cpu_count() or 1):
            console.print("[yellow]load average exceeded the CPU count: the machine was busy[/]")

    report, markdown = build_report(args, targets, meta, results)
    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M%SZ}"
    out: Path = args.out or Path(f"pyopencode-bench-{stamp}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    md = out.with_suffix(".md")
    md.write_text(markdown)

    console.rule("results")
    if console.is_terminal and console.width >= 130:
        console.print(Markdown(markdown))
    else:
        console.print(markdown, markup=False)
    written = [str(out), str(md)]
    if not args.no_chart:
        chart: Path = args.chart or out.with_suffix(".png")
        if write_chart(report, chart):
            written.append(str(chart))
    console.print(f"wrote {', '.join(written)}", markup=False)
    errors = sum(r["errors"] for r in report["results"])
    if errors:
        console.print(f"[bold red]{errors} failed requests; see error_samples in the JSON[/]")
    if interrupted:
        return 130
    return 1 if errors else 0
