"""`pyopencode bench --workload agent`: prompt turns and SSE fan-out, one server or two A/B.

The servers under test must use the bench's model server. Write its `opencode.json` into a
scratch project directory with `--write-config DIR --model-port PORT`, start each server in that
directory, then run the bench with the same `--model-port` (it serves the model while it runs).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pyopencode.bench import agent, loop, session
from pyopencode.bench.modelserver import ModelProcess, opencode_config

DEFAULT_CONCURRENCY = (1, 16, 64)
DEFAULT_MODEL_PORT = 4399

console = Console(soft_wrap=True, highlight=False)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The agent workload's options on `pyopencode bench`."""
    group = parser.add_argument_group("agent workload (--workload agent)")
    group.add_argument(
        "--workload",
        choices=["sessions", "agent"],
        default="sessions",
        help="sessions: create/delete/get/list (default); agent: prompt turns and SSE fan-out",
    )
    group.add_argument(
        "--model-port",
        type=int,
        default=DEFAULT_MODEL_PORT,
        help=f"port of the bench's model server on 127.0.0.1 (default {DEFAULT_MODEL_PORT})",
    )
    group.add_argument(
        "--write-config",
        metavar="DIR",
        type=Path,
        help="write DIR/opencode.json pointing at the model server, then exit (start the servers"
        " under test in DIR)",
    )
    group.add_argument(
        "--agent-concurrency",
        type=int,
        nargs="+",
        default=list(DEFAULT_CONCURRENCY),
        help="sessions prompting at once (default: 1 16 64)",
    )
    group.add_argument(
        "--agent-rounds", type=int, default=3, help="prompts per session, one after another"
    )
    group.add_argument(
        "--agent-chunks", type=int, default=200, help="streamed chunks in each answer"
    )
    group.add_argument(
        "--fanout-subscribers", type=int, default=500, help="/event subscribers for fan-out"
    )
    group.add_argument(
        "--fanout-sessions", type=int, default=16, help="sessions prompting during fan-out"
    )
    group.add_argument(
        "--fanout-drain",
        type=float,
        default=agent.DRAIN_S,
        help="seconds subscribers may take, after the last prompt answers, to receive every"
        f" delta; a subscriber still short then counts as failed (default {agent.DRAIN_S:g})",
    )
    group.add_argument(
        "--fanout-procs",
        type=int,
        default=agent.FANOUT_PROCS,
        help="processes the fan-out subscribers are spread over, apart from the one that"
        f" prompts (default {agent.FANOUT_PROCS})",
    )
    group.add_argument("--no-fanout", action="store_true", help="skip the fan-out workload")
    group.add_argument("--pid", type=int, help="pid of server A, for CPU time and RSS")
    group.add_argument("--vs-pid", type=int, help="pid of server B, for CPU time and RSS")
    group.add_argument(
        "--directory", help="project directory to send as x-opencode-directory (default: none)"
    )


@dataclass
class Target:
    label: str
    url: str
    pid: int | None
    live: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)


def _problem(args: argparse.Namespace) -> str | None:
    counts = [*args.agent_concurrency, args.agent_rounds, args.agent_chunks]
    counts += [args.fanout_subscribers, args.fanout_sessions, args.fanout_procs]
    if min(counts) < 1:
        return "--agent-* and --fanout-* counts must be positive"
    if not 0 < args.model_port < 65536:
        return "--model-port must be a TCP port"
    if args.vs and args.label == args.label2:
        return "--label and --label2 must differ"
    return None


