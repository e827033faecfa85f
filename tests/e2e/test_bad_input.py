"""End-to-end: bad input is refused with upstream's 4xx shapes and changes nothing.

A module-scoped `pyopencode serve --max-body-bytes 4096` gets malformed JSON, wrong types, ids
without their prefix, unknown fields, bad query values and oversize bodies. Every answer must be
a 4xx (never 5xx) in upstream's error shape, and the state must be exactly what it was before:
`GET /session?limit=10000` and every SQLite table's rows (read through a read-only connection).
Hypothesis then throws random JSON bodies and random path ids at the same server.

Each 400 is checked against the 400 schema the reference declares for its own operation (most
operations declare InvalidRequestError or Effect's bare BadRequest; session.list and the global,
path and project reads declare BadRequestError).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.reference import SPEC_PATH, require_spec
from tests.serverproc import RunningServer

require_spec()

SPEC_URI = "urn:opencode-reference-spec"
MAX_BODY = 4096
TIMEOUT_S = 15.0
MISSING_SESSION = "ses_0000000000000000000000missing"
MALFORMED = "Malformed JSON body"


# --------------------------------------------------------------------------- server and state


@dataclass
class Seeded:
    server: RunningServer
    client: httpx.Client
    ids: dict[str, str]

    @property
    def db_path(self) -> Path:
        return self.server.db_path


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    base = tmp_path_factory.mktemp("bad-input")
    (base / "work").mkdir()
    server = RunningServer(
        data_dir=base / "data", cwd=base / "work", extra_args=["--max-body-bytes", str(MAX_BODY)]
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT_S) as client:
            sid = client.post("/session", json={"title": "bad-input seed"}).json()["id"]
            client.post("/session", json={"parentID": sid, "title": "seed child"})
            prompt = client.post(
                f"/session/{sid}/message",
                json={"noReply": True, "parts": [{"type": "text", "text": "seed"}]},
            ).json()
            part = prompt["parts"][0]
            ids = {"sid": sid, "mid": prompt["info"]["id"], "pid": part["id"]}
            yield Seeded(server, client, {**ids, "part": json.dumps(part)})
    finally:
        server.stop()


def snapshot(s: Seeded) -> tuple[bytes, dict[str, tuple[int, str]]]:
    """What a client sees of all sessions, and every table's row count and content digest."""
    listed = s.client.get("/session", params={"limit": "10000"})
    assert listed.status_code == 200, listed.text
    tables: dict[str, tuple[int, str]] = {}
    conn = sqlite3.connect(f"file:{s.db_path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for name in sorted(names):
            rows = sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{name}"'))
            digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
            tables[name] = (len(rows), digest)
    finally:
        conn.close()
    return listed.content, tables


# --------------------------------------------------------------------------- error shapes


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return spec


@cache
def _registry() -> Registry[Any]:
    return Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(_spec()))


def _validator(pointer: str) -> Draft202012Validator:
    ref = f"{SPEC_URI}#{quote(pointer, safe='/~')}"
    return Draft202012Validator({"$ref": ref}, registry=_registry())


@cache
def _operations() -> list[tuple[re.Pattern[str], str]]:
    """(path regex, path template) of every reference path, literal templates first."""
    found = []
    for template in sorted(_spec()["paths"], key=lambda t: (t.count("{"), t)):
        segments = template.strip("/").split("/")
        regex = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
        found.append((re.compile(f"^/{regex}$"), template))
    return found


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@cache
def _declared(method: str, path: str, status: int) -> Draft202012Validator | None:
    """The reference's JSON schema for `status` of the operation that `path` addresses."""
    for regex, template in _operations():
        if not regex.match(path):
            continue
        operation = _spec()["paths"][template].get(method)
        if operation is None:
            continue
        response = operation["responses"].get(str(status), {})
        if "application/json" not in response.get("content", {}):
            return None
        tokens = [
            *("paths", template, method, "responses", str(status)),
            *("content", "application/json", "schema"),
        ]
        return _validator("/" + "/".join(_escape(t) for t in tokens))
    return None


