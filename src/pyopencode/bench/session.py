"""Session workloads (create, delete, get, list) for any OpenCode-compatible server, over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Callable, Iterable, Sequence
from time import perf_counter, process_time
from typing import Any, Literal

import httpx
import orjson
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from pyopencode.bench.client import RawConnection
from pyopencode.bench.report import WorkloadResult, percentile

TITLE_PREFIX = "pyopencode-bench"
ERROR_SAMPLES = 5
# Large enough to mean "everything" for any realistic store; the API has no count endpoint.
ALL_LIMIT = 1_000_000_000
TIMEOUT = httpx.Timeout(60.0)
_JSON_HEADERS = {"content-type": "application/json"}

# "per-worker": one single-connection AsyncClient per worker (default). "shared": one AsyncClient
# whose pool holds `concurrency` connections; httpx's shared pool costs so much client CPU at
# 32+ waiters that it caps out near 300 req/s on loopback (encode/httpx#3215), i.e. it would
# measure the driver, not the server.
Pool = Literal["per-worker", "shared", "raw"]
POOLS: tuple[Pool, ...] = ("per-worker", "shared", "raw")

# Per-request response checker: returns an error description, or None if the response is good.
Check = Callable[[int, httpx.Response], str | None]
# Per-request description: (method, path, JSON body or None).
Build = Callable[[int], tuple[str, str, Any]]


def new_run_tag() -> str:
    """Short random tag that makes one run's session titles distinguishable from another's."""
    return secrets.token_hex(4)


def title_prefix(tag: str) -> str:
    """Title prefix shared by every session created under `tag`."""
    return f"{TITLE_PREFIX} {tag} "


def make_client(url: str, concurrency: int) -> httpx.AsyncClient:
    """AsyncClient whose pool holds at most `concurrency` connections."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=url.rstrip("/"), limits=limits, timeout=TIMEOUT)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    )


async def _warm_up(client: httpx.AsyncClient, connections: int) -> None:
    # Open every pooled connection before the clock starts so connects are not measured.
    async def one() -> None:
        resp = await client.get("/session", params={"limit": 1})
        resp.raise_for_status()

    await asyncio.gather(*(one() for _ in range(connections)))


