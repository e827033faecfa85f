"""Validates answers and events against the reference OpenAPI document's schemas."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.reference import SPEC_PATH

_URI = "urn:opencode-reference-spec-agent"


@cache
def _spec() -> tuple[dict[str, Any], Registry[Any]]:
    spec = json.loads(SPEC_PATH.read_text())
    return spec, Registry().with_resource(_URI, DRAFT202012.create_resource(spec))


def _validator(pointer: str) -> Draft202012Validator:
    _, registry = _spec()
    return Draft202012Validator({"$ref": f"{_URI}#{quote(pointer, safe='/~')}"}, registry=registry)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def response_problems(path: str, method: str, body: Any, status: int = 200) -> list[str]:
    tokens = ["paths", path, method, "responses", str(status), "content", "application/json"]
    pointer = "/" + "/".join(_escape(t) for t in [*tokens, "schema"])
    return [f"{e.json_path}: {e.message[:300]}" for e in _validator(pointer).iter_errors(body)][:3]


def event_problems(event: dict[str, Any]) -> list[str]:
    spec, _ = _spec()
    names = [
        n
        for n, schema in spec["components"]["schemas"].items()
        if n.startswith("Event")
        and ((schema.get("properties") or {}).get("type") or {}).get("enum") == [event["type"]]
    ]
    if not names:
        return [f"no schema for event type {event['type']}"]
    payload = (
        {k: v for k, v in event.items() if k != "id"}
        if "id" not in (spec["components"]["schemas"][names[0]].get("properties") or {})
        else event
    )
    errors = [
        f"{event['type']} {e.json_path}: {e.message[:300]}"
        for e in _validator(f"/components/schemas/{_escape(names[0])}").iter_errors(payload)
    ]
    return errors[:3]
