"""The message/part models accept and reject exactly what the reference OpenAPI spec does."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from pyopencode.model import message as m
from pyopencode.model import part as p
from tests.reference import SPEC_PATH, require_spec

require_spec()

SPEC_URI = "urn:opencode-spec"

# Component schema name -> the Python type that must mirror it.
COMPONENTS: dict[str, Any] = {
    # parts
    "Part": p.Part,
    "TextPart": p.TextPart,
    "SubtaskPart": p.SubtaskPart,
    "ReasoningPart": p.ReasoningPart,
    "FilePart": p.FilePart,
    "FilePartSource": p.FilePartSource,
    "FileSource": p.FileSource,
    "SymbolSource": p.SymbolSource,
    "ResourceSource": p.ResourceSource,
    "FilePartSourceText": p.FilePartSourceText,
    "Range": p.Range,
    "ToolPart": p.ToolPart,
    "ToolState": p.ToolState,
    "ToolStatePending": p.ToolStatePending,
    "ToolStateRunning": p.ToolStateRunning,
    "ToolStateCompleted": p.ToolStateCompleted,
    "ToolStateError": p.ToolStateError,
    "StepStartPart": p.StepStartPart,
    "StepFinishPart": p.StepFinishPart,
    "SnapshotPart": p.SnapshotPart,
    "PatchPart": p.PatchPart,
    "AgentPart": p.AgentPart,
    "RetryPart": p.RetryPart,
    "CompactionPart": p.CompactionPart,
    "APIError": m.APIError,
    # input parts
    "TextPartInput": p.TextPartInput,
    "FilePartInput": p.FilePartInput,
    "AgentPartInput": p.AgentPartInput,
    "SubtaskPartInput": p.SubtaskPartInput,
    # messages
    "Message": m.Message,
    "UserMessage": m.UserMessage,
    "AssistantMessage": m.AssistantMessage,
    "OutputFormat": m.OutputFormat,
    "OutputFormatText": m.OutputFormatText,
    "OutputFormatJsonSchema": m.OutputFormatJsonSchema,
    "SnapshotFileDiff": m.SnapshotFileDiff,
    "ProviderAuthError": m.ProviderAuthError,
    "UnknownError": m.UnknownError,
    "MessageOutputLengthError": m.MessageOutputLengthError,
    "MessageAbortedError": m.MessageAbortedError,
    "StructuredOutputError": m.StructuredOutputError,
    "ContextOverflowError": m.ContextOverflowError,
    "ContentFilterError": m.ContentFilterError,
    # schemas that live inline under "paths"; registered under these names by load_spec()
    "~PartInput": p.PartInput,
    "~MessageWithParts": m.MessageWithParts,
}
NAMES = sorted(COMPONENTS)


@cache
def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    schemas = spec["components"]["schemas"]
    prompt = spec["paths"]["/session/{sessionID}/message"]["post"]["requestBody"]
    schemas["~PartInput"] = prompt["content"]["application/json"]["schema"]["properties"]["parts"][
        "items"
    ]
    listing = spec["paths"]["/session/{sessionID}/message"]["get"]["responses"]["200"]
    schemas["~MessageWithParts"] = listing["content"]["application/json"]["schema"]["items"]
    return spec


def component(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = load_spec()["components"]["schemas"][name]
    return schema


def deref(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        node: Any = root
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


@cache
def spec_validator(name: str) -> Draft202012Validator:
    resource = Resource.from_contents(load_spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{name}"}, registry=registry
    )


@cache
def adapter(name: str) -> TypeAdapter[Any]:
    return TypeAdapter(COMPONENTS[name])


def spec_accepts(name: str, value: Any) -> bool:
    return bool(spec_validator(name).is_valid(value))


def model_accepts(name: str, value: Any) -> bool:
    """Both pydantic entry points must agree: python objects and raw JSON text."""
    try:
        adapter(name).validate_python(value)
        python_ok = True
    except ValidationError:
        python_ok = False
    try:
        adapter(name).validate_json(json.dumps(value))
        json_ok = True
    except ValidationError:
        json_ok = False
    assert python_ok == json_ok, f"python/json validation disagree for {value!r}"
    return python_ok


def dump(name: str, value: Any) -> Any:
    """Validate then serialise the way the server does."""
    obj = adapter(name).validate_python(value)
    return adapter(name).dump_python(obj, mode="json", exclude_none=True, by_alias=True)


def canonical(value: Any) -> str:
    # json.dumps tells 1 from 1.0 and true from 1, which == does not.
    return json.dumps(value, sort_keys=True)


# ---------------------------------------------------------------------------------------------
# A hypothesis generator driven by the spec itself. Each generated instance comes with "sites":
# places where a targeted mutation must make the instance invalid.
# ---------------------------------------------------------------------------------------------

Path_ = tuple[str | int, ...]
Site = tuple[str, Path_, dict[str, Any]]

ALL_ENUM_VALUES: set[Any] = set()


def _collect_enums(node: Any) -> None:
    if isinstance(node, dict):
        if "enum" in node:
            ALL_ENUM_VALUES.update(node["enum"])
        for value in node.values():
            _collect_enums(value)
    elif isinstance(node, list):
        for value in node:
            _collect_enums(value)


_collect_enums(load_spec()["components"]["schemas"])

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)
JSON_OBJECTS = st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=4)


def _number(minimum: float | None) -> st.SearchStrategy[int | float]:
    low_int = None if minimum is None else int(minimum)
    return st.one_of(
        st.integers(min_value=low_int if low_int is not None else -(2**53), max_value=2**53),
        st.floats(min_value=minimum, allow_nan=False, allow_infinity=False),
    )


@st.composite
def instances(draw: st.DrawFn, schema: dict[str, Any], path: Path_ = ()) -> tuple[Any, list[Site]]:
    spec = load_spec()
    schema = deref(schema, spec)
    if "anyOf" in schema:
        branch = draw(st.sampled_from(schema["anyOf"]))
        result: tuple[Any, list[Site]] = draw(instances(branch, path))
        return result
    if "enum" in schema:
        return draw(st.sampled_from(schema["enum"])), [("enum", path, schema)]
    kind = schema.get("type")
    if kind is None:
        # ``{}``: any JSON value. null is excluded because exclude_none cannot keep it.
        return draw(JSON_VALUES.filter(lambda v: v is not None)), []
    sites: list[Site] = [("type", path, schema)]
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        if not props and extra is not False:
            if isinstance(extra, dict):
                obj: dict[str, Any] = {}
                for key in draw(st.lists(st.text(max_size=6), max_size=3, unique=True)):
                    obj[key], sub = draw(instances(extra, (*path, key)))
                    sites += sub
                return obj, sites
            return draw(JSON_OBJECTS), sites
        if extra is False:
            sites.append(("closed", path, schema))
        required = set(schema.get("required", []))
        obj = {}
        for key, sub_schema in props.items():
            if key in required or draw(st.booleans()):
                obj[key], sub = draw(instances(sub_schema, (*path, key)))
                sites += sub
                if key in required:
                    sites.append(("required", (*path, key), sub_schema))
        return obj, sites
    if kind == "array":
        items = []
        for index in range(draw(st.integers(0, 3))):
            item, sub = draw(instances(schema["items"], (*path, index)))
            items.append(item)
            sites += sub
        return items, sites
    if kind == "string":
        if "pattern" in schema:
            sites.append(("pattern", path, schema))
            return draw(st.from_regex(schema["pattern"])), sites
        return draw(st.text(max_size=12)), sites
    if "minimum" in schema:
        sites.append(("minimum", path, schema))
    if kind == "integer":
        low = schema.get("minimum", -(2**53))
        return draw(st.integers(min_value=low, max_value=2**53)), sites
    if kind == "number":
        return draw(_number(schema.get("minimum"))), sites
    if kind == "boolean":
        return draw(st.booleans()), sites
    raise AssertionError(f"generator does not handle {schema!r}")


WRONG_TYPE: dict[str, list[Any]] = {
    "string": [1, 1.5, True, [], {}],
    "integer": ["1", 1.5, True, [], {}],
    "number": ["1", True, [], {}],
    "boolean": [0, 1, "true", [], {}],
    "array": [{}, "x", 1, True],
    "object": [[], "x", 1, True],
}


def _set(root: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return root


def _get(root: Any, path: Path_) -> Any:
    for step in path:
        root = root[step]
    return root


@st.composite
def mutation(draw: st.DrawFn, value: Any, site: Site) -> Any:
    """A copy of ``value`` that the spec must reject, broken at ``site``."""
    kind, path, schema = site
    broken = copy.deepcopy(value)
    if kind == "closed":
        target = _get(broken, path)
        key = draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in schema["properties"]))
        target[key] = draw(JSON_VALUES)
        return broken
    if kind == "required":
        parent = _get(broken, path[:-1])
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = None
        return broken
    if kind == "type":
        return _set(broken, path, draw(st.sampled_from(WRONG_TYPE[schema["type"]])))
    if kind == "enum":
        return _set(broken, path, draw(st.text().filter(lambda s: s not in ALL_ENUM_VALUES)))
    if kind == "pattern":
        regex = re.compile(schema["pattern"])
        return _set(broken, path, draw(st.text().filter(lambda s: not regex.search(s))))
    if kind == "minimum":
        bad: int | float
        if schema["type"] == "integer":
            bad = draw(st.integers(max_value=-1))
        else:
            bad = draw(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False))
        return _set(broken, path, bad)
    raise AssertionError(kind)


# No "explain" phase: its coverage tracing makes a failing run take minutes instead of seconds.
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_generated_spec_instances_validate_and_round_trip(name: str, data: st.DataObject) -> None:
    value, _ = data.draw(instances(component(name)))
    assert spec_accepts(name, value), "generator produced something the spec rejects"
    assert model_accepts(name, value)
    assert canonical(dump(name, value)) == canonical(value)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_every_mutation_rejected_by_spec_and_model(name: str, data: st.DataObject) -> None:
    value, sites = data.draw(instances(component(name)))
    for site in sites:
        broken = data.draw(mutation(value, site))
        assert not spec_accepts(name, broken), f"mutation {site[0]} at {site[1]} not invalid"
        assert not model_accepts(name, broken), f"model accepted {site[0]} at {site[1]}"


# ---------------------------------------------------------------------------------------------
# Structural comparison: the JSON schema pydantic derives from each model must describe the same
# shape as the spec (same properties, required sets, closedness, enums, patterns, minimums).
# ---------------------------------------------------------------------------------------------

IGNORED = {"title", "description", "default", "discriminator", "examples", "$defs"}
UNDERSTOOD = {"anyOf", "oneOf", "enum", "const", "type", "pattern", "minimum", "items"} | {
    "properties",
    "required",
    "additionalProperties",
}


def shape(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    schema = deref(schema, root)
    unknown = set(schema) - IGNORED - UNDERSTOOD
    assert not unknown, f"shape() does not understand {unknown} in {schema}"
    if "anyOf" in schema or "oneOf" in schema:
        options = [shape(s, root) for s in schema.get("anyOf") or schema["oneOf"]]
        options = [o for o in options if o != "null"]  # optional == omitted, compared below
        kinds = sorted(options, key=canonical)
        # int | float is pydantic's spelling of JSON Schema "number".
        if (
            len(kinds) == 2
            and {k.get("type") for k in kinds} == {"integer", "number"}
            and kinds[0].get("minimum") == kinds[1].get("minimum")
        ):
            return {**kinds[1], "type": "number"}
        if len(kinds) == 1:
            return kinds[0]
        return {"anyOf": kinds}
    if "enum" in schema or "const" in schema:
        return {"enum": sorted(schema["enum"] if "enum" in schema else [schema["const"]])}
    kind = schema.get("type")
    if kind is None:
        return "any"
    if kind == "null":
        return "null"
    if kind == "object":
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if not props and extra is not False:
            return {"map": "any" if extra is True else shape(extra, root)}
        return {
            "properties": {k: shape(v, root) for k, v in props.items()},
            "required": sorted(schema.get("required", [])),
            "closed": extra is False,
        }
    if kind == "array":
        return {"array": shape(schema["items"], root)}
    out: dict[str, Any] = {"type": kind}
    for key in ("pattern", "minimum"):
        if key in schema:
            out[key] = schema[key]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_model_json_schema_has_the_spec_shape(name: str) -> None:
    generated = adapter(name).json_schema(by_alias=True, mode="validation")
    assert shape(generated, generated) == shape(component(name), load_spec())


def _optional_fields(tp: Any) -> Iterator[tuple[str, Any]]:
    for cls in _model_classes(tp):
        for field_name, info in cls.model_fields.items():
            if not info.is_required():
                yield f"{cls.__name__}.{field_name}", info


def _model_classes(tp: Any) -> list[type[Any]]:
    found: list[type[Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, type) and issubclass(node, p.OpenCodeModel):
            if node in found:
                return
            found.append(node)
            for info in node.model_fields.values():
                walk(info.annotation)
                for meta in info.metadata:
                    walk(meta)
            return
        for arg in getattr(node, "__args__", ()) or ():
            walk(arg)
        for arg in getattr(node, "__metadata__", ()) or ():
            walk(arg)

    walk(tp)
    return found


def test_every_model_is_closed_and_optional_fields_default_to_none() -> None:
    classes = {cls for tp in COMPONENTS.values() for cls in _model_classes(tp)}
    assert len(classes) > 40
    for cls in classes:
        assert cls.model_config.get("extra") == "forbid", cls.__name__
    for tp in COMPONENTS.values():
        for label, info in _optional_fields(tp):
            assert info.default is None, label


# ---------------------------------------------------------------------------------------------
# Hand-written, realistic examples (read like the real server's output) plus targeted failures.
# ---------------------------------------------------------------------------------------------

SES = "ses_6b1f0c2a9ffeQx8Zr2LkJv0a1B"
MSG_USER = "msg_94e0f3d5a001AbCdEfGhIjKlMn"
MSG_ASSISTANT = "msg_94e0f3d5b002OpQrStUvWxYz12"
BASE = {"sessionID": SES, "messageID": MSG_ASSISTANT}
TOKENS = {
    "total": 1530,
    "input": 1200,
    "output": 300,
    "reasoning": 30,
    "cache": {"read": 0, "write": 0},
}
TEXT_SOURCE = {"value": "@src/app.py", "start": 5, "end": 16}

USER_MESSAGE: dict[str, Any] = {
    "id": MSG_USER,
    "sessionID": SES,
    "role": "user",
    "time": {"created": 1732406400123},
    "agent": "build",
    "model": {"providerID": "anthropic", "modelID": "claude-sonnet-4-5"},
    "format": {"type": "json_schema", "schema": {"type": "object"}, "retryCount": 2},
    "summary": {
        "title": "Fix tests",
        "diffs": [{"file": "a.py", "additions": 3, "deletions": 1, "status": "modified"}],
    },
    "tools": {"bash": True, "webfetch": False},
}
ASSISTANT_MESSAGE: dict[str, Any] = {
    "id": MSG_ASSISTANT,
    "sessionID": SES,
    "role": "assistant",
    "time": {"created": 1732406400200, "completed": 1732406405000},
    "parentID": MSG_USER,
    "modelID": "claude-sonnet-4-5",
    "providerID": "anthropic",
    "mode": "build",
    "agent": "build",
    "path": {"cwd": "/home/u/proj", "root": "/home/u/proj"},
    "cost": 0.0123,
    "tokens": TOKENS,
    "finish": "stop",
    "error": {
        "name": "APIError",
        "data": {
            "message": "overloaded",
            "statusCode": 529,
            "isRetryable": True,
            "responseHeaders": {"retry-after": "2"},
        },
    },
}
FILE_PART: dict[str, Any] = {
    "id": "prt_94e0f3d5c003a",
    **BASE,
    "type": "file",
    "mime": "text/x-python",
    "filename": "app.py",
    "url": "file:///home/u/proj/src/app.py",
    "source": {
        "type": "symbol",
        "path": "src/app.py",
        "name": "main",
        "kind": 12,
        "text": TEXT_SOURCE,
        "range": {"start": {"line": 1, "character": 0}, "end": {"line": 9, "character": 4}},
    },
}
PART_EXAMPLES: list[dict[str, Any]] = [
    {
        "id": "prt_1",
        **BASE,
        "type": "text",
        "text": "Done.",
        "time": {"start": 1, "end": 2},
        "metadata": {"k": None},
    },
    {
        "id": "prt_2",
        **BASE,
        "type": "subtask",
        "prompt": "p",
        "description": "d",
        "agent": "general",
        "model": {"providerID": "x", "modelID": "y"},
    },
    {"id": "prt_3", **BASE, "type": "reasoning", "text": "hmm", "time": {"start": 10}},
    FILE_PART,
    {
        "id": "prt_5",
        **BASE,
        "type": "tool",
        "callID": "toolu_01",
        "tool": "bash",
        "state": {"status": "pending", "input": {}, "raw": ""},
    },
    {
        "id": "prt_6",
        **BASE,
        "type": "tool",
        "callID": "toolu_02",
        "tool": "bash",
        "state": {"status": "running", "input": {"command": "ls"}, "time": {"start": 5}},
    },
    {
        "id": "prt_7",
        **BASE,
        "type": "tool",
        "callID": "toolu_03",
        "tool": "read",
        "state": {
            "status": "completed",
            "input": {"filePath": "a"},
            "output": "x",
            "title": "a",
            "metadata": {},
            "time": {"start": 5, "end": 9, "compacted": 12},
            "attachments": [FILE_PART],
        },
    },
    {
        "id": "prt_8",
        **BASE,
        "type": "tool",
        "callID": "toolu_04",
        "tool": "bash",
        "state": {"status": "error", "input": {}, "error": "boom", "time": {"start": 5, "end": 6}},
    },
    {"id": "prt_9", **BASE, "type": "step-start", "snapshot": "4b825dc6"},
    {"id": "prt_a", **BASE, "type": "step-finish", "reason": "stop", "cost": 0, "tokens": TOKENS},
    {"id": "prt_b", **BASE, "type": "snapshot", "snapshot": "4b825dc6"},
    {"id": "prt_c", **BASE, "type": "patch", "hash": "4b825dc6", "files": ["/home/u/proj/a.py"]},
    {"id": "prt_d", **BASE, "type": "agent", "name": "general", "source": TEXT_SOURCE},
    {
        "id": "prt_e",
        **BASE,
        "type": "retry",
        "attempt": 1,
        "error": ASSISTANT_MESSAGE["error"],
        "time": {"created": 7},
    },
    {
        "id": "prt_f",
        **BASE,
        "type": "compaction",
        "auto": True,
        "overflow": False,
        "tail_start_id": MSG_USER,
    },
]
INPUT_EXAMPLES: list[dict[str, Any]] = [
    {"type": "text", "text": "hello"},
    {
        "id": "prt_x",
        "type": "file",
        "mime": "image/png",
        "url": "data:image/png;base64,AA==",
        "source": {"type": "resource", "clientName": "mcp", "uri": "r://1", "text": TEXT_SOURCE},
    },
    {"type": "agent", "name": "general"},
    {"type": "subtask", "prompt": "p", "description": "d", "agent": "general"},
]
ERROR_EXAMPLES: list[dict[str, Any]] = [
    {"name": "ProviderAuthError", "data": {"providerID": "openai", "message": "no key"}},
    {"name": "UnknownError", "data": {"message": "?", "ref": "r1"}},
    {"name": "MessageOutputLengthError", "data": {}},
    {"name": "MessageAbortedError", "data": {"message": "aborted"}},
    {"name": "StructuredOutputError", "data": {"message": "bad", "retries": 2}},
    {"name": "ContextOverflowError", "data": {"message": "too long", "responseBody": "{}"}},
    {"name": "ContentFilterError", "data": {"message": "filtered"}},
    ASSISTANT_MESSAGE["error"],
]

EXAMPLES: list[tuple[str, dict[str, Any]]] = (
    [("Part", e) for e in PART_EXAMPLES]
    + [("~PartInput", e) for e in INPUT_EXAMPLES]
    + [("Message", USER_MESSAGE), ("Message", ASSISTANT_MESSAGE)]
    + [("Message", {**ASSISTANT_MESSAGE, "error": e}) for e in ERROR_EXAMPLES]
    + [("~MessageWithParts", {"info": ASSISTANT_MESSAGE, "parts": PART_EXAMPLES})]
)


def _example_id(example: tuple[str, dict[str, Any]]) -> str:
    name, value = example
    tag = value.get("type") or value.get("role") or (value.get("error") or {}).get("name", "")
    return f"{name}-{tag}"


@pytest.mark.parametrize("example", EXAMPLES, ids=_example_id)
def test_handwritten_example_is_valid_everywhere(example: tuple[str, dict[str, Any]]) -> None:
    name, value = example
    assert spec_accepts(name, value)
    assert model_accepts(name, value)
    assert canonical(dump(name, value)) == canonical(value)
    # the concrete component the discriminator picks must accept it too
    obj = adapter(name).validate_python(value)
    if isinstance(obj, p.OpenCodeModel):
        concrete = type(obj).__name__
        if concrete in COMPONENTS:
            assert spec_accepts(concrete, value)


Mutator = Callable[[dict[str, Any]], None]

BROKEN: list[tuple[str, dict[str, Any], Mutator]] = [
    ("Message", USER_MESSAGE, lambda v: v.update(id="usr_1")),
    ("Message", USER_MESSAGE, lambda v: v.update(sessionID="msg_x")),
    ("Message", USER_MESSAGE, lambda v: v.update(role="system")),
    ("Message", USER_MESSAGE, lambda v: v.update(surprise=1)),
    ("Message", USER_MESSAGE, lambda v: v["time"].update(created=-1)),
    ("Message", USER_MESSAGE, lambda v: v["time"].update(created="1732406400123")),
    ("Message", USER_MESSAGE, lambda v: v["model"].update(extra="x")),
    ("Message", USER_MESSAGE, lambda v: v["tools"].update(bash="yes")),
    ("Message", USER_MESSAGE, lambda v: v["format"].update(type="xml")),
    ("Message", USER_MESSAGE, lambda v: v["summary"]["diffs"][0].update(status="renamed")),
    ("Message", USER_MESSAGE, lambda v: v.pop("agent")),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["time"].update(created=1.5)),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["time"].update(completed=True)),
    ("Message", ASSISTANT_MESSAGE, lambda v: v.update(parentID="prt_1")),
    ("Message", ASSISTANT_MESSAGE, lambda v: v.update(cost="0.01")),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["tokens"].pop("cache")),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["tokens"]["cache"].update(hits=1)),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["error"].update(name="TimeoutError")),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["error"]["data"].update(statusCode=-1)),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["error"]["data"].update(responseHeaders={"a": 1})),
    ("Message", ASSISTANT_MESSAGE, lambda v: v["path"].update(home="/")),
    ("Part", PART_EXAMPLES[0], lambda v: v.update(id="part_1")),
    ("Part", PART_EXAMPLES[0], lambda v: v.update(type="markdown")),
    ("Part", PART_EXAMPLES[0], lambda v: v["time"].pop("start")),
    ("Part", PART_EXAMPLES[0], lambda v: v.update(metadata=[])),
    ("Part", PART_EXAMPLES[0], lambda v: v.update(text=None)),
    ("Part", FILE_PART, lambda v: v["source"]["range"]["start"].update(line=-3)),
    ("Part", FILE_PART, lambda v: v["source"].update(type="url")),
    ("Part", PART_EXAMPLES[6], lambda v: v["state"].update(status="done")),
    ("Part", PART_EXAMPLES[6], lambda v: v["state"].pop("title")),
    ("Part", PART_EXAMPLES[6], lambda v: v["state"]["attachments"][0].update(url=5)),
    ("Part", PART_EXAMPLES[11], lambda v: v["files"].append(7)),
    ("Part", PART_EXAMPLES[14], lambda v: v.update(tail_start_id="ses_1")),
    ("~PartInput", INPUT_EXAMPLES[0], lambda v: v.update(sessionID=SES)),
    ("~PartInput", INPUT_EXAMPLES[0], lambda v: v.update(id="msg_1")),
    ("~PartInput", INPUT_EXAMPLES[0], lambda v: v.update(type="tool")),
    ("~PartInput", INPUT_EXAMPLES[3], lambda v: v.update(model={"providerID": "x"})),
    ("~MessageWithParts", {"info": USER_MESSAGE, "parts": []}, lambda v: v.update(extra=[])),
    ("~MessageWithParts", {"info": USER_MESSAGE, "parts": []}, lambda v: v.update(parts={})),
]


@pytest.mark.parametrize(("name", "value", "mutate"), BROKEN)
def test_handwritten_breakage_rejected_by_spec_and_model(
    name: str, value: dict[str, Any], mutate: Mutator
) -> None:
    broken = copy.deepcopy(value)
    mutate(broken)
    assert broken != value
    assert not spec_accepts(name, broken)
    assert not model_accepts(name, broken)


@given(text=st.text(), suffix=st.text(alphabet="0123456789abcdefABCDEF", max_size=26))
def test_models_built_in_python_dump_to_spec_valid_json(text: str, suffix: str) -> None:
    part = p.TextPart(
        id=f"prt_{suffix}",
        sessionID=f"ses_{suffix}",
        messageID=f"msg_{suffix}",
        type="text",
        text=text,
    )
    dumped = part.model_dump(exclude_none=True, by_alias=True)
    assert set(dumped) == {"id", "sessionID", "messageID", "type", "text"}
    assert spec_accepts("TextPart", dumped)
    fmt = m.OutputFormatJsonSchema(type="json_schema", schema={"title": text})
    assert fmt.model_dump(exclude_none=True, by_alias=True) == {
        "type": "json_schema",
        "schema": {"title": text},
    }
    with pytest.raises(ValidationError):
        p.TextPart(id=text.lstrip("p"), sessionID=SES, messageID=MSG_USER, type="text", text=text)