async def _server_info(t: Target) -> dict[str, Any]:
    info: dict[str, Any] = {"url": t.url, "label": t.label, "pid": t.pid}
    async with httpx.AsyncClient(base_url=t.url, timeout=30) as client:
        health = await client.get("/global/health")
        health.raise_for_status()
        info["health"] = health.json()
        config = await client.get("/config/providers")
        if config.is_success:
            ids = [p.get("id") for p in config.json().get("providers", [])]
            info["providers"] = ids
            if "bench" not in ids:
                raise RuntimeError(
                    f"{t.label} has no 'bench' provider: start it in a directory holding the"
                    " opencode.json that --write-config writes"
                )
    return info


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _show(r: dict[str, Any]) -> None:
    style = "red" if r["errors"] or r["chunks_seen"] < r["chunks_expected"] else "green"
    cpu = r.get("cpu_per_prompt_s")
    rss = r.get("rss_peak_mb")
    console.print(
        f"  [{style}]{escape(r['label']):>10}[/] agent c={r['concurrency']:<3}"
        f" {r['prompts_per_s']:7.2f} prompts/s  p50 {r['p50_ms']:8.1f}  p99 {r['p99_ms']:8.1f} ms"
        f"  chunk p50 {r['chunk_p50_ms']:6.2f}  p99 {r['chunk_p99_ms']:7.2f} ms"
        f" ({r['chunks_seen']}/{r['chunks_expected']})"
        + (f"  cpu/prompt {cpu * 1000:.1f} ms" if cpu is not None else "")
        + (f"  rss {rss:.0f} MiB" if rss is not None else "")
        + f"  err {r['errors']}"
    )
    for sample in r["error_samples"]:
        console.print(f"    {sample}", style="red", markup=False)


def _show_fanout(r: dict[str, Any]) -> None:
    style = "red" if r["errors"] or r["subscribers_short"] or r["subscriber_errors"] else "green"
    console.print(
        f"  [{style}]{escape(r['label']):>10}[/] fan-out x{r['subscribers']}"
        f" {r['chunks_per_s']:10,.0f} chunks/s  lag p50 {r['lag_p50_ms']:7.1f}"
        f"  p99 {r['lag_p99_ms']:7.1f} ms  chunks {r['chunks_max']}/{r['chunks_expected']}"
        f"  short {r['subscribers_short']}  err {r['errors'] + r['subscriber_errors']}"
    )
    for sample in r["error_samples"]:
        console.print(f"    {sample}", style="red", markup=False)


async def _run_all(
    args: argparse.Namespace,
    targets: list[Target],
    results: list[dict[str, Any]],
    fanouts: list[dict[str, Any]],
) -> None:
    tag = session.new_run_tag()
    directory = args.directory
    async with ModelProcess(chunks=args.agent_chunks, port=args.model_port) as model:
        console.print(f"model server {model.url} (run tag [bold]{tag}[/])")
        for t in targets:
            t.info = await _server_info(t)
        try:
            with _progress() as progress:
                for t in targets:
                    # One untimed turn first: servers load provider packages on first use.
                    warm = await agent.run_agent(
                        t.url,
                        1,
                        rounds=1,
                        chunks=args.agent_chunks,
                        tag=tag,
                        label=f"{t.label} warm-up",
                        pid=None,
                        directory=directory,
                        track=t.live,
                        progress=progress,
                    )
                    for sample in warm.error_samples:
                        console.print(f"  warm-up: {sample}", style="red", markup=False)
                    await agent.delete_sessions(t.url, t.live, directory)
                pids = [t.pid for t in targets if t.pid is not None]
                for concurrency in args.agent_concurrency:
                    for t in targets:
                        await _settle(pids)
                        r = await agent.run_agent(
                            t.url,
                            concurrency,
                            rounds=args.agent_rounds,
                            chunks=args.agent_chunks,
                            tag=tag,
                            label=t.label,
                            pid=t.pid,
                            directory=directory,
                            track=t.live,
                            progress=progress,
                        )
                        results.append(r.to_dict())
                        _show(r.to_dict())
                        await agent.delete_sessions(t.url, t.live, directory)
                if not args.no_fanout:
                    for t in targets:
                        await _settle(pids)
                        f = await agent.run_fanout(
                            t.url,
                            subscribers=args.fanout_subscribers,
                            sessions=args.fanout_sessions,
                            chunks=args.agent_chunks,
                            tag=tag,
                            label=t.label,
                            directory=directory,
                            track=t.live,
                            progress=progress,
                            drain_s=args.fanout_drain,
                            procs=args.fanout_procs,
                        )
                        fanouts.append(f.to_dict())
                        _show_fanout(f.to_dict())
                        await agent.delete_sessions(t.url, t.live, directory)
        finally:
            for t in targets:
                if t.live and await agent.delete_sessions(t.url, t.live, directory):
                    console.print(
                        f"{t.label}: {len(t.live)} bench sessions could not be deleted; remove"
                        f" them later with `pyopencode bench {t.url} --purge`",
                        style="yellow",
                        markup=False,
                    )
    # The model server's process reports what it was asked for as it stops.
    console.print(
        f"model server answered {model.stats.tool_calls} tool calls, {model.stats.answers}"
        f" answers, {model.stats.other} other requests"
    )


