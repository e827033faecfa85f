"""The agent workload: concurrent sessions prompting a scripted model, and SSE fan-out.

Each prompt is one agent turn on the server under test: the model (bench/modelserver.py)
answers with a `write` tool call, the server runs it, asks again and gets a stamped answer of
`chunks` pieces. Measured here: prompts/s, prompt latency, the time from the model writing a
chunk to an `/event` subscriber receiving it, server CPU per prompt and RSS (from /proc, when the
server's pid is given), and how 500 subscribers keep up while sessions prompt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from time import perf_counter, process_time
from typing import Any

import httpx
from rich.progress import Progress

from pyopencode.bench import procstat
from pyopencode.bench.modelserver import MODEL_ID, PROVIDER_ID, STAMP
from pyopencode.bench.report import percentile
from pyopencode.bench.sse import directory_headers
from pyopencode.bench.subscribers import ENDED, SubscriberProcess

ERROR_SAMPLES = 5
PROMPT_TIMEOUT = httpx.Timeout(300.0, connect=30.0)
# After the last prompt answers, how long subscribers may take to deliver what is still queued.
DRAIN_S = 30.0
DELETE_TIMEOUT_S = 30.0
# Below this share of a core, a server counts as idle before a workload starts.
SETTLE_QUIET = 0.1
# How long both servers must have been that quiet before a timed step starts.
SETTLE_HOLD_S = 2.0
# Processes the fan-out's subscribers are spread over (the prompting client is another).
FANOUT_PROCS = 2


def prompt_text(tag: str, session_id: str, turn: int) -> str:
    """The user prompt; the model server writes the file it names (see modelserver._FILE)."""
    return f"pyopencode bench {tag}: write file bench-out/{tag}/{session_id}-{turn}.txt"


@dataclass
class AgentResult:
    """One server at one concurrency: N sessions, each prompting `rounds` times in a row."""

    label: str
    server: str
    concurrency: int
    prompts: int
    errors: int
    elapsed_s: float
    prompts_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    chunks_expected: int
    chunks_seen: int
    chunk_p50_ms: float
    chunk_p99_ms: float
    chunk_max_ms: float
    # The server ended the /event stream while the turns ran (pyopencode closes a subscriber
    # whose bounded queue overflows): the chunks after that were never delivered to it.
    event_stream_ended: bool = False
    cpu_s: float | None = None
    cpu_per_prompt_s: float | None = None
    rss_peak_mb: float | None = None
    client_cpu: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    session_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["session_ids"]
        return data


@dataclass
class FanoutResult:
    """N subscribers on `/event` while sessions prompt."""

    label: str
    server: str
    subscribers: int
    sessions: int
    prompts: int
    errors: int
    elapsed_s: float
    events_delivered: int
    events_per_s: float
    chunks_delivered: int  # stamped chunks in delta events, summed over subscribers
    chunks_per_s: float
    chunks_expected: int  # stamped chunks the model sent for prompts that succeeded
    chunks_max: int  # chunks the most complete subscriber got in delta events
    subscribers_short: int  # subscribers that got fewer chunks than that: some were dropped
    chunks_dropped: int
    lag_samples: int
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    subscriber_errors: int
    client_cpu: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["session_ids"]
        return data


async def settle(
    pids: list[int],
    *,
    quiet: float = SETTLE_QUIET,
    hold_s: float = SETTLE_HOLD_S,
    window_s: float = 0.5,
    limit_s: float = 30.0,
) -> float:
    """Wait until every server process in `pids` has used less than `quiet` of a core in
    each `window_s` for `hold_s` in a row (at most `limit_s`); returns the seconds waited.

    A server that just started, or just finished a workload, may still be busy on its own
    (indexing, titles, cleanup); the next workload, on either server, should not share the
    machine with that. Upstream answers a delete before its work is done, and that work
    comes in bursts a second apart: half a second of quiet was not the end of it."""
    waited = 0.0
    held = 0.0
    while pids and waited < limit_s and held < hold_s:
        before = [procstat.cpu_seconds(pid) for pid in pids]
        await asyncio.sleep(window_s)
        waited += window_s
        after = [procstat.cpu_seconds(pid) for pid in pids]
        busy = [
            (b - a) / window_s
            for a, b in zip(before, after, strict=True)
            if a is not None and b is not None
        ]
        held = held + window_s if all(load < quiet for load in busy) else 0.0
    return waited


class ProcSampler:
    """Peak RSS of the server while a workload runs (sampled every 100 ms)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.peak_mb: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        assert self.pid is not None
        while True:
            rss = await asyncio.to_thread(procstat.rss_mb, self.pid)
            if rss is not None:
                self.peak_mb = max(self.peak_mb or 0.0, rss)
            await asyncio.sleep(0.1)

    def __enter__(self) -> ProcSampler:
        if self.pid is not None:
            self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def _create_sessions(
    client: httpx.AsyncClient, n: int, tag: str, name: str, track: set[str]
) -> list[str]:
    async def one(i: int) -> str:
        # Untitled, as a user's new session is: each server then asks the model for a title
        # beside the first prompt, as it does for users (the model server's titles start with
        # TITLE_PREFIX, so `--purge` finds the sessions afterwards).
        resp = await client.post("/session", json={})
        resp.raise_for_status()
        sid = str(resp.json()["id"])
        track.add(sid)
        return sid

    ids: list[str] = []
    for start in range(0, n, 16):
        ids += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 16))))
    return ids


