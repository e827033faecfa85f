"""History checker: judges recorded requests alone, knowing nothing of the workloads."""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pyopencode.check.history import Entry

# Operations whose 404 means "this session does not exist" and whose 2xx means it does.
_TARGETED = ("get", "patch", "prompt", "children", "messages", "delete")

# A create under a parent that is gone may be refused either way.
_PARENT_MISSING = (400, 404)

KINDS = {
    "ghost": "shown to exist after its delete was acknowledged",
    "orphan": "shown to exist after an ancestor's delete was acknowledged",
    "residue": "children or messages still served after the delete was acknowledged",
    "lost": "missing although its create was acknowledged and no delete had started",
    "lost-message": "acknowledged message missing from a later read of its live session",
    "stale-read": "title older than an update acknowledged before the read started",
    "double-ack": "more than one delete acknowledged for the same session",
    "no-ack": "every delete of a live session answered 404",
    "read-failed": "a list failed (reads must not fail because of concurrent writes)",
    "server-error": "5xx answer",
    "transport-error": "no HTTP answer (connection error or timeout)",
    "unexpected-status": "an answer the API does not give for this call",
}


@dataclass
class Violation:
    """One broken promise, with the requests that prove it."""

    kind: str
    session: str | None
    message: str
    entries: list[Entry]
    repeats: int = 0


@dataclass
class Report:
    """The verdict on one workload's history."""

    workload: str
    requests: int = 0
    creates_acked: int = 0
    deletes_acked: int = 0
    judged: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for v in self.violations:
            counts[v.kind] += 1 + v.repeats
        return dict(counts)

    def ids(self, kinds: Iterable[str]) -> list[str]:
        wanted = set(kinds)
        found = {v.session for v in self.violations if v.kind in wanted and v.session}
        return sorted(s for s in found if s is not None)


@dataclass
class _Observation:
    entry: Entry
    session: str
    present: bool
    # "ghost" if a present session here means it exists; "residue" if it means leftovers.
    kind: str = "ghost"


class _Facts:
    """What the history says was created, deleted and renamed, indexed by session."""

    def __init__(self, entries: list[Entry]) -> None:
        self.created: dict[str, Entry] = {}
        self.parent: dict[str, str] = {}
        self.deletes: dict[str, list[Entry]] = defaultdict(list)
        # Title writes per session: (title, start, end); end is inf when the outcome is unknown.
        self.writes: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
        self.prompts: list[Entry] = []
        for e in entries:
            if e.op == "create" and e.ok and e.session:
                self.created[e.session] = e
                if e.parent:
                    self.parent[e.session] = e.parent
                title = e.request.get("title") if isinstance(e.request, dict) else None
                if isinstance(title, str):
                    self.writes[e.session].append((title, e.start, e.end))
            elif e.op == "delete" and e.session:
                self.deletes[e.session].append(e)
            elif e.op == "patch" and e.session and isinstance(e.request, dict):
                title = e.request.get("title")
                unknown = e.status is None or e.status >= 500
                if isinstance(title, str) and (e.ok or unknown):
                    self.writes[e.session].append((title, e.start, e.end if e.ok else math.inf))
            elif e.op == "prompt" and e.ok and e.session and e.messages:
                self.prompts.append(e)

        self.kids: dict[str, list[str]] = defaultdict(list)
        for child, parent in self.parent.items():
            self.kids[parent].append(child)
        self._gone: dict[str, Entry | None] = {}
        self._first_delete: dict[str, float] = {}

    def lineage(self, session: str) -> Iterator[str]:
        """The session itself, then its parent, grandparent, ..."""
        seen: set[str] = set()
        current: str | None = session
        while current is not None and current not in seen:
            seen.add(current)
            yield current
            current = self.parent.get(current)

    def deletes_over(self, session: str) -> list[Entry]:
        """Every delete that removes this session: of itself or of an ancestor."""
        return [d for s in self.lineage(session) for d in self.deletes.get(s, ())]

    def gone_by(self, session: str) -> Entry | None:
        """The acknowledged delete that ended first among those that remove this session."""
        if session not in self._gone:
            acked = [d for d in self.deletes_over(session) if d.ok]
            self._gone[session] = min(acked, key=lambda d: d.end) if acked else None
        return self._gone[session]

    def first_delete(self, session: str) -> float:
        """When the first delete that could remove this session started (inf if none did)."""
        if session not in self._first_delete:
            starts = [d.start for d in self.deletes_over(session)]
            self._first_delete[session] = min(starts, default=math.inf)
        return self._first_delete[session]


