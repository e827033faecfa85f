"""End-to-end: the hot session routes answer exactly what the FastAPI routes answer.

Both servers mark fast-path answers (PYOPENCODE_HOT_TRACE=1), so the tests also prove that the
fast path served what it should: were every request to fall through, the answers would still
match, and only that marker would tell.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serverproc import RunningServer

TIMEOUT_S = 15.0
MAX_BODY = 64 * 1024
UNKNOWN = "ses_0000000000000000000000unknown"
# Stands in for the per-server id of the seeded parent session in request bodies.
PARENT = "{parent}"
TARGET = "{target}"
ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
DEFAULT_TITLE = re.compile(rf"^((?:New|Child) session - ){ISO}$")
SLUG = re.compile(r"^[a-z]+-[a-z]+$")
SERVED = "x-pyopencode-served"
Json = dict[str, Any]


# --------------------------------------------------------------------------- servers


@dataclass
class Side:
    """One server, its client, and the ids a request template may name on it."""

    server: RunningServer
    client: httpx.Client
    # Placeholder -> this server's value; reversed to map answers back to placeholders.
    values: dict[str, str] = field(default_factory=dict)
    # Session id -> role, so sessions compare across servers by what they are for.
    roles: dict[str, str] = field(default_factory=dict)


@dataclass
class Pair:
    hot: Side
    cold: Side
    cwd: Path
    sub: Path


def _git_repo(path: Path) -> None:
    # A real project, so projectID and path come from git rather than the "global" fallback.
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q", str(path)], check=True)
    subprocess.run(
        [*git, "-C", str(path), "commit", "-q", "--allow-empty", "-m", "root"], check=True
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    base = tmp_path_factory.mktemp("hot-routes")
    cwd = base / "work"
    cwd.mkdir()
    _git_repo(cwd)
    sub = cwd / "sub dir é"
    sub.mkdir()
    servers: list[RunningServer] = []
    try:
        for name, flag in (("hot", "1"), ("cold", "0")):
            server = RunningServer(
                data_dir=base / f"data-{name}",
                cwd=cwd,
                extra_args=["--max-body-bytes", str(MAX_BODY)],
                env={"PYOPENCODE_HOT_ROUTES": flag, "PYOPENCODE_HOT_TRACE": "1"},
            )
            servers.append(server)
            server.start()
        with (
            httpx.Client(base_url=servers[0].url, timeout=TIMEOUT_S) as hot,
            httpx.Client(base_url=servers[1].url, timeout=TIMEOUT_S) as cold,
        ):
            sides = []
            for server, client in zip(servers, (hot, cold), strict=True):
                side = Side(server, client, values={"{url}": server.url})
                parent = client.post("/session", json={"title": "parent"})
                assert parent.status_code == 200, parent.text
                side.values[PARENT] = parent.json()["id"]
                side.roles[parent.json()["id"]] = "parent"
                sides.append(side)
            yield Pair(sides[0], sides[1], cwd, sub)
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.kill()
                server.proc.wait()


# --------------------------------------------------------------------------- comparison


def normalize(value: Any, roles: dict[str, str]) -> Any:
    """A session (or list of them) with what differs between two servers replaced by tags."""
    if isinstance(value, list):
        return [normalize(v, roles) for v in value]
    if not (isinstance(value, dict) and str(value.get("id", "")).startswith("ses")):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key == "id":
            item = roles.get(item, "<id>")
        elif key == "slug":
            assert SLUG.match(item), item
            item = "<slug>"
        elif key == "time":
            assert isinstance(item["created"], int) and isinstance(item["updated"], int), item
            item = {k: "<ms>" if k in ("created", "updated") else v for k, v in item.items()}
        elif key == "title" and isinstance(item, str):
            item = DEFAULT_TITLE.sub(r"\1<iso>", item)
        elif key == "parentID":
            item = roles.get(item, item)
        out[key] = item
    return out


def _unsubstitute(text: str, side: Side) -> str:
    for placeholder, value in side.values.items():
        text = text.replace(value, placeholder)
    return text


def assert_same(pair: Pair, hot: httpx.Response, cold: httpx.Response) -> None:
    where = f"{hot.request.method} {hot.request.url.raw_path!r}"
    answers = (
        f"hot {hot.status_code} {hot.text[:300]!r}\ncold {cold.status_code} {cold.text[:300]!r}"
    )
    assert hot.status_code == cold.status_code, f"{where}\n{answers}"
    assert SERVED not in cold.headers, f"{where}: the server without a fast path used one"
    assert hot.headers.get("content-type") == cold.headers.get("content-type"), where
    if 300 <= hot.status_code < 400:
        location = [
            _unsubstitute(r.headers.get("location", ""), s) for r, s in _sides(pair, hot, cold)
        ]
        assert location[0] == location[1], where
    if hot.headers.get("content-type") != "application/json":
        assert hot.content == cold.content, f"{where}\n{answers}"
        return
    if 200 <= hot.status_code < 300:
        got = [normalize(r.json(), s.roles) for r, s in _sides(pair, hot, cold)]
        if isinstance(got[0], dict) and isinstance(got[1], dict):
            assert list(got[0]) == list(got[1]), f"{where}: key order"
        # orjson keeps key order, so nested objects (tokens, time, metadata) compare in order too.
        assert orjson.dumps(got[0]) == orjson.dumps(got[1]), f"{where}\n{got[0]}\n{got[1]}"
        return
    texts = [_unsubstitute(r.text, s) for r, s in _sides(pair, hot, cold)]
    assert json.loads(texts[0]) == json.loads(texts[1]), f"{where}\n{answers}"
    assert texts[0] == texts[1], f"{where}: same JSON, different bytes\n{answers}"


def _sides(
    pair: Pair, hot: httpx.Response, cold: httpx.Response
) -> list[tuple[httpx.Response, Side]]:
    return [(hot, pair.hot), (cold, pair.cold)]


# Directories must exist (400 otherwise); `/` is outside any git repository: project global.
LISTINGS = ("", "&directory=/&scope=project")


def listing(side: Side) -> Counter[bytes]:
    """Every session the server lists (cwd's project and the "global" one), normalized."""
    found: Counter[bytes] = Counter()
    for query in LISTINGS:
        response = side.client.get(f"/session?limit=10000{query}")
        assert response.status_code == 200, response.text
        found.update(orjson.dumps(normalize(s, side.roles)) for s in response.json())
    return found


Snapshot = tuple[Counter[bytes], Counter[bytes]]


def snapshot(pair: Pair) -> Snapshot:
    return listing(pair.hot), listing(pair.cold)


def assert_same_change(pair: Pair, before: Snapshot) -> None:
    """One test's requests added and removed the same sessions on both servers.

    Comparing the change, not the totals, keeps one real difference from failing every later
    test; `test_same_sessions_after_all` compares the totals.
    """
    after = snapshot(pair)
    changes = [(a - b, b - a) for a, b in zip(after, before, strict=True)]
    assert changes[0] == changes[1], f"hot (added, removed) {changes[0]}\ncold {changes[1]}"


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    query: str = ""
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False


def send(pair: Pair, side: Side, req: Req) -> httpx.Response:
    values = {
        **side.values,
        "{cwd}": str(pair.cwd),
        "{cwd_q}": quote(str(pair.cwd), safe=""),
        "{sub_q}": quote(str(pair.sub), safe=""),
    }

    def fill(text: str) -> str:
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    url = fill(req.path) + (f"?{fill(req.query)}" if req.query else "")
    headers = [(k, fill(v)) for k, v in req.headers]
    content: bytes | Iterator[bytes] | None = None
    if req.body is not None:
        body = fill(req.body.decode("latin-1")).encode("latin-1")
        content = iter([body[:5], body[5:]]) if req.chunked else body
    return side.client.request(req.method, url, content=content, headers=headers)


def send_both(pair: Pair, req: Req) -> tuple[httpx.Response, httpx.Response]:
    return send(pair, pair.hot, req), send(pair, pair.cold, req)


JSON = (("content-type", "application/json"),)


def post(
    body: bytes | None = None,
    query: str = "",
    headers: tuple[tuple[str, str], ...] = JSON,
    chunked: bool = False,
) -> Req:
    return Req("POST", "/session", query, body, headers, chunked)


def nested(depth: int) -> bytes:
    return b'{"metadata": {"x": ' + b"[" * depth + b"]" * depth + b"}}"


CREATE_CASES = [
    pytest.param(post(headers=()), id="no-body"),
    pytest.param(post(b""), id="empty-body-json-type"),
    pytest.param(post(b"{}"), id="empty-object"),
    pytest.param(post(b"null"), id="null-body"),
    pytest.param(post(b'{"title": "hello"}'), id="title"),
    pytest.param(post('{"title": "héllo ✓ 😀"}'.encode()), id="unicode-title"),
    pytest.param(post(b'{"parentID": "{parent}"}'), id="parent"),
    pytest.param(post(b'{"parentID": "{parent}", "title": "kid"}'), id="parent-titled"),
    pytest.param(post(f'{{"parentID": "{UNKNOWN}"}}'.encode()), id="parent-missing"),
    pytest.param(post(b'{"parentID": "abc"}'), id="parent-no-prefix"),
    pytest.param(post(b'{"title": "x", "bogus": 1}'), id="unknown-field"),
    pytest.param(post(b'{"title": 1}'), id="title-int"),
    pytest.param(post(b'{"metadata": "x"}'), id="metadata-string"),
    pytest.param(post(b'{"permission": [{}]}'), id="permission-empty-rule"),
    pytest.param(post(b'{"title": null}'), id="null-field"),
    pytest.param(
        post(b'{"model": {"id": "m", "providerID": "p", "variant": null}}'), id="null-nested"
    ),
    pytest.param(
        post(
            b'{"title": "full", "agent": "build", "model": {"id": "m", "providerID": "p"},'
            b' "metadata": {"b": [1, 2.5, null, true], "a": {"z": 1, "y": 2}},'
            b' "permission": [{"permission": "edit", "pattern": "*", "action": "ask"}],'
            b' "workspaceID": "wrk_1"}'
        ),
        id="all-fields",
    ),
    pytest.param(post(b'{"workspaceID": "abc"}'), id="workspace-no-prefix"),
    pytest.param(post(b'{"title": "x"'), id="malformed-json"),
    pytest.param(post(b"[]"), id="array-body"),
    pytest.param(post(b'[{"title": "x"}]'), id="array-of-object"),
    pytest.param(post(b'"title"'), id="string-body"),
    pytest.param(post(b"1"), id="number-body"),
    pytest.param(post(b"\xef\xbb\xbf{}"), id="bom"),
    pytest.param(post(b'{"title": "\xff"}'), id="invalid-utf8"),
    pytest.param(post(b'{"title": "\\ud800"}'), id="lone-surrogate"),
    pytest.param(post(b'{"title": "a", "title": "b"}'), id="duplicate-key"),
    pytest.param(post(b'{"metadata": {"n": 123456789012345678901234567890}}'), id="huge-int"),
    pytest.param(post(b'{"metadata": {"n": NaN}}'), id="nan"),
    pytest.param(post(nested(200)), id="nested-200"),
    pytest.param(post(nested(600)), id="nested-600"),
    pytest.param(post(nested(2000)), id="nested-2000"),
    pytest.param(
        post(b'{"title": "t"}', headers=(("content-type", "text/plain"),)), id="text-plain"
    ),
    pytest.param(post(b"", headers=(("content-type", "text/plain"),)), id="text-plain-empty"),
    pytest.param(post(b'{"title": "t"}', headers=()), id="no-content-type"),
    pytest.param(
        post(b'{"title": "t"}', headers=(("content-type", "application/json; charset=utf-8"),)),
        id="json-charset",
    ),
    pytest.param(
        post(b'{"title": "t"}', headers=(("content-type", "Application/JSON"),)), id="json-upper"
    ),
    pytest.param(
        post(b'{"title": "t"}', headers=(("content-type", "application/vnd.x+json"),)),
        id="plus-json",
    ),
    pytest.param(post(b'{"title": "chunked"}', chunked=True), id="chunked"),
    pytest.param(
        post(b'{"title": "' + b"x" * (MAX_BODY + 10) + b'"}', chunked=True), id="chunked-413"
    ),
    pytest.param(post(b'{"title": "' + b"x" * (MAX_BODY + 10) + b'"}'), id="length-413"),
    pytest.param(post(b"{}", query="directory={cwd}"), id="q-directory-cwd"),
    pytest.param(post(b"{}", query="directory={sub_q}"), id="q-directory-sub"),
    pytest.param(post(b"{}", query="directory="), id="q-directory-blank"),
    pytest.param(post(b"{}", query="directory"), id="q-directory-bare"),
    pytest.param(post(b"{}", query="foo=1"), id="q-unknown"),
    pytest.param(post(b"{}", query="directory={cwd}&directory={sub_q}"), id="q-repeated"),
    pytest.param(post(b"{}", query="directory=/nonexistent/path/x"), id="q-nonexistent"),
    pytest.param(post(b"{}", query="directory=relative/dir"), id="q-relative"),
    pytest.param(post(b"{}", query="directory=%00"), id="q-nul"),
    pytest.param(post(b"{}", query="directory=" + "a" * 4097), id="q-too-long"),
    pytest.param(post(b"{}", query="workspace=w"), id="q-workspace"),
    pytest.param(post(b"{}", query="workspace=" + "w" * 4097), id="q-workspace-too-long"),
    pytest.param(
        post(b"{}", headers=(*JSON, ("x-opencode-directory", "{sub_q}"))), id="header-directory"
    ),
    pytest.param(
        post(b"{}", query="directory=", headers=(*JSON, ("x-opencode-directory", "{sub_q}"))),
        id="header-with-blank-query",
    ),
    pytest.param(
        post(b"{}", query="directory={cwd}", headers=(*JSON, ("x-opencode-directory", "{sub_q}"))),
        id="query-beats-header",
    ),
    pytest.param(
        post(b"{}", headers=(*JSON, ("x-opencode-directory", "/nonexistent/path/y"))),
        id="header-nonexistent",
    ),
    pytest.param(post(b'{"title": "t"}', query="directory=bad&foo=1"), id="q-unknown-and-dir"),
    pytest.param(Req("POST", "/session/"), id="trailing-slash"),
    pytest.param(Req("PUT", "/session", body=b"{}", headers=JSON), id="wrong-method"),
]


@pytest.mark.parametrize("req", CREATE_CASES)
def test_create_matches(pair: Pair, req: Req) -> None:
    before = snapshot(pair)
    hot, cold = send_both(pair, req)
    assert_same(pair, hot, cold)
    assert hot.status_code < 500, hot.text
    assert_same_change(pair, before)


def test_create_unknown_parent_shape(pair: Pair) -> None:
    hot, cold = send_both(pair, post(f'{{"parentID": "{UNKNOWN}"}}'.encode()))
    assert_same(pair, hot, cold)
    assert hot.status_code == 400, hot.text
    assert hot.json() == {
        "_tag": "InvalidRequestError",
        "message": f"Parent session not found: {UNKNOWN}",
        "kind": "Body",
        "field": "parentID",
    }


LONG = "ses" + "x" * 126  # 129 characters: one over the route's bound
AT_BOUND = "ses" + "x" * 125
ID_CASES = [
    pytest.param("/session/{target}", id="existing"),
    pytest.param("/session/{target}?directory=/nonexistent/path/x&foo=1", id="existing-query"),
    pytest.param(f"/session/{UNKNOWN}", id="unknown"),
    pytest.param("/session/abc", id="no-prefix"),
    pytest.param("/session/ses", id="bare-prefix"),
    pytest.param(f"/session/{AT_BOUND}", id="id-128"),
    pytest.param(f"/session/{LONG}", id="id-129"),
    pytest.param("/session/{target}/", id="trailing-slash"),
    pytest.param(f"/session/{UNKNOWN}/", id="unknown-trailing-slash"),
    pytest.param("/session/ses%2Fabc", id="encoded-slash"),
    pytest.param("/session/ses%20abc", id="encoded-space"),
    pytest.param("/session/ses%C3%A9", id="non-ascii"),
    pytest.param("/session/status", id="status-route"),
]


def _with_target(pair: Pair, role: str) -> None:
    for side in (pair.hot, pair.cold):
        created = side.client.post("/session", json={"title": role})
        assert created.status_code == 200, created.text
        side.values[TARGET] = created.json()["id"]
        side.roles[created.json()["id"]] = role


def _split(path: str) -> tuple[str, str]:
    route, _, query = path.partition("?")
    return route, query


@pytest.mark.parametrize("path", ID_CASES)
def test_get_matches(pair: Pair, path: str) -> None:
    _with_target(pair, "get-target")
    before = snapshot(pair)
    route, query = _split(path)
    hot, cold = send_both(pair, Req("GET", route, query))
    assert_same(pair, hot, cold)
    assert_same_change(pair, before)


@pytest.mark.parametrize("path", ID_CASES)
def test_delete_matches(pair: Pair, path: str) -> None:
    _with_target(pair, f"delete-target {path}")
    before = snapshot(pair)
    route, query = _split(path)
    hot, cold = send_both(pair, Req("DELETE", route, query))
    assert_same(pair, hot, cold)
    # Whatever the delete did, the target reads the same on both afterwards.
    assert_same(pair, *send_both(pair, Req("GET", "/session/{target}")))
    assert_same_change(pair, before)


def test_double_delete(pair: Pair) -> None:
    _with_target(pair, "double-delete")
    before = snapshot(pair)
    first = send_both(pair, Req("DELETE", "/session/{target}"))
    assert_same(pair, *first)
    assert first[0].status_code == 200 and first[0].json() is True
    second = send_both(pair, Req("DELETE", "/session/{target}"))
    assert_same(pair, *second)
    assert second[0].status_code == 404, second[0].text
    gone = send_both(pair, Req("GET", "/session/{target}"))
    assert_same(pair, *gone)
    assert gone[0].status_code == 404
    assert_same_change(pair, before)


def test_delete_parent_cascades_alike(pair: Pair) -> None:
    _with_target(pair, "cascade-parent")
    for side in (pair.hot, pair.cold):
        child = side.client.post("/session", json={"parentID": side.values[TARGET]})
        assert child.status_code == 200, child.text
        side.roles[child.json()["id"]] = "cascade-child"
    before = snapshot(pair)
    assert_same(pair, *send_both(pair, Req("DELETE", "/session/{target}")))
    assert_same_change(pair, before)


# --------------------------------------------------------------------------- hypothesis

FIELDS = ("parentID", "title", "agent", "model", "metadata", "permission", "workspaceID")
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
valid_bodies = st.fixed_dictionaries(
    {},
    optional={
        "parentID": st.sampled_from([PARENT, UNKNOWN]),
        "title": st.text(max_size=40),
        "agent": st.text(max_size=20),
        "model": st.fixed_dictionaries(
            {"id": st.text(max_size=10), "providerID": st.text(max_size=10)},
            optional={"variant": st.text(max_size=5)},
        ),
        "metadata": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
        "permission": st.lists(
            st.fixed_dictionaries(
                {
                    "permission": st.text(max_size=10),
                    "pattern": st.text(max_size=10),
                    "action": st.sampled_from(["allow", "deny", "ask"]),
                }
            ),
            max_size=3,
        ),
        "workspaceID": st.text(max_size=10).map(lambda s: f"wrk{s}"),
    },
)
extra_keys = st.tuples(
    valid_bodies,
    st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in FIELDS), json_values, min_size=1, max_size=3
    ),
).map(lambda parts: {**parts[0], **parts[1]})
bodies = st.one_of(valid_bodies, json_values, extra_keys)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_random_create_bodies_match(pair: Pair, body: Any) -> None:
    # json.dumps, not orjson: big ints and lone surrogates (as \u escapes) reach the servers.
    raw = json.dumps(body).encode()
    before = snapshot(pair)
    hot, cold = send_both(pair, post(raw))
    assert_same(pair, hot, cold)
    assert hot.status_code < 500, hot.text
    assert_same_change(pair, before)