def _check_answer(resp: httpx.Response) -> str | None:
    if resp.status_code != 200:
        return f"HTTP {resp.status_code}: {resp.text[:200]}"
    try:
        body = resp.json()
        info = body["info"]
    except (ValueError, KeyError, TypeError):
        return f"not a message: {resp.text[:200]}"
    if info.get("role") != "assistant":
        return f"answered a {info.get('role')!r} message"
    if info.get("error"):
        return f"assistant error: {str(info['error'])[:200]}"
    texts = [p.get("text", "") for p in body.get("parts", []) if p.get("type") == "text"]
    if not any(STAMP.search(text.encode()) for text in texts):
        return "the answer holds no stamped text"
    return None


async def _prompt_sessions(
    client: httpx.AsyncClient,
    ids: list[str],
    rounds: int,
    tag: str,
    on_done: Callable[[], None],
) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    model = {"providerID": PROVIDER_ID, "modelID": MODEL_ID}

    async def worker(sid: str) -> None:
        for turn in range(rounds):
            body = {
                "model": model,
                "parts": [{"type": "text", "text": prompt_text(tag, sid, turn)}],
            }
            start = perf_counter()
            try:
                resp = await client.post(f"/session/{sid}/message", json=body)
                problem = _check_answer(resp)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                latencies.append((perf_counter() - start) * 1000.0)
            else:
                errors.append(f"{sid} turn {turn}: {problem}")
            on_done()

    await asyncio.gather(*(worker(sid) for sid in ids))
    return latencies, errors


def _client(url: str, connections: int, directory: str | None) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=url, timeout=PROMPT_TIMEOUT, limits=limits, headers=directory_headers(directory)
    )


async def run_agent(
    url: str,
    concurrency: int,
    *,
    rounds: int,
    chunks: int,
    tag: str,
    label: str,
    pid: int | None,
    directory: str | None,
    track: set[str],
    progress: Progress | None = None,
) -> AgentResult:
    """`concurrency` sessions prompt `rounds` times each, at once; one subscriber times chunks.

    The subscriber runs in a process of its own, as the fan-out's do: in this one, it waited
    behind the prompts' HTTP work, and that wait was timed as the server's."""
    timer = SubscriberProcess(url, 1, directory, stamps=True)
    async with _client(url, concurrency, directory) as client:
        ids = await _create_sessions(client, concurrency, tag, f"agent c{concurrency}", track)
        try:
            await timer.start()
            await asyncio.sleep(0.2)
            total = concurrency * rounds
            task = (
                progress.add_task(f"{label} agent c={concurrency}", total=total)
                if progress
                else None
            )

            def advance() -> None:
                if progress is not None and task is not None:
                    progress.advance(task)

            timer.begin()
            cpu0 = procstat.cpu_seconds(pid) if pid else None
            client0 = process_time()
            start = perf_counter()
            with ProcSampler(pid) as sampler:
                latencies, errors = await _prompt_sessions(client, ids, rounds, tag, advance)
                elapsed = perf_counter() - start
            cpu1 = procstat.cpu_seconds(pid) if pid else None
            client_cpu = (process_time() - client0) / elapsed if elapsed > 0 else 0.0
            expected = len(latencies) * chunks
            report = await timer.drain(DRAIN_S)
        finally:
            await timer.close()
    ok = sorted(latencies)
    ended = ENDED in report.errors
    notes = [f"chunk timer: {e}" for e in report.errors]
    chunk_ms = sorted(report.lags_ms)
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    return AgentResult(
        label=label,
        server=url,
        concurrency=concurrency,
        prompts=total,
        errors=len(errors),
        elapsed_s=elapsed,
        prompts_per_s=len(ok) / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(ok, 50),
        p99_ms=percentile(ok, 99),
        max_ms=ok[-1] if ok else 0.0,
        chunks_expected=expected,
        chunks_seen=len(chunk_ms),
        chunk_p50_ms=percentile(chunk_ms, 50),
        chunk_p99_ms=percentile(chunk_ms, 99),
        chunk_max_ms=chunk_ms[-1] if chunk_ms else 0.0,
        event_stream_ended=ended,
        cpu_s=cpu,
        cpu_per_prompt_s=cpu / len(ok) if cpu is not None and ok else None,
        rss_peak_mb=sampler.peak_mb,
        client_cpu=client_cpu,
        error_samples=(notes + errors)[:ERROR_SAMPLES],
        params={"rounds": rounds, "chunks": chunks, "sessions": concurrency},
        session_ids=ids,
    )


