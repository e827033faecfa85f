"""Result rows of bench workloads and the tables that summarise and compare them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class WorkloadResult:
    """Outcome of one bounded workload against one server at one concurrency."""

    name: str
    server: str
    concurrency: int
    requests: int
    errors: int
    elapsed_s: float
    throughput: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    label: str = ""
    error_samples: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    # Driver CPU time / wall time during the workload; near 1.0 means the driver was the bottleneck.
    client_cpu: float = 0.0
    pool: str = "per-worker"
    # Ids the workload created / deleted / read successfully; kept out of to_dict().
    ids: list[str] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> int:
        return self.requests - self.errors

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["ids"]
        data["ok"] = self.ok
        return data


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _fmt(value: float, digits: int = 1) -> str:
    return f"{value:,.{digits}f}"


def _size(row: dict[str, Any]) -> int | None:
    """The target store size a list workload ran at (None for other workloads)."""
    size = (row.get("params") or {}).get("size")
    return size if isinstance(size, int) else None


def workload_name(row: dict[str, Any]) -> str:
    """Workload name for tables: list workloads carry the stored-session count they ran at."""
    size = _size(row)
    if size is None:
        return str(row["name"])
    stored = (row.get("params") or {}).get("stored_sessions", size)
    return f"{row['name']} @{stored:,}"


def summarize(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (server, workload, concurrency, list size): its median-throughput run.

    The row is a real run (lower median), plus `runs`, `throughput_min`, `throughput_max` and
    `errors_all_runs`. Rows keep the order in which each group first appears.
    """
    groups: dict[tuple[str, str, int, Any], list[dict[str, Any]]] = {}
    for r in results:
        key = (r.get("label") or r["server"], r["name"], r["concurrency"], _size(r))
        groups.setdefault(key, []).append(r)
    rows: list[dict[str, Any]] = []
    for runs in groups.values():
        ranked = sorted(runs, key=lambda r: r["throughput"])
        row = dict(ranked[(len(ranked) - 1) // 2])
        row["runs"] = len(runs)
        row["throughput_min"] = ranked[0]["throughput"]
        row["throughput_max"] = ranked[-1]["throughput"]
        row["errors_all_runs"] = sum(r["errors"] for r in runs)
        rows.append(row)
    return rows


def markdown_table(results: Sequence[dict[str, Any]]) -> str:
    """Markdown table of `WorkloadResult.to_dict()` (or `summarize()`) rows."""
    repeated = any(r.get("runs", 1) > 1 for r in results)
    head = (
        "| server | workload | conc | requests | errors | elapsed s | req/s "
        "| p50 ms | p99 ms | max ms | client cpu |"
    )
    rule = "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    if repeated:
        head += " runs | req/s min-max |"
        rule += "--:|--:|"
    lines = [head, rule]
    for r in results:
        n_errors = r.get("errors_all_runs", r["errors"])
        errors = f"**{n_errors}**" if n_errors else "0"
        line = (
            f"| {r.get('label') or r['server']} | {workload_name(r)} | {r['concurrency']} "
            f"| {r['requests']} | {errors} | {_fmt(r['elapsed_s'], 2)} "
            f"| {_fmt(r['throughput'])} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} "
            f"| {_fmt(r['max_ms'], 2)} | {r.get('client_cpu', 0.0):.0%} |"
        )
        if repeated:
            low = r.get("throughput_min", r["throughput"])
            high = r.get("throughput_max", r["throughput"])
            line += f" {r.get('runs', 1)} | {_fmt(low)}-{_fmt(high)} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def compare(
    results_a: Sequence[dict[str, Any]], results_b: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Throughput and latency ratios for each (workload, concurrency, list size) both ran."""
    by_key = {(r["name"], r["concurrency"], _size(r)): r for r in results_b}
    rows: list[dict[str, Any]] = []
    for a in results_a:
        b = by_key.get((a["name"], a["concurrency"], _size(a)))
        if b is None:
            continue
        rows.append(
            {
                "name": a["name"],
                "concurrency": a["concurrency"],
                "size": _size(a),
                "stored_a": (a.get("params") or {}).get("stored_sessions"),
                "stored_b": (b.get("params") or {}).get("stored_sessions"),
                "a": a.get("label") or a["server"],
                "b": b.get("label") or b["server"],
                "throughput_a": a["throughput"],
                "throughput_b": b["throughput"],
                "b_over_a": _ratio(b["throughput"], a["throughput"]),
                "a_over_b": _ratio(a["throughput"], b["throughput"]),
                "p50_ms_a": a["p50_ms"],
                "p50_ms_b": b["p50_ms"],
                "p99_ms_a": a["p99_ms"],
                "p99_ms_b": b["p99_ms"],
                "errors_a": a["errors"],
                "errors_b": b["errors"],
            }
        )
    return rows


def _ratio_name(row: dict[str, Any]) -> str:
    size = row.get("size")
    return str(row["name"]) if size is None else f"{row['name']} @{size:,}"


def _fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def markdown_ratios(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of `compare()` rows."""
    if not rows:
        return ""
    a, b = rows[0]["a"], rows[0]["b"]
    lines = [
        f"| workload | conc | {a} req/s | {b} req/s | {b}/{a} | {a}/{b} "
        f"| {a} p50 ms | {b} p50 ms | {a} p99 ms | {b} p99 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {_ratio_name(r)} | {r['concurrency']} | {_fmt(r['throughput_a'])} "
            f"| {_fmt(r['throughput_b'])} | {_fmt_ratio(r['b_over_a'])} "
            f"| {_fmt_ratio(r['a_over_b'])} | {_fmt(r['p50_ms_a'], 2)} "
            f"| {_fmt(r['p50_ms_b'], 2)} | {_fmt(r['p99_ms_a'], 2)} "
            f"| {_fmt(r['p99_ms_b'], 2)} |"
        )
    return "\n".join(lines) + "\n"