# --------------------------------------------------------------------------- whole-server


@pytest.mark.parametrize(
    ("req", "fast"),
    [
        pytest.param(post(b'{"title": "x"}'), True, id="create-json"),
        pytest.param(post(headers=()), True, id="create-no-body"),
        pytest.param(post(b"{}", query="directory={cwd_q}"), True, id="create-directory"),
        pytest.param(Req("GET", "/session/{parent}"), True, id="get"),
        pytest.param(Req("GET", f"/session/{UNKNOWN}"), True, id="get-missing"),
        pytest.param(Req("DELETE", f"/session/{UNKNOWN}"), True, id="delete-missing"),
        pytest.param(post(b'{"title": "x"'), False, id="create-malformed"),
        pytest.param(post(b'{"title": 1}'), False, id="create-invalid"),
        pytest.param(post(b"{}", headers=(("content-type", "text/plain"),)), False, id="text"),
        pytest.param(post(b"{}", query="bogus=1"), False, id="create-unknown-query"),
        pytest.param(Req("GET", "/session/{parent}/children"), False, id="children"),
    ],
)
def test_fast_path_serves_the_common_shapes(pair: Pair, req: Req, fast: bool) -> None:
    hot, cold = send_both(pair, req)
    assert_same(pair, hot, cold)
    assert (hot.headers.get(SERVED) == "hot") is fast, hot.headers