async def _settle(pids: list[int]) -> None:
    waited = await agent.settle(pids)
    if waited > agent.SETTLE_HOLD_S + 1.0:
        console.print(f"  waited {waited:.1f} s for the servers to go idle", style="dim")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown(results: Sequence[dict[str, Any]], fanouts: Sequence[dict[str, Any]]) -> str:
    """Tables of agent and fan-out results, and A/B ratios when two servers ran."""
    lines = [
        "| server | sessions | prompts | errors | prompts/s | p50 ms | p99 ms | chunk p50 ms"
        " | chunk p99 ms | chunks seen | server cpu ms/prompt | peak RSS MiB | client cpu |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in results:
        cpu = r.get("cpu_per_prompt_s")
        lines.append(
            f"| {r['label']} | {r['concurrency']} | {r['prompts']} | {r['errors']}"
            f" | {_fmt(r['prompts_per_s'], 2)} | {_fmt(r['p50_ms'])} | {_fmt(r['p99_ms'])}"
            f" | {_fmt(r['chunk_p50_ms'], 2)} | {_fmt(r['chunk_p99_ms'], 2)}"
            f" | {r['chunks_seen']}/{r['chunks_expected']}"
            f" | {_fmt(cpu * 1000 if cpu is not None else None)} | {_fmt(r.get('rss_peak_mb'), 0)}"
            f" | {r['client_cpu']:.0%} |"
        )
    labels = list(dict.fromkeys(r["label"] for r in results))
    if len(labels) == 2:
        a, b = labels
        by = {(r["label"], r["concurrency"]): r for r in results}
        lines += ["", f"| sessions | prompts/s {a}/{b} | p99 latency {b}/{a} | chunk p99 {b}/{a} |"]
        lines.append("|--:|--:|--:|--:|")
        for (label, conc), r in by.items():
            other = by.get((b, conc))
            if label != a or other is None:
                continue
            lines.append(
                f"| {conc} | {_ratio(r['prompts_per_s'], other['prompts_per_s'])}"
                f" | {_ratio(other['p99_ms'], r['p99_ms'])}"
                f" | {_ratio(other['chunk_p99_ms'], r['chunk_p99_ms'])} |"
            )
    if fanouts:
        lines += [
            "",
            "| server | subscribers | sessions | errors | chunks delivered | chunks/s"
            " | events delivered | lag p50 ms | lag p99 ms | chunks (max/expected)"
            " | short subscribers | dropped | client cpu |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for f in fanouts:
            lines.append(
                f"| {f['label']} | {f['subscribers']} | {f['sessions']}"
                f" | {f['errors'] + f['subscriber_errors']} | {f['chunks_delivered']:,}"
                f" | {_fmt(f['chunks_per_s'], 0)} | {f['events_delivered']:,}"
                f" | {_fmt(f['lag_p50_ms'])} | {_fmt(f['lag_p99_ms'])}"
                f" | {f['chunks_max']}/{f['chunks_expected']}"
                f" | {f['subscribers_short']} | {f['chunks_dropped']} | {f['client_cpu']:.0%} |"
            )
    return "\n".join(lines) + "\n"


def render(report: dict[str, Any]) -> str:
    """The Markdown record of one run: where and when it ran, with what, and its tables."""
    meta, params = report["machine"], report["params"]
    lines = ["# Agent workload", ""]
    lines.append(
        f"- date: {meta.get('date')}; machine: {meta.get('platform')}, {meta.get('cpu_count')}"
        f" CPUs, Python {meta.get('python')}"
    )
    lines.append(
        f"- load average (1, 5, 15 min) at start {meta.get('loadavg_at_start')}, at end"
        f" {meta.get('loadavg_at_end')}"
    )
    for server in report["servers"]:
        version = (server.get("health") or {}).get("version", "?")
        lines.append(f"- {server['label']}: {server['url']}, version {version}")
    lines.append(
        f"- {params['chunks']} chunks per answer, {params['rounds']} prompt(s) per session,"
        f" sessions {params['concurrency']}; fan-out: {params['fanout_subscribers']}"
        f" subscribers while {params['fanout_sessions']} sessions prompt"
    )
    return "\n".join(lines) + "\n\n" + markdown(report["results"], report["fanout"])


def _ratio(num: float, den: float) -> str:
    return f"{num / den:.2f}x" if den > 0 else "n/a"


def _machine() -> dict[str, Any]:
    import platform

    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if hasattr(os, "getloadavg"):
        info["loadavg_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def run(args: argparse.Namespace) -> int:
    """Run the agent workload: 0 if every prompt and every subscriber was served, else 1 or 2."""
    problem = _problem(args)
    if problem:
        console.print(f"pyopencode bench: {problem}", markup=False)
        return 2
    model_url = f"http://127.0.0.1:{args.model_port}"
    if args.write_config is not None:
        args.write_config.mkdir(parents=True, exist_ok=True)
        path = args.write_config / "opencode.json"
        path.write_text(json.dumps(opencode_config(model_url), indent=2) + "\n")
        console.print(f"wrote {path}: start the servers under test in {args.write_config}")
        return 0
    if not args.url:
        console.print("pyopencode bench: a server URL is required", markup=False)
        return 2
    targets = [Target(args.label, args.url.rstrip("/"), args.pid)]
    if args.vs:
        targets.append(Target(args.label2, args.vs.rstrip("/"), args.vs_pid))
    meta = _machine()
    results: list[dict[str, Any]] = []
    fanouts: list[dict[str, Any]] = []
    interrupted = False
    try:
        loop.runner(getattr(args, "no_uvloop", False))[1](_run_all(args, targets, results, fanouts))
    except KeyboardInterrupt:
        interrupted = True
        console.print("[red]interrupted; partial results follow[/]")
    except (httpx.HTTPError, RuntimeError, OSError) as exc:
        console.print(f"aborted: {exc!r}", style="red", markup=False)
        if not results:
            return 2
    if hasattr(os, "getloadavg"):
        meta["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    table = markdown(results, fanouts)
    report = {
        "workload": "agent",
        "machine": meta,
        "servers": [t.info for t in targets],
        "params": {
            "concurrency": args.agent_concurrency,
            "rounds": args.agent_rounds,
            "chunks": args.agent_chunks,
            "fanout_subscribers": None if args.no_fanout else args.fanout_subscribers,
            "fanout_sessions": None if args.no_fanout else args.fanout_sessions,
            "model_server": model_url,
        },
        "results": results,
        "fanout": fanouts,
    }
    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H%M%SZ}"
    out: Path = args.out or Path(f"pyopencode-bench-agent-{stamp}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    out.with_suffix(".md").write_text(render(report))
    console.rule("results")
    console.print(table, markup=False)
    console.print(f"wrote {out}, {out.with_suffix('.md')}", markup=False)
    # A chunk that never reached the subscriber is a failure too, not only a failed prompt.
    bad = sum(r["errors"] + r["chunks_expected"] - r["chunks_seen"] for r in results) + sum(
        f["errors"] + f["subscriber_errors"] + f["subscribers_short"] for f in fanouts
    )
    if interrupted:
        return 130
    return 1 if bad else 0