@cache
def _not_found() -> Draft202012Validator:
    # Also the answer for paths no operation serves, so not looked up per operation.
    return _validator("/components/schemas/NotFoundError")


def _shape(response: httpx.Response) -> Draft202012Validator | None:
    status = response.status_code
    if status == 404:
        return _not_found()
    if status != 400:
        return None
    request = response.request
    # raw_path keeps %2F inside an id, so the id stays one path segment.
    path = request.url.raw_path.split(b"?", 1)[0].decode("ascii")
    return _declared(request.method.lower(), path, status)


def error_message(body: Any) -> str | None:
    """The message of an InvalidRequestError, BadRequestError or named error body."""
    if not isinstance(body, dict):
        return None
    message = body.get("message") or (body.get("data") or {}).get("message")
    return message if isinstance(message, str) else None


def assert_error_shape(response: httpx.Response) -> None:
    status = response.status_code
    assert response.headers.get("content-type", "").startswith("application/json"), (
        status,
        response.headers.get("content-type"),
        response.text[:200],
    )
    body = response.json()
    if status in (413, 415):
        # Not in the reference at all; any JSON error that says what went wrong.
        assert isinstance(body, dict), body
        assert error_message(body), body
        return
    validator = _shape(response)
    assert validator is not None, f"unexpected status {status}: {response.text[:300]}"
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, f"{status} body {body!r} is not upstream's shape: {errors[:3]}"


def test_error_shapes_follow_the_operation() -> None:
    """Each 400 is judged by its own operation's declaration, so the shapes are not mixed up."""
    invalid = {"_tag": "InvalidRequestError", "message": "bad", "kind": "Query"}
    named = {"name": "BadRequest", "data": {"message": "bad", "kind": "Query"}}
    for path in ("/session", "/global/health", "/path", "/project", "/project/current"):
        declared = _declared("get", path, 400)
        assert declared is not None, path
        assert declared.is_valid(named) and not declared.is_valid(invalid), path
    for method, path in [
        ("post", "/session"),
        ("get", "/session/status"),
        ("get", "/session/abc"),
        ("patch", "/session/ses_1"),
        ("post", "/session/ses_1/message"),
        ("patch", "/session/ses_1/message/msg_1/part/prt%2F1"),
    ]:
        declared = _declared(method, path, 400)
        assert declared is not None, (method, path)
        assert declared.is_valid(invalid) and not declared.is_valid(named), (method, path)
        assert declared.is_valid({"_tag": "BadRequest"}), (method, path)
    assert _declared("get", "/session/a/b/c", 400) is None
    assert _declared("put", "/session", 400) is None


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    method: str
    path: str
    expect: int
    json_body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    piece: int = 1000  # bytes per chunk of a chunked body
    part_patch: dict[str, Any] | None = None  # merged into the seeded part as the JSON body
    message: str | None = None  # must occur in the error's message
    field: str | None = None  # the InvalidRequestError's `field`

    def send(self, s: Seeded) -> httpx.Response:
        path = self.path.format(**s.ids, missing=MISSING_SESSION)
        headers = dict(self.headers)
        content: Any = None
        if self.part_patch is not None:
            content = json.dumps({**json.loads(s.ids["part"]), **self.part_patch}).encode()
        elif self.raw is not None:
            content = self.raw
        elif self.json_body is not None:
            content = json.dumps(_fill(self.json_body, s.ids)).encode()
        if content is not None:
            headers.setdefault("content-type", "application/json")
            if self.chunked:
                data, size = content, self.piece

                def pieces() -> Iterator[bytes]:
                    for i in range(0, len(data), size):
                        yield data[i : i + size]

                content = pieces()
        return s.client.request(self.method, path, content=content, headers=headers)