def test_delete_is_served_fast(pair: Pair) -> None:
    target = send(pair, pair.hot, post(b"{}"))
    assert target.headers.get(SERVED) == "hot"
    gone = pair.hot.client.delete(f"/session/{target.json()['id']}")
    assert (gone.status_code, gone.text, gone.headers.get(SERVED)) == (200, "true", "hot")


def _first_events(
    side: Side, params: dict[str, str], count: int
) -> tuple[httpx.Response, list[Json]]:
    """The head of `GET /event` and its first `count` events, the last one a session's."""
    events: list[Json] = []
    with side.client.stream("GET", "/event", params=params) as resp:
        if resp.status_code != 200:
            resp.read()
            return resp, events
        created = False
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(orjson.loads(line[6:]))
            if not created:
                # Connected: now a change this subscriber must see.
                created = True
                made = side.client.post("/session", params=params, json={"title": "seen"})
                assert made.status_code == 200, made.text
            if len(events) >= count:
                break
    return resp, events


@pytest.mark.parametrize(
    "params",
    [pytest.param({}, id="cwd"), pytest.param({"directory": "{sub}"}, id="directory")],
)
def test_event_stream_matches(pair: Pair, params: dict[str, str]) -> None:
    """`GET /event` from the fast path: same head and same events as FastAPI's route."""
    params = {k: v.replace("{sub}", str(pair.sub)) for k, v in params.items()}
    (hot, hot_events), (cold, cold_events) = (
        _first_events(side, params, 2) for side in (pair.hot, pair.cold)
    )
    assert hot.headers.get(SERVED) == "hot" and cold.headers.get(SERVED) is None
    strip = {"date", "server", SERVED}
    assert {k: v for k, v in hot.headers.items() if k not in strip} == {
        k: v for k, v in cold.headers.items() if k not in strip
    }
    assert (
        [e["type"] for e in hot_events]
        == [e["type"] for e in cold_events]
        == [
            "server.connected",
            "session.created",
        ]
    )
    assert hot_events[1]["properties"]["info"]["directory"] == str(pair.sub if params else pair.cwd)