def _observations(e: Entry, facts: _Facts) -> Iterator[_Observation]:
    if e.status is None or e.status >= 500:
        return
    if e.op == "list" and e.ok and e.seen is not None:
        # Absences from lists are found by _list_absences, which scales to long histories.
        for sid in e.seen:
            yield _Observation(e, sid, True)
        return
    if e.op == "create" and e.parent and e.status in _PARENT_MISSING:
        yield _Observation(e, e.parent, False)
        return
    if e.op not in _TARGETED or e.session is None:
        return
    if e.status == 404:
        yield _Observation(e, e.session, False)
        return
    if not e.ok or e.op == "delete":
        return
    if e.op == "children":
        yield _Observation(e, e.session, True, "residue")
        seen = e.seen or {}
        for sid in seen:
            yield _Observation(e, sid, True)
        for sid in facts.kids.get(e.session, ()):
            if sid not in seen:
                yield _Observation(e, sid, False)
    elif e.op == "messages":
        # An empty list says nothing: some servers answer [] for sessions they do not know.
        if e.messages:
            yield _Observation(e, e.session, True, "residue")
    else:
        yield _Observation(e, e.session, True)


def _shown(e: Entry, sid: str) -> str:
    if e.op == "list":
        return "still listed by GET /session"
    if e.op == "children":
        return "still listed as a child" if sid != e.session else "GET children answered 200"
    if e.op == "messages":
        return f"still served {len(e.messages or ())} message(s)"
    return f"{e.method} {e.path} answered {e.status}"


