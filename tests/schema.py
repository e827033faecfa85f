"""The reference OpenAPI document as validators for responses and components, `$ref`s resolved."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.reference import SPEC_PATH

SPEC_URI = "urn:opencode-reference-spec"
JSON = "application/json"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@cache
def reference() -> ReferenceSpec:
    return ReferenceSpec(json.loads(SPEC_PATH.read_text()))


class ReferenceSpec:
    """The reference OpenAPI document, registered under SPEC_URI so its `$ref`s resolve."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(spec)
        )
        self._validators: dict[str, Draft202012Validator] = {}

    def operation(self, template: str, method: str) -> dict[str, Any]:
        op: dict[str, Any] = self.spec["paths"][template][method]
        return op

    def response_pointer(self, template: str, method: str, status: int, media: str) -> str | None:
        """JSON pointer of the response schema, or None when the spec declares no such status."""
        responses = self.operation(template, method)["responses"]
        response = responses.get(str(status))
        if response is None or media not in response.get("content", {}):
            return None
        tokens = ["paths", template, method, "responses", str(status), "content", media, "schema"]
        return "/" + "/".join(_escape(t) for t in tokens)

    def validator(self, schema: dict[str, Any] | str) -> Draft202012Validator:
        """A validator for a pointer into the spec, or for a schema whose refs use SPEC_URI."""
        key = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True)
        found = self._validators.get(key)
        if found is None:
            root = (
                {"$ref": f"{SPEC_URI}#{quote(schema, safe='/~')}"}
                if isinstance(schema, str)
                else schema
            )
            found = Draft202012Validator(root, registry=self.registry)
            self._validators[key] = found
        return found

    def component(self, name: str) -> Draft202012Validator:
        return self.validator(f"/components/schemas/{_escape(name)}")

    def problems(self, value: Any, validator: Draft202012Validator) -> list[str]:
        return [_explain(error) for error in list(validator.iter_errors(value))[:3]]

    def response_problems(
        self, template: str, method: str, status: int, body: Any, media: str = JSON
    ) -> list[str]:
        pointer = self.response_pointer(template, method, status, media)
        if pointer is None:
            declared = sorted(self.operation(template, method)["responses"])
            return [f"status {status} is not declared by the reference (declares {declared})"]
        return self.problems(body, self.validator(pointer))


# Properties whose enum picks one alternative of a union (`type` of events and parts, ...).
_DISCRIMINATORS = {"type", "role", "_tag", "name"}


def _where(error: ValidationError) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "<root>"


def _misses_discriminator(error: ValidationError, union: ValidationError) -> bool:
    path = list(error.absolute_path)
    return (
        error.validator in ("enum", "const")
        and len(path) == len(union.absolute_path) + 1
        and path[-1] in _DISCRIMINATORS
    )


def _explain(error: ValidationError) -> str:
    """Why `error` happened, looking inside unions at the alternative the value meant."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = [
            errs
            for errs in branches.values()
            if not any(_misses_discriminator(e, error) for e in errs)
        ]
        if 0 < len(meant) <= 2:
            # best_match would descend into nested unions blindly; explain them ourselves.
            return " | ".join(_explain(errs[0]) for errs in meant)
        if not meant:
            return f"at {_where(error)}: no alternative of the union has this discriminator"
        return f"at {_where(error)}: {best_match(error.context).message[:300]}"
    return f"at {_where(error)}: {error.message[:300]}"