async def run_fanout(
    url: str,
    *,
    subscribers: int,
    sessions: int,
    chunks: int,
    tag: str,
    label: str,
    directory: str | None,
    track: set[str],
    progress: Progress | None = None,
    drain_s: float = DRAIN_S,
    procs: int = FANOUT_PROCS,
) -> FanoutResult:
    """`subscribers` readers on `/event`, in `procs` processes of their own, while `sessions`
    sessions prompt once each."""
    procs = max(1, min(procs, subscribers))
    shares = [subscribers // procs + (1 if i < subscribers % procs else 0) for i in range(procs)]
    workers = [SubscriberProcess(url, n, directory) for n in shares]
    async with _client(url, sessions, directory) as client:
        ids = await _create_sessions(client, sessions, tag, "fanout", track)
        try:
            await asyncio.gather(*(w.start() for w in workers))
            await asyncio.sleep(0.5)
            task = (
                progress.add_task(f"{label} fan-out x{subscribers}", total=sessions)
                if progress
                else None
            )

            def advance() -> None:
                if progress is not None and task is not None:
                    progress.advance(task)

            for w in workers:
                w.begin()
            client0 = process_time()
            start_t = time.time()
            latencies, errors = await _prompt_sessions(client, ids, 1, tag, advance)
            expected = len(latencies) * chunks
            reports = await asyncio.gather(*(w.drain(drain_s) for w in workers))
        finally:
            await asyncio.gather(*(w.close() for w in workers))
    elapsed = max(max(r.last_arrival for r in reports), start_t) - start_t
    client_cpu = (process_time() - client0 + sum(r.cpu_s for r in reports)) / (elapsed or 1.0)
    counts = [c for r in reports for c in r.chunks]
    delivered = sum(e for r in reports for e in r.events)
    delivered_chunks = sum(counts)
    most = max(counts, default=0)
    lags = sorted(lag for r in reports for lag in r.lags_ms)
    sub_errors = [e for r in reports for e in r.errors]
    return FanoutResult(
        label=label,
        server=url,
        subscribers=subscribers,
        sessions=sessions,
        prompts=sessions,
        errors=len(errors),
        elapsed_s=elapsed,
        events_delivered=delivered,
        events_per_s=delivered / elapsed if elapsed > 0 else 0.0,
        chunks_delivered=delivered_chunks,
        chunks_per_s=delivered_chunks / elapsed if elapsed > 0 else 0.0,
        chunks_expected=expected,
        chunks_max=most,
        subscribers_short=sum(1 for c in counts if c < most) + subscribers - len(counts),
        chunks_dropped=sum(most - c for c in counts) + most * (subscribers - len(counts)),
        lag_samples=len(lags),
        lag_p50_ms=percentile(lags, 50),
        lag_p99_ms=percentile(lags, 99),
        lag_max_ms=lags[-1] if lags else 0.0,
        subscriber_errors=len(sub_errors),
        client_cpu=client_cpu,
        error_samples=(errors + sub_errors)[:ERROR_SAMPLES],
        session_ids=ids,
    )


async def delete_sessions(url: str, ids: set[str], directory: str | None) -> int:
    """Delete the bench's sessions (children go with them); returns how many were refused."""
    failed = 0
    async with _client(url, 16, directory) as client:
        pending = sorted(ids)

        async def one(sid: str) -> None:
            nonlocal failed
            try:
                # Bounded: a server may hold a delete behind a turn still running.
                resp = await client.delete(f"/session/{sid}", timeout=DELETE_TIMEOUT_S)
            except httpx.HTTPError:
                failed += 1
                return
            if resp.status_code in (200, 404):
                ids.discard(sid)
            else:
                failed += 1

        for start in range(0, len(pending), 16):
            await asyncio.gather(*(one(s) for s in pending[start : start + 16]))
    return failed