def _fill(value: Any, ids: dict[str, str]) -> Any:
    """`value` with every string that is exactly "{sid}", "{mid}" or "{pid}" replaced."""
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, str) and value[1:-1] in ("sid", "mid", "pid") and value[0] == "{":
        return ids[value[1:-1]]
    return value


SES = "/session/{sid}"
MSG = "/session/{sid}/message"
ONE_MSG = "/session/{sid}/message/{mid}"
PART = "/session/{sid}/message/{mid}/part/{pid}"
JSON_HEADERS = {"content-type": "application/json"}
OVERSIZE = json.dumps({"title": "x" * 5000}).encode()
assert len(OVERSIZE) > MAX_BODY


CASES = [
    # Malformed JSON.
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"title": "x"', message=MALFORMED),
        id="json-unterminated",
    ),
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"title":"x",}', message=MALFORMED),
        id="json-trailing-comma",
    ),
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"title":"x"} xx', message=MALFORMED),
        id="json-extra-data",
    ),
    pytest.param(
        Case("POST", "/session", 400, raw=b"{'title': 'x'}", message=MALFORMED),
        id="json-single-quotes",
    ),
    pytest.param(
        Case("PATCH", SES, 400, raw=b'{"title":', message=MALFORMED), id="json-patch-truncated"
    ),
    pytest.param(
        Case("POST", MSG, 400, raw=b'{"noReply": true, "parts": [', message=MALFORMED),
        id="json-prompt",
    ),
    pytest.param(
        Case("POST", SES + "/fork", 400, raw=b"nope", message=MALFORMED), id="json-fork-garbage"
    ),
    pytest.param(Case("PATCH", PART, 400, raw=b"{", message=MALFORMED), id="json-part-truncated"),
    pytest.param(
        # A body that is not application/json: what a browser sends cross-origin unasked.
        Case("POST", "/session", 415, raw=b'{"title":"x"}', headers={"content-type": "text/plain"}),
        id="json-as-text-plain",
    ),
    # Not JSON, or JSON that could not be stored: refused as malformed before anything is written.
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"metadata": {"a": NaN}}', message=MALFORMED),
        id="json-nan-literal",
    ),
    pytest.param(
        Case("PATCH", SES, 400, raw=b'{"metadata": {"a": -Infinity}}', message=MALFORMED),
        id="json-infinity-literal",
    ),
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"title": "\xff"}', message=MALFORMED),
        id="json-invalid-utf8",
    ),
    pytest.param(
        Case(
            "POST",
            "/session",
            400,
            raw=b'{"metadata": {"a": ' + b"[" * 1500 + b"]" * 1500 + b"}}",
            message=MALFORMED,
        ),
        id="json-nesting-1500",
    ),
    pytest.param(
        # Parses, but nests deeper than the encoder stores (255).
        Case(
            "POST",
            "/session",
            400,
            raw=b'{"metadata": {"a": ' + b"[" * 300 + b"]" * 300 + b"}}",
            message=MALFORMED,
        ),
        id="json-nesting-300",
    ),
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"title": "\\ud800"}', message=MALFORMED),
        id="json-lone-surrogate-create",
    ),
    pytest.param(
        Case("PATCH", SES, 400, raw=b'{"metadata": {"\\udfff": 1}}', message=MALFORMED),
        id="json-lone-surrogate-patch",
    ),
    pytest.param(
        Case(
            "POST",
            MSG,
            400,
            raw=b'{"noReply": true, "parts": [{"type": "text", "text": "ok"},'
            b' {"type": "text", "text": "\\udfff"}]}',
            message=MALFORMED,
        ),
        id="json-lone-surrogate-prompt",
    ),
    pytest.param(
        Case("POST", "/session", 400, raw=b'{"metadata": {"n": 1e400}}', message=MALFORMED),
        id="json-number-beyond-double",
    ),
    # Wrong types.
    pytest.param(Case("POST", "/session", 400, {"title": 5}), id="create-title-int"),
    pytest.param(Case("POST", "/session", 400, {"metadata": "x"}), id="create-metadata-str"),
    pytest.param(Case("POST", "/session", 400, {"parentID": 7}), id="create-parent-int"),
    pytest.param(Case("POST", "/session", 400, {"permission": "x"}), id="create-permission-str"),
    pytest.param(
        Case(
            "POST",
            "/session",
            400,
            {"permission": [{"permission": "a", "pattern": "*", "action": "maybe"}]},
        ),
        id="create-permission-action",
    ),
    pytest.param(Case("POST", "/session", 400, {"model": {"id": "m"}}), id="create-model-partial"),
    pytest.param(Case("POST", "/session", 400, []), id="create-array"),
    pytest.param(Case("POST", "/session", 400, 5), id="create-number"),
    pytest.param(Case("POST", "/session", 400, "session"), id="create-string"),
    # Optional fields may be left out, but the reference types them as non-null.
    pytest.param(
        Case("POST", "/session", 400, {"title": None}, message="title must not be null"),
        id="create-title-null",
    ),
    pytest.param(
        Case("POST", "/session", 400, {"parentID": None}, message="parentID must not be null"),
        id="create-parent-null",
    ),
    pytest.param(
        Case(
            "POST",
            "/session",
            400,
            {"model": {"id": "m", "providerID": "p", "variant": None}},
            message="variant must not be null",
        ),
        id="create-model-variant-null",
    ),
    pytest.param(Case("PATCH", SES, 400, {"title": 5}), id="patch-title-int"),
    pytest.param(Case("PATCH", SES, 400, {"metadata": "x"}), id="patch-metadata-str"),
    pytest.param(Case("PATCH", SES, 400, {"time": {"archived": "x"}}), id="patch-archived-str"),
    pytest.param(Case("PATCH", SES, 400, {"time": "x"}), id="patch-time-str"),
    pytest.param(Case("PATCH", SES, 400, {"permission": {}}), id="patch-permission-object"),
    pytest.param(
        Case("PATCH", SES, 400, {"title": None}, message="title must not be null"),
        id="patch-title-null",
    ),
    pytest.param(
        Case("PATCH", SES, 400, {"metadata": None}, message="metadata must not be null"),
        id="patch-metadata-null",
    ),
    pytest.param(
        Case("PATCH", SES, 400, {"time": {"archived": None}}, message="archived must not be null"),
        id="patch-archived-null",
    ),
    pytest.param(Case("POST", MSG, 400, {"noReply": "yes", "parts": []}), id="prompt-noreply-str"),
    pytest.param(Case("POST", MSG, 400, {"noReply": True}), id="prompt-no-parts"),
    pytest.param(Case("POST", MSG, 400, {"noReply": True, "parts": "x"}), id="prompt-parts-str"),
    pytest.param(
        Case("POST", MSG, 400, {"noReply": True, "parts": [{"type": "text"}]}),
        id="prompt-text-missing",
    ),
    pytest.param(
        Case("POST", MSG, 400, {"noReply": True, "parts": [{"type": "bogus", "text": "x"}]}),
        id="prompt-part-type",
    ),
    pytest.param(
        Case("POST", MSG, 400, {"noReply": True, "parts": [], "tools": {"bash": "no"}}),
        id="prompt-tools-str",
    ),
    pytest.param(Case("POST", SES + "/fork", 400, {"messageID": 5}), id="fork-message-int"),
    pytest.param(
        Case("POST", SES + "/fork", 400, {"messageID": None}, message="messageID must not be null"),
        id="fork-message-null",
    ),
    pytest.param(Case("PATCH", PART, 400, part_patch={"text": 5}), id="part-text-int"),
    pytest.param(Case("PATCH", PART, 400, part_patch={"type": "bogus"}), id="part-type-bogus"),
    pytest.param(
        Case("PATCH", PART, 400, part_patch={"sessionID": MISSING_SESSION}),
        id="part-session-mismatch",
    ),
    pytest.param(Case("PATCH", PART, 400, part_patch={"id": "prt_other"}), id="part-id-mismatch"),
    # The second part reuses the seeded part's id, which belongs to another message: the
    # message and the first part are written in the same transaction, so nothing is left.
    pytest.param(
        Case(
            "POST",
            MSG,
            400,
            {
                "noReply": True,
                "parts": [
                    {"type": "text", "text": "stored first"},
                    {"id": "{pid}", "type": "text", "text": "not mine"},
                ],
            },
            message="part belongs to another message",
            field="id",
        ),
        id="prompt-part-of-another-message",
    ),
    # Valid body that the server cannot serve: no model provider yet.
    pytest.param(
        Case("POST", MSG, 400, {"parts": [{"type": "text", "text": "needs a model"}]}),
        id="prompt-without-noreply",
    ),
    # Ids without their prefix, in the path and in the body.
    pytest.param(Case("GET", "/session/abc", 400), id="get-id"),
    pytest.param(Case("PATCH", "/session/abc", 400, {"title": "x"}), id="patch-id"),
    pytest.param(Case("DELETE", "/session/abc", 400), id="delete-id"),
    pytest.param(Case("GET", "/session/abc/children", 400), id="children-id"),
    pytest.param(Case("GET", "/session/abc/todo", 400), id="todo-id"),
    pytest.param(Case("POST", "/session/abc/fork", 400, {}), id="fork-id"),
    pytest.param(Case("GET", "/session/abc/message", 400), id="messages-id"),
    pytest.param(
        Case("POST", "/session/abc/message", 400, {"noReply": True, "parts": []}), id="prompt-id"
    ),
    pytest.param(Case("DELETE", "/session/foo/message/msg_x", 400), id="delete-message-session-id"),
    pytest.param(Case("DELETE", SES + "/message/abc", 400), id="delete-message-id"),
    pytest.param(Case("GET", SES + "/message/abc", 400), id="get-message-id"),
    pytest.param(Case("DELETE", ONE_MSG + "/part/abc", 400), id="delete-part-id"),
    pytest.param(
        Case("PATCH", ONE_MSG + "/part/abc", 400, part_patch={"id": "abc"}), id="patch-part-id"
    ),
    pytest.param(Case("POST", "/session", 400, {"parentID": "xyz"}), id="create-parent-prefix"),
    pytest.param(
        Case("POST", "/session", 400, {"workspaceID": "abc"}), id="create-workspace-prefix"
    ),
    pytest.param(
        Case("POST", MSG, 400, {"noReply": True, "messageID": "abc", "parts": []}),
        id="prompt-message-prefix",
    ),
    pytest.param(Case("POST", SES + "/fork", 400, {"messageID": "abc"}), id="fork-message-prefix"),
    # Unknown fields where the reference has additionalProperties: false.
    pytest.param(Case("POST", "/session", 400, {"foo": 1}), id="create-unknown"),
    pytest.param(
        Case("POST", "/session", 400, {"model": {"id": "a", "providerID": "b", "x": 1}}),
        id="create-model-unknown",
    ),
    pytest.param(Case("PATCH", SES, 400, {"bogus": True}), id="patch-unknown"),
    pytest.param(
        Case("PATCH", SES, 400, {"time": {"archived": 1, "x": 2}}), id="patch-time-unknown"
    ),
    pytest.param(
        Case("POST", MSG, 400, {"noReply": True, "parts": [], "bogus": 1}), id="prompt-unknown"
    ),
    pytest.param(
        Case("POST", MSG, 400, {"noReply": True, "parts": [{"type": "text", "text": "x", "y": 1}]}),
        id="prompt-part-unknown",
    ),
    pytest.param(Case("POST", SES + "/fork", 400, {"bogus": 1}), id="fork-unknown"),
    pytest.param(Case("PATCH", PART, 400, part_patch={"bogus": 1}), id="part-unknown"),
    # Bad query values.
    pytest.param(Case("GET", "/session?limit=abc", 400), id="list-limit-abc"),
    pytest.param(Case("GET", "/session?limit=-1", 400), id="list-limit-negative"),
    pytest.param(Case("GET", "/session?start=x", 400), id="list-start-x"),
    pytest.param(Case("GET", "/session?roots=maybe", 400), id="list-roots-maybe"),
    pytest.param(Case("GET", "/session?scope=everything", 400), id="list-scope"),
    pytest.param(Case("GET", MSG + "?limit=abc", 400), id="messages-limit-abc"),
    pytest.param(Case("GET", MSG + "?limit=-1", 400), id="messages-limit-negative"),
    pytest.param(Case("GET", MSG + "?before=xyz", 400), id="messages-before-prefix"),
    # Well-formed ids of things that do not exist.
    pytest.param(Case("GET", "/session/{missing}", 404), id="404-get"),
    pytest.param(Case("PATCH", "/session/{missing}", 404, {"title": "x"}), id="404-patch"),
    pytest.param(Case("DELETE", "/session/{missing}", 404), id="404-delete"),
    pytest.param(Case("GET", "/session/{missing}/children", 404), id="404-children"),
    pytest.param(Case("GET", "/session/{missing}/todo", 404), id="404-todo"),
    pytest.param(Case("POST", "/session/{missing}/fork", 404, {}), id="404-fork"),
    pytest.param(Case("GET", "/session/{missing}/message", 404), id="404-messages"),
    pytest.param(
        Case("POST", "/session/{missing}/message", 404, {"noReply": True, "parts": []}),
        id="404-prompt",
    ),
    pytest.param(Case("GET", SES + "/message/msg_missing", 404), id="404-message"),
    pytest.param(Case("DELETE", SES + "/message/msg_missing", 404), id="404-delete-message"),
    pytest.param(Case("DELETE", ONE_MSG + "/part/prt_missing", 404), id="404-delete-part"),
    pytest.param(
        Case(
            "PATCH",
            SES + "/message/msg_missing/part/{pid}",
            404,
            part_patch={"messageID": "msg_missing"},
        ),
        id="404-patch-part-message",
    ),
    # session.create declares only 200 and 400: an unknown parent is a bad parentID, not a 404.
    pytest.param(
        Case(
            "POST",
            "/session",
            400,
            {"parentID": MISSING_SESSION},
            message=f"Parent session not found: {MISSING_SESSION}",
            field="parentID",
        ),
        id="create-parent-missing",
    ),
    # Bodies over --max-body-bytes.
    pytest.param(Case("POST", "/session", 413, raw=OVERSIZE), id="413-create"),
    pytest.param(Case("PATCH", SES, 413, raw=OVERSIZE), id="413-patch"),
    pytest.param(Case("POST", MSG, 413, raw=OVERSIZE), id="413-prompt"),
    pytest.param(Case("PATCH", PART, 413, raw=OVERSIZE), id="413-part"),
    # Chunked: no Content-Length, so the cap is enforced while the body streams in.
    pytest.param(
        Case("POST", "/session", 413, raw=OVERSIZE, chunked=True), id="413-create-chunked"
    ),
    pytest.param(Case("PATCH", SES, 413, raw=OVERSIZE, chunked=True), id="413-patch-chunked"),
    pytest.param(Case("POST", MSG, 413, raw=OVERSIZE, chunked=True), id="413-prompt-chunked"),
    # The whole body as one chunk, so the server's first read is already over the cap: the
    # route must not run on what is left (an empty body is a valid create, update or fork).
    pytest.param(
        Case("POST", "/session", 413, raw=OVERSIZE, chunked=True, piece=len(OVERSIZE)),
        id="413-create-one-chunk",
    ),
    pytest.param(
        Case("PATCH", SES, 413, raw=OVERSIZE, chunked=True, piece=len(OVERSIZE)),
        id="413-patch-one-chunk",
    ),
    pytest.param(
        Case("POST", SES + "/fork", 413, raw=OVERSIZE, chunked=True, piece=len(OVERSIZE)),
        id="413-fork-one-chunk",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_and_changes_nothing(seeded: Seeded, case: Case) -> None:
    before = snapshot(seeded)
    response = case.send(seeded)
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    assert response.status_code == case.expect, f"{response.status_code} {response.text[:300]}"
    assert_error_shape(response)
    body = response.json()
    if case.message is not None:
        assert case.message in (error_message(body) or ""), body
    if case.field is not None:
        assert body.get("field") == case.field, body
    assert snapshot(seeded) == before, "a refused request changed the stored state"


def test_seeded_state_is_intact(seeded: Seeded) -> None:
    """The seed session, message and part are still there after every refused request."""
    ids = seeded.ids
    got = seeded.client.get(f"/session/{ids['sid']}/message/{ids['mid']}")
    assert got.status_code == 200, got.text
    assert [p["id"] for p in got.json()["parts"]] == [ids["pid"]]
    assert got.json()["parts"][0] == json.loads(ids["part"])


def test_integer_beyond_64_bits_is_stored_as_a_float(seeded: Seeded) -> None:
    """Valid JSON, so not refused: like upstream's JSON.parse, it becomes a double."""
    big = 2**70  # a power of two: the float holds it exactly
    response = seeded.client.post(
        "/session", content=b'{"metadata": {"n": %d}}' % big, headers=JSON_HEADERS
    )
    assert response.status_code == 200, response.text[:300]
    created = response.json()
    sid = created["id"]
    try:
        for got in (created, seeded.client.get(f"/session/{sid}").json()):
            n = got["metadata"]["n"]
            assert isinstance(n, float) and n == float(big), got["metadata"]
        patched = seeded.client.patch(
            f"/session/{sid}", content=b'{"metadata": {"m": -%d}}' % big, headers=JSON_HEADERS
        )
        assert patched.status_code == 200, patched.text[:300]
        m = patched.json()["metadata"]["m"]
        assert isinstance(m, float) and m == -float(big), patched.json()["metadata"]
    finally:
        assert seeded.client.delete(f"/session/{sid}").status_code == 200


# --------------------------------------------------------------------------- property tests

# JSON values as a client could send them (no NaN/inf: not JSON). Integers are unbounded:
# beyond 64 bits they are stored as floats, beyond a double's range refused as malformed.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
# Objects keyed mostly by the fields the bodies really have, so validation goes deeper.
FIELDS = ["title", "metadata", "parentID", "permission", "time", "agent", "model", "workspaceID"]
body_objects = st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=8), json_values, max_size=4
)
bodies = json_values | body_objects

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _check(seeded: Seeded, before: Any, response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    if 400 <= response.status_code < 500:
        assert_error_shape_lenient(response)
        assert snapshot(seeded) == before, f"{response.status_code} changed the stored state"


def assert_error_shape_lenient(response: httpx.Response) -> None:
    # Routing answers (405 etc.) have no upstream shape to match; they must still be JSON.
    if response.status_code in (400, 404, 413):
        assert_error_shape(response)
    else:
        assert isinstance(response.json(), dict), response.text[:200]


def _same_json(value: Any) -> Any:
    """`value` as the server stores it: integers beyond a double's exact range become doubles."""
    if isinstance(value, dict):
        return {k: _same_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_same_json(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)
    return value


def _listed(s: Seeded) -> dict[str, Any]:
    listed = s.client.get("/session", params={"limit": "10000"})
    assert listed.status_code == 200, listed.text
    return {row["id"]: row for row in listed.json()}


def _check_created(s: Seeded, before: Any, body: Any, response: httpx.Response) -> None:
    """A 2xx create stored exactly one new session, holding every field that was sent."""
    created = response.json()
    sid = created["id"]
    try:
        stored = s.client.get(f"/session/{sid}")
        assert stored.status_code == 200, stored.text
        assert stored.json() == created
        for key, sent in (body or {}).items():
            assert _same_json(created[key]) == _same_json(sent), (key, sent, created)
        assert set(_listed(s)) == {k for k, _ in _rows(before)} | {sid}
    finally:
        assert s.client.delete(f"/session/{sid}").status_code == 200
    assert snapshot(s) == before, "create then delete left something behind"


def _check_updated(
    s: Seeded, before: Any, old: dict[str, Any], body: Any, response: httpx.Response
) -> None:
    """A 2xx update changed the sent fields of that one session, and nothing else."""
    sid = s.ids["sid"]
    updated = response.json()
    assert _listed(s)[sid] == updated
    expected = dict(old)
    for key, sent in (body or {}).items():
        if key == "time":
            expected["time"] = {**old["time"], **sent}
        else:
            expected[key] = sent
    expected["time"] = {**expected["time"], "updated": updated["time"]["updated"]}
    assert _same_json(updated) == _same_json(expected)
    others = {k: v for k, v in _rows(before) if k != sid}
    assert {k: v for k, v in _listed(s).items() if k != sid} == others


def _rows(snap: Any) -> list[tuple[str, Any]]:
    """(id, listed session) pairs of a `snapshot()`."""
    return [(row["id"], row) for row in json.loads(snap[0])]


@PROPERTY_SETTINGS
@given(body=bodies)
# Valid bodies too, so the stored-state checks always run whatever hypothesis draws.
@example(body={"title": "t", "agent": "a", "metadata": {"n": 2**70, "a": [1, "x", None]}})
@example(body={"permission": [{"permission": "edit", "pattern": "*", "action": "deny"}]})
def test_random_bodies_for_create(seeded: Seeded, body: Any) -> None:
    before = snapshot(seeded)
    response = seeded.client.post("/session", json=body)
    _check(seeded, before, response)
    event(f"status {response.status_code}")
    if response.is_success:
        _check_created(seeded, before, body, response)


@PROPERTY_SETTINGS
@given(body=bodies)
@example(body={"title": "renamed", "metadata": {"k": {"deep": [1.5, True]}}})
@example(body={"time": {"archived": 1795480020510}, "permission": []})
def test_random_bodies_for_update(seeded: Seeded, body: Any) -> None:
    sid = seeded.ids["sid"]
    before = snapshot(seeded)
    old = seeded.client.get(f"/session/{sid}").json()
    response = seeded.client.patch(f"/session/{sid}", json=body)
    _check(seeded, before, response)
    event(f"status {response.status_code}")
    if response.is_success:
        _check_updated(seeded, before, old, body, response)


PATH_TEMPLATES = [
    ("GET", "/session/{a}"),
    ("PATCH", "/session/{a}"),
    ("DELETE", "/session/{a}"),
    ("GET", "/session/{a}/children"),
    ("POST", "/session/{a}/fork"),
    ("GET", "/session/{a}/message"),
    ("GET", "/session/{a}/message/{b}"),
    ("DELETE", "/session/{a}/message/{b}"),
    ("DELETE", "/session/{a}/message/{b}/part/{c}"),
]
path_ids = st.text(min_size=1, max_size=30) | st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from(["ses", "ses_", "msg_", "prt_"]),
    st.text(max_size=20),
)


@PROPERTY_SETTINGS
@given(
    route=st.sampled_from(PATH_TEMPLATES), a=path_ids, b=path_ids, c=path_ids, seed_a=st.booleans()
)
def test_random_path_ids(
    seeded: Seeded, route: tuple[str, str], a: str, b: str, c: str, seed_a: bool
) -> None:
    method, template = route
    # Half the time the session is the real one, so message and part ids get looked at too.
    first = seeded.ids["sid"] if seed_a and "{b}" in template else a
    path = template.format(a=quote(first, safe=""), b=quote(b, safe=""), c=quote(c, safe=""))
    body = {} if method in ("PATCH", "POST") else None
    before = snapshot(seeded)
    response = seeded.client.request(method, path, json=body)
    _check(seeded, before, response)