@pytest.mark.parametrize(
    "query",
    [
        pytest.param({"directory": "/no/such/dir"}, id="missing-directory"),
        pytest.param({"directory": "x" * 5000}, id="long-directory"),
    ],
)
def test_event_stream_refusals_match(pair: Pair, query: dict[str, str]) -> None:
    answers = []
    for side in (pair.hot, pair.cold):
        # Streamed, so a server that wrongly accepts fails the test instead of hanging it.
        with side.client.stream("GET", "/event", params=query) as resp:
            assert resp.status_code != 200, "streamed where a refusal was expected"
            answers.append((resp.status_code, orjson.loads(resp.read())))
    assert answers[0] == answers[1]


def test_event_stream_with_other_parameters_falls_through(pair: Pair) -> None:
    """FastAPI's route ignores parameters it does not know; the fast path leaves it to it."""
    with pair.hot.client.stream("GET", "/event", params={"since": "1"}) as resp:
        assert resp.status_code == 200 and resp.headers.get(SERVED) is None
        first = next(line for line in resp.iter_lines() if line.startswith("data: "))
    assert orjson.loads(first[6:])["type"] == "server.connected"


def test_openapi_identical(pair: Pair) -> None:
    hot, cold = pair.hot.client.get("/doc"), pair.cold.client.get("/doc")
    assert hot.status_code == cold.status_code == 200
    assert hot.json() == cold.json()


def test_same_sessions_after_all(pair: Pair) -> None:
    """The hot path created exactly the sessions the FastAPI path did, no more."""
    hot, cold = snapshot(pair)
    assert hot == cold, f"only hot: {hot - cold}\nonly cold: {cold - hot}"