class _Collector:
    """Keeps the first violation per (kind, session) and counts the repeats."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str | None], Violation] = {}

    def add(self, kind: str, session: str | None, message: str, *entries: Entry) -> None:
        key = (kind, session)
        if key in self.found:
            self.found[key].repeats += 1
        else:
            self.found[key] = Violation(kind, session, message, list(entries))


def _check_statuses(entries: list[Entry], out: _Collector) -> None:
    for e in entries:
        if e.status is None:
            if e.error != "cancelled":
                out.add("transport-error", e.session, f"{e.method} {e.path}: {e.error}", e)
        elif e.status >= 500:
            out.add("server-error", e.session, f"{e.method} {e.path} answered {e.status}", e)
        elif e.op == "list" and not e.ok:
            out.add("read-failed", None, f"list answered {e.status}", e)
        elif e.op == "create" and e.parent and e.status in _PARENT_MISSING:
            continue  # judged as a read of the parent
        elif not e.ok and not (e.status == 404 and e.op in _TARGETED):
            # Keyed by path so distinct misbehaving calls each show up once.
            out.add("unexpected-status", f"{e.method} {e.path}", f"{e.op} answered {e.status}", e)


def _list_absences(entries: list[Entry], facts: _Facts) -> Iterator[_Observation]:
    """Each session a complete list should have shown: created before it began, no delete
    started before it ended. A sweep keeps only sessions that could qualify in view."""
    lists = sorted((e for e in entries if e.op == "list" and e.ok and e.complete), key=_start)
    order = sorted(facts.created.values(), key=_end)
    candidates: list[tuple[float, str]] = []
    i = 0
    for e in lists:
        while i < len(order) and order[i].end < e.start:
            sid = order[i].session
            assert sid is not None
            heapq.heappush(candidates, (facts.first_delete(sid), sid))
            i += 1
        # A delete that began before this list began excuses this list and every later one.
        while candidates and candidates[0][0] < e.start:
            heapq.heappop(candidates)
        seen = e.seen or {}
        for first_delete, sid in candidates:
            if first_delete >= e.end and sid not in seen:
                yield _Observation(e, sid, False)


def _start(e: Entry) -> float:
    return e.start


def _end(e: Entry) -> float:
    return e.end


def _check_visibility(entries: list[Entry], facts: _Facts, out: _Collector) -> int:
    judged = 0
    observations = (o for e in entries for o in _observations(e, facts))
    for obs in itertools.chain(observations, _list_absences(entries, facts)):
        judged += 1
        e, sid = obs.entry, obs.session
        if obs.present:
            gone = facts.gone_by(sid)
            # (a) only reads that started after the delete's answer ended are judged.
            if gone is not None and gone.end < e.start:
                own = gone.session == sid
                what = "its" if own else f"ancestor {gone.session}'s"
                out.add(
                    obs.kind if own or obs.kind == "residue" else "orphan",
                    sid,
                    f"{sid} {_shown(e, sid)} after {what} delete was acknowledged",
                    gone,
                    e,
                )
            continue
        created = facts.created.get(sid)
        if created is None or created.end >= e.start:
            continue
        # (b) a read overlapping or following any delete attempt is excused: that delete may
        # have taken effect whatever it answered. A 404 delete does not excuse itself.
        if facts.first_delete(sid) < e.end and (
            e.op != "delete" or any(d is not e and d.start < e.end for d in facts.deletes_over(sid))
        ):
            continue
        out.add("lost", sid, f"{sid} missing from {e.op} ({e.status})", created, e)
    return judged


def _check_deletes(facts: _Facts, out: _Collector) -> None:
    for sid, own in facts.deletes.items():
        acked = [d for d in own if d.ok]
        if len(acked) > 1:
            out.add("double-ack", sid, f"{len(acked)} deletes of {sid} answered 2xx", *acked)
        ancestors = [d for a in list(facts.lineage(sid))[1:] for d in facts.deletes.get(a, ())]
        for d in acked:
            earlier = [a for a in ancestors if a.ok and a.end < d.start]
            if earlier:
                out.add(
                    "double-ack",
                    sid,
                    f"delete of {sid} answered 2xx after ancestor {earlier[0].session}'s "
                    "delete had removed it",
                    earlier[0],
                    d,
                )
        if sid in facts.created and not ancestors and own and all(d.status == 404 for d in own):
            out.add("no-ack", sid, f"all {len(own)} deletes of {sid} answered 404", *own)


def _check_titles(entries: list[Entry], facts: _Facts, out: _Collector) -> None:
    for e in entries:
        if e.op not in ("get", "list", "children") or not e.ok or not e.seen:
            continue
        for sid, title in e.seen.items():
            writes = facts.writes.get(sid)
            if not writes:
                continue
            match = [w for w in writes if w[0] == title and w[1] < e.end]
            if not match:
                out.add("stale-read", sid, f"{sid} showed title {title!r}, never written", e)
                continue
            _, _, written_end = match[0]
            newer = [w for w in writes if written_end < w[1] and w[2] < e.start]
            if newer:
                out.add(
                    "stale-read",
                    sid,
                    f"{sid} showed {title!r} after {newer[0][0]!r} was acknowledged",
                    e,
                )


def _check_messages(entries: list[Entry], facts: _Facts, out: _Collector) -> None:
    reads: dict[str, list[tuple[Entry, list[str]]]] = defaultdict(list)
    for e in entries:
        if e.op == "messages" and e.ok and e.session and e.messages is not None:
            reads[e.session].append((e, e.messages))
    for p in facts.prompts:
        assert p.session is not None and p.messages
        message = p.messages[0]
        deletes = facts.deletes_over(p.session)
        for r, listed in reads.get(p.session, ()):
            if r.start <= p.end or any(d.start < r.end for d in deletes):
                continue
            if message not in listed:
                out.add(
                    "lost-message",
                    p.session,
                    f"message {message} of {p.session} missing from a later read",
                    p,
                    r,
                )


def verify(entries: list[Entry], workload: str = "") -> Report:
    """Judge one workload's history; the report lists every broken promise."""
    facts = _Facts(entries)
    out = _Collector()
    _check_statuses(entries, out)
    judged = _check_visibility(entries, facts, out)
    _check_deletes(facts, out)
    _check_titles(entries, facts, out)
    _check_messages(entries, facts, out)
    return Report(
        workload=workload,
        requests=len(entries),
        creates_acked=len(facts.created),
        deletes_acked=sum(1 for e in entries if e.op == "delete" and e.ok),
        judged=judged,
        violations=list(out.found.values()),
    )
