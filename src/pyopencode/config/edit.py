"""Merge a patch into JSONC text in place: only the values that change are rewritten.

No well-kept Python library edits JSONC while keeping its comments (json-five's round-trip
model is read-only in practice, commentjson and json5 drop comments), so this is a small
scanner that finds where each key's value sits and splices new text there. Everything else
(comments, trailing commas, key order, formatting) stays byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pyopencode.config.jsonc import loads


class EditError(ValueError):
    """The text is not JSONC this editor understands."""


@dataclass
class _Node:
    start: int
    end: int


@dataclass
class _Member:
    key_start: int
    value: _Node


@dataclass
class _Object(_Node):
    members: dict[str, _Member] = field(default_factory=dict)
    # Where the last member (and its trailing comma, if any) ends.
    tail: int = 0
    trailing_comma: bool = False


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text

    def skip(self, i: int) -> int:
        text, n = self.text, len(self.text)
        while i < n:
            c = text[i]
            if c in " \t\r\n":
                i += 1
            elif text.startswith("//", i):
                nl = text.find("\n", i)
                i = n if nl < 0 else nl + 1
            elif text.startswith("/*", i):
                close = text.find("*/", i + 2)
                if close < 0:
                    raise EditError("unterminated comment")
                i = close + 2
            else:
                break
        return i

    def string(self, i: int) -> int:
        j = i + 1
        text = self.text
        while j < len(text):
            if text[j] == "\\":
                j += 2
            elif text[j] == '"':
                return j + 1
            else:
                j += 1
        raise EditError("unterminated string")

    def value(self, i: int) -> _Node:
        i = self.skip(i)
        if i >= len(self.text):
            raise EditError("unexpected end of text")
        c = self.text[i]
        if c == "{":
            return self.obj(i)
        if c == "[":
            return self.array(i)
        if c == '"':
            return _Node(i, self.string(i))
        j = i
        while j < len(self.text) and self.text[j] not in ",}] \t\r\n/":
            j += 1
        if j == i:
            raise EditError(f"unexpected {c!r} at {i}")
        return _Node(i, j)

    def array(self, i: int) -> _Node:
        j = self.skip(i + 1)
        while self.text[j] != "]":
            j = self.skip(self.value(j).end)
            if self.text[j] == ",":
                j = self.skip(j + 1)
            elif self.text[j] != "]":
                raise EditError(f"expected , or ] at {j}")
        return _Node(i, j + 1)

    def obj(self, i: int) -> _Object:
        node = _Object(i, i, tail=i + 1)
        j = self.skip(i + 1)
        while j < len(self.text) and self.text[j] != "}":
            if self.text[j] != '"':
                raise EditError(f"expected a key at {j}")
            key_end = self.string(j)
            key = json.loads(self.text[j:key_end])
            colon = self.skip(key_end)
            if colon >= len(self.text) or self.text[colon] != ":":
                raise EditError(f"expected : at {colon}")
            value = self.value(colon + 1)
            node.members[key] = _Member(j, value)
            node.tail, node.trailing_comma = value.end, False
            j = self.skip(value.end)
            if j < len(self.text) and self.text[j] == ",":
                node.tail, node.trailing_comma = j + 1, True
                j = self.skip(j + 1)
            elif j < len(self.text) and self.text[j] != "}":
                raise EditError(f"expected , or }} at {j}")
        if j >= len(self.text):
            raise EditError("unterminated object")
        node.end = j + 1
        return node


def _line_indent(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    line = text[line_start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _starts_line(text: str, pos: int) -> bool:
    return text[text.rfind("\n", 0, pos) + 1 : pos].strip() == ""


def _dump(value: Any, indent: str | None) -> str:
    if indent is None:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def _after_line_comment(text: str, pos: int) -> int:
    """Past a `// comment` that ends the line at `pos`: it belongs to what precedes it."""
    j = pos
    while j < len(text) and text[j] in " \t":
        j += 1
    if text.startswith("//", j):
        nl = text.find("\n", j)
        return len(text) if nl < 0 else nl
    return pos


def _merge(
    text: str, node: _Object, patch: dict[str, Any], edits: list[tuple[int, int, str]]
) -> None:
    first = next(iter(node.members.values()), None)
    # None: the members share a line with the braces, so new ones go inline too.
    indent: str | None
    if first is None:
        indent = _line_indent(text, node.start) + "  "
    elif _starts_line(text, first.key_start):
        indent = _line_indent(text, first.key_start)
    else:
        indent = None
    added: list[str] = []
    for key, value in patch.items():
        member = node.members.get(key)
        if member is not None and isinstance(value, dict) and isinstance(member.value, _Object):
            _merge(text, member.value, value, edits)
        elif member is not None:
            edits.append((member.value.start, member.value.end, _dump(value, indent)))
        else:
            added.append(f"{json.dumps(key, ensure_ascii=False)}: {_dump(value, indent)}")
    if not added:
        return
    if indent is None:
        joined = ", ".join(added)
        if node.trailing_comma:
            edits.append((node.tail, node.tail, f" {joined},"))
        else:
            edits.append((node.tail, node.tail, f", {joined}"))
        return
    joined = (",\n" + indent).join(added)
    if first is None:
        close = _line_indent(text, node.start)
        edits.append((node.start + 1, node.start + 1, f"\n{indent}{joined}\n{close}"))
        return
    at = _after_line_comment(text, node.tail)
    if node.trailing_comma:
        edits.append((at, at, f"\n{indent}{joined},"))
    elif at == node.tail:
        edits.append((at, at, f",\n{indent}{joined}"))
    else:
        # The last member has no comma but a line comment follows it: put the comma before.
        edits.append((node.tail, node.tail, ","))
        edits.append((at, at, f"\n{indent}{joined}"))


def merge_text(text: str, patch: dict[str, Any]) -> str:
    """`text` (a JSONC object) with `patch` deep-merged in, comments and layout kept."""
    if not text.strip():
        return json.dumps(patch, indent=2, ensure_ascii=False) + "\n"
    scanner = _Scanner(text)
    root = scanner.value(0)
    if not isinstance(root, _Object):
        raise EditError("the configuration is not a JSON object")
    if scanner.skip(root.end) != len(text):
        raise EditError("text after the configuration object")
    edits: list[tuple[int, int, str]] = []
    _merge(text, root, patch, edits)
    for start, end, replacement in sorted(edits, key=lambda e: e[0], reverse=True):
        text = text[:start] + replacement + text[end:]
    loads(text)  # what we wrote must read back
    return text