async def _drive(
    *,
    name: str,
    url: str,
    total: int,
    concurrency: int,
    build: Build,
    check: Check | None = None,
    label: str = "",
    params: dict[str, Any] | None = None,
    on_done: Callable[[], None] | None = None,
    pool: Pool = "per-worker",
    warm_up: bool = True,
) -> WorkloadResult:
    """Issue `total` requests from `concurrency` workers and summarise them."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}")
    latencies: list[float] = []
    samples: list[str] = []
    errors = 0
    counter = itertools.count()
    workers = min(concurrency, total)

    def fail(message: str) -> None:
        nonlocal errors
        errors += 1
        if len(samples) < ERROR_SAMPLES:
            samples.append(message)

    async def worker(client: httpx.AsyncClient | RawConnection) -> None:
        while (i := next(counter)) < total:
            method, path, body = build(i)
            content = None if body is None else orjson.dumps(body)
            headers = None if body is None else _JSON_HEADERS
            t0 = perf_counter()
            try:
                resp = await client.request(method, path, content=content, headers=headers)
            except (httpx.HTTPError, httpx.TransportError) as exc:
                latencies.append(perf_counter() - t0)
                fail(f"{method} {path}: {type(exc).__name__}: {exc}")
            else:
                latencies.append(perf_counter() - t0)
                if not resp.is_success:
                    fail(f"{method} {path} -> {resp.status_code}: {resp.text[:200]}")
                elif check is not None and (problem := check(i, resp)) is not None:
                    fail(f"{method} {path} -> {resp.status_code}: {problem}")
            if on_done is not None:
                on_done()

    async with contextlib.AsyncExitStack() as stack:
        clients: list[httpx.AsyncClient] | list[RawConnection]
        if pool == "raw":
            # Opened before the clock starts, so connects are not measured.
            clients = [
                await stack.enter_async_context(RawConnection(url, 60.0)) for _ in range(workers)
            ]
        elif pool == "shared":
            shared = await stack.enter_async_context(make_client(url, max(workers, 1)))
            clients = [shared] * workers
            if warm_up and workers:
                await _warm_up(shared, workers)
        else:
            clients = [await stack.enter_async_context(make_client(url, 1)) for _ in range(workers)]
            if warm_up:
                await asyncio.gather(*(_warm_up(c, 1) for c in clients))
        start = perf_counter()
        cpu_start = process_time()
        await asyncio.gather(*(worker(c) for c in clients))
        elapsed = perf_counter() - start
        cpu = process_time() - cpu_start

    latencies.sort()
    ok = total - errors
    return WorkloadResult(
        name=name,
        server=url,
        concurrency=concurrency,
        requests=total,
        errors=errors,
        elapsed_s=elapsed,
        # Only successful requests count, so a server failing fast cannot look fast.
        throughput=ok / elapsed if elapsed > 0 else 0.0,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else 0.0,
        label=label,
        error_samples=samples,
        params=dict(params or {}),
        client_cpu=cpu / elapsed if elapsed > 0 else 0.0,
        pool=pool,
    )


def _json(resp: httpx.Response) -> Any:
    return orjson.loads(resp.content)


async def _create(
    url: str,
    total: int,
    concurrency: int,
    *,
    name: str,
    tag: str,
    label: str,
    pool: Pool,
    track: set[str] | None = None,
    on_done: Callable[[], None] | None = None,
) -> WorkloadResult:
    slots: list[str | None] = [None] * total

    def build(i: int) -> tuple[str, str, Any]:
        return "POST", "/session", {"title": f"{title_prefix(tag)}{name} {i}"}

    def check(i: int, resp: httpx.Response) -> str | None:
        try:
            sid = _json(resp)["id"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return f"no session id in body: {resp.text[:200]}"
        if not isinstance(sid, str):
            return f"session id is not a string: {sid!r}"
        slots[i] = sid
        if track is not None:
            track.add(sid)
        return None

    result = await _drive(
        name=name,
        url=url,
        total=total,
        concurrency=concurrency,
        build=build,
        check=check,
        label=label,
        params={"tag": tag},
        on_done=on_done,
        pool=pool,
    )
    result.ids = [sid for sid in slots if sid is not None]
    return result


async def run_create(
    url: str,
    total: int,
    concurrency: int,
    *,
    label: str = "",
    tag: str | None = None,
    pool: Pool = "per-worker",
    track: set[str] | None = None,
) -> WorkloadResult:
    """`total` POST /session from `concurrency` workers; `.ids` holds the created ids.

    Each id is also added to `track` the moment it exists, so an interrupted run can clean up.
    """
    tag = tag or new_run_tag()
    return await _create(
        url, total, concurrency, name="create", tag=tag, label=label, pool=pool, track=track
    )


async def run_delete(
    url: str,
    ids: Sequence[str],
    concurrency: int,
    *,
    label: str = "",
    name: str = "delete",
    missing_ok: bool = False,
    pool: Pool = "per-worker",
    track: set[str] | None = None,
    on_done: Callable[[], None] | None = None,
) -> WorkloadResult:
    """DELETE /session/{id} for every id; `.ids` holds the ids confirmed gone.

    Each deleted id is also removed from `track` as soon as the server confirms it.
    """
    gone: list[bool] = [False] * len(ids)

    def build(i: int) -> tuple[str, str, Any]:
        return "DELETE", f"/session/{ids[i]}", None

    def check(i: int, resp: httpx.Response) -> str | None:
        gone[i] = True
        if track is not None:
            track.discard(ids[i])
        return None

    result = await _drive(
        name=name,
        url=url,
        total=len(ids),
        concurrency=concurrency,
        build=build,
        check=check,
        label=label,
        on_done=on_done,
        pool=pool,
    )
    if missing_ok:
        # Cleanup only: a 404 means someone else already removed it, which is what we wanted.
        missing = await _missing(url, [sid for sid, ok in zip(ids, gone, strict=True) if not ok])
        gone = [ok or sid in missing for sid, ok in zip(ids, gone, strict=True)]
    result.ids = [sid for sid, ok in zip(ids, gone, strict=True) if ok]
    if track is not None:
        track.difference_update(result.ids)
    return result


async def _missing(url: str, ids: Sequence[str]) -> set[str]:
    missing: set[str] = set()
    if not ids:
        return missing
    async with make_client(url, 1) as client:
        for sid in ids:
            try:
                resp = await client.get(f"/session/{sid}")
            except httpx.HTTPError:
                continue
            if resp.status_code == 404:
                missing.add(sid)
    return missing


async def run_get(
    url: str,
    ids: Sequence[str],
    concurrency: int,
    *,
    requests: int | None = None,
    label: str = "",
    pool: Pool = "per-worker",
) -> WorkloadResult:
    """GET /session/{id}, cycling over `ids` for `requests` requests (default: each id once)."""
    if not ids:
        raise ValueError("run_get needs at least one session id")
    total = len(ids) if requests is None else requests

    def build(i: int) -> tuple[str, str, Any]:
        return "GET", f"/session/{ids[i % len(ids)]}", None

    def check(i: int, resp: httpx.Response) -> str | None:
        try:
            got = _json(resp).get("id")
        except (orjson.JSONDecodeError, AttributeError):
            return f"not a session object: {resp.text[:200]}"
        expected = ids[i % len(ids)]
        return None if got == expected else f"asked for {expected}, got id {got!r}"

    return await _drive(
        name="get",
        url=url,
        total=total,
        concurrency=concurrency,
        build=build,
        check=check,
        label=label,
        params={"distinct_ids": len(ids)},
        pool=pool,
    )


async def run_list(
    url: str,
    requests: int,
    concurrency: int,
    limit: int = 100,
    *,
    label: str = "",
    stored: int | None = None,
    pool: Pool = "per-worker",
) -> WorkloadResult:
    """`requests` GET /session?limit=`limit`; `stored` is recorded as context only."""
    path = f"/session?limit={limit}"
    sizes: set[int] = set()

    def build(i: int) -> tuple[str, str, Any]:
        return "GET", path, None

    def check(i: int, resp: httpx.Response) -> str | None:
        try:
            body = _json(resp)
        except orjson.JSONDecodeError:
            return f"not JSON: {resp.text[:200]}"
        if not isinstance(body, list):
            return f"expected a JSON array, got {type(body).__name__}"
        if len(body) > limit:
            return f"limit={limit} but {len(body)} sessions returned"
        sizes.add(len(body))
        return None

    params: dict[str, Any] = {"limit": limit}
    if stored is not None:
        params["stored_sessions"] = stored
    result = await _drive(
        name=f"list{limit}",
        url=url,
        total=requests,
        concurrency=concurrency,
        build=build,
        check=check,
        label=label,
        params=params,
        pool=pool,
    )
    result.params["returned"] = sorted(sizes)
    return result


async def seed(
    url: str,
    count: int,
    concurrency: int,
    *,
    label: str = "",
    tag: str | None = None,
    progress: bool = True,
    pool: Pool = "per-worker",
    track: set[str] | None = None,
) -> WorkloadResult:
    """Create `count` bench sessions as fast as possible, with a progress bar; `.ids` has them."""
    tag = tag or new_run_tag()
    if not progress:
        return await _create(
            url, count, concurrency, name="seed", tag=tag, label=label, pool=pool, track=track
        )
    with _progress() as bar:
        task = bar.add_task(f"seeding {label or url}", total=count)
        return await _create(
            url,
            count,
            concurrency,
            name="seed",
            tag=tag,
            label=label,
            pool=pool,
            track=track,
            on_done=lambda: bar.advance(task),
        )


async def cleanup(
    url: str,
    ids: Iterable[str],
    concurrency: int,
    *,
    label: str = "",
    progress: bool = True,
    track: set[str] | None = None,
) -> WorkloadResult:
    """Delete `ids`, treating already-missing sessions as deleted; `.ids` has those gone."""
    todo = list(ids)
    if not progress or not todo:
        return await run_delete(
            url, todo, concurrency, label=label, name="cleanup", missing_ok=True, track=track
        )
    with _progress() as bar:
        task = bar.add_task(f"cleaning {label or url}", total=len(todo))
        return await run_delete(
            url,
            todo,
            concurrency,
            label=label,
            name="cleanup",
            missing_ok=True,
            track=track,
            on_done=lambda: bar.advance(task),
        )


async def list_all(url: str) -> list[dict[str, Any]]:
    """Every session the server lists (the API has no count endpoint, so ask for a huge page)."""
    async with make_client(url, 1) as client:
        resp = await client.get("/session", params={"limit": ALL_LIMIT})
        resp.raise_for_status()
        body = _json(resp)
    if not isinstance(body, list):
        raise TypeError(f"GET /session returned {type(body).__name__}, expected a list")
    return body


async def count_sessions(url: str) -> int:
    """Number of sessions the server lists."""
    return len(await list_all(url))


async def purge(
    url: str, concurrency: int, *, prefix: str = TITLE_PREFIX, progress: bool = True
) -> WorkloadResult:
    """Delete bench sessions whose title starts with `prefix` (default: every bench run's)."""
    ids = [
        s["id"]
        for s in await list_all(url)
        if isinstance(s, dict) and str(s.get("title", "")).startswith(prefix)
    ]
    return await cleanup(url, ids, concurrency, label=url, progress=progress)
