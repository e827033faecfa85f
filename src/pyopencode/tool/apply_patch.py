"""`apply_patch`: adds, updates, moves and deletes files from one `*** Begin Patch` envelope."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require
from pyopencode.tool.path import resolve

BEGIN, END = "*** Begin Patch", "*** End Patch"
ADD, DELETE, UPDATE, MOVE = (
    "*** Add File: ",
    "*** Delete File: ",
    "*** Update File: ",
    "*** Move to: ",
)
END_OF_FILE = "*** End of File"


@dataclass
class Chunk:
    anchor: str | None
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    at_end: bool = False


@dataclass
class FileOp:
    kind: str  # "add", "delete" or "update"
    path: str
    move_to: str | None = None
    content: list[str] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)


def parse(text: str) -> list[FileOp]:
    """The operations of a patch, or ToolError saying which line is wrong."""
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != BEGIN:
        raise ToolError(f"The patch must start with '{BEGIN}'")
    if lines[-1].strip() != END:
        raise ToolError(f"The patch must end with '{END}'")
    ops: list[FileOp] = []
    i = 1
    while i < len(lines) - 1:
        line = lines[i]
        if line.startswith(ADD):
            op = FileOp("add", line[len(ADD) :].strip())
            i += 1
            while i < len(lines) - 1 and not lines[i].startswith("*** "):
                if not lines[i].startswith("+"):
                    raise ToolError(f"Line {i + 1}: every line of an added file starts with '+'")
                op.content.append(lines[i][1:])
                i += 1
        elif line.startswith(DELETE):
            op = FileOp("delete", line[len(DELETE) :].strip())
            i += 1
        elif line.startswith(UPDATE):
            op = FileOp("update", line[len(UPDATE) :].strip())
            i += 1
            if i < len(lines) - 1 and lines[i].startswith(MOVE):
                op.move_to = lines[i][len(MOVE) :].strip()
                i += 1
            i = _chunks(lines, i, op)
        elif not line.strip():
            i += 1
            continue
        else:
            raise ToolError(f"Line {i + 1}: expected a file header, got {line!r}")
        if not op.path:
            raise ToolError(f"Line {i}: a file header needs a path")
        ops.append(op)
    if not ops:
        raise ToolError("The patch changes no file")
    return ops


def _chunks(lines: list[str], i: int, op: FileOp) -> int:
    chunk: Chunk | None = None
    while i < len(lines) - 1 and not (
        lines[i].startswith("*** ") and lines[i].strip() != END_OF_FILE
    ):
        line = lines[i]
        if line.startswith("@@"):
            chunk = Chunk(line[2:].strip() or None)
            op.chunks.append(chunk)
        elif line.strip() == END_OF_FILE:
            if chunk is not None:
                chunk.at_end = True
        else:
            if chunk is None:
                chunk = Chunk(None)
                op.chunks.append(chunk)
            mark, body = (line[0], line[1:]) if line else (" ", "")
            if mark == " ":
                chunk.old.append(body)
                chunk.new.append(body)
            elif mark == "-":
                chunk.old.append(body)
            elif mark == "+":
                chunk.new.append(body)
            else:
                raise ToolError(f"Line {i + 1}: a change line starts with ' ', '-' or '+'")
        i += 1
    if not op.chunks:
        raise ToolError(f"The update of {op.path} has no changes")
    return i


def _find(lines: list[str], wanted: list[str], start: int, at_end: bool) -> int:
    """Where `wanted` occurs from `start`: exact first, then ignoring trailing, then all space."""
    if not wanted:
        return len(lines) if at_end else start
    for norm in (lambda s: s, str.rstrip, str.strip):
        target = [norm(w) for w in wanted]
        places = range(start, len(lines) - len(wanted) + 1)
        if at_end:
            places = range(len(lines) - len(wanted), start - 1, -1)
        for k in places:
            if [norm(x) for x in lines[k : k + len(wanted)]] == target:
                return k
    return -1


def apply_chunks(original: str, chunks: list[Chunk], path: str) -> str:
    lines = original.split("\n")
    trailing = bool(lines) and lines[-1] == ""
    if trailing:
        lines = lines[:-1]
    pos = 0
    for chunk in chunks:
        if chunk.anchor is not None:
            found = _find(lines, [chunk.anchor], pos, False)
            if found < 0:
                raise ToolError(f"Failed to find context '{chunk.anchor}' in {path}")
            pos = found + 1 if chunk.old[:1] != [chunk.anchor] else found
        at = _find(lines, chunk.old, pos, chunk.at_end)
        if at < 0:
            expected = "\n".join(chunk.old)
            raise ToolError(f"Failed to find expected lines in {path}:\n{expected}")
        lines[at : at + len(chunk.old)] = chunk.new
        pos = at + len(chunk.new)
    return "\n".join(lines) + ("\n" if trailing or not lines else "")


@dataclass
class _Planned:
    op: FileOp
    source: Path
    target: Path
    content: str | None  # None: the file is deleted


class ApplyPatch(Tool):
    name = "apply_patch"
    description = (
        "Edit files with a patch. One call may add, update, move and delete several files.\n\n"
        "The patch is an envelope:\n\n"
        f"{BEGIN}\n[one or more file sections]\n{END}\n\n"
        "Each file section starts with a header:\n"
        f"{ADD}<path>    create a file; every following line starts with '+'\n"
        f"{DELETE}<path> delete a file; nothing follows\n"
        f"{UPDATE}<path> change a file; optionally followed by '{MOVE}<new path>'\n\n"
        "An update is one or more hunks. A hunk may start with '@@ <a line near the change>' "
        "to say where it applies; then context lines start with a space, removed lines with "
        "'-', added lines with '+'. Give about three lines of context around each change, "
        "exactly as they are in the file.\n\n"
        "Example:\n\n"
        f"{BEGIN}\n{ADD}docs/hello.txt\n+Hello world\n{UPDATE}src/app.py\n{MOVE}src/main.py\n"
        '@@ def greet():\n-    print("Hi")\n+    print("Hello, world!")\n'
        f"{DELETE}old.txt\n{END}\n\n"
        "Paths are relative to the project directory. Nothing is written unless every "
        "section applies."
    )
    parameters: Json = {
        "type": "object",
        "properties": {
            "patchText": {
                "type": "string",
                "description": "The full patch text that describes all changes to be made",
            }
        },
        "required": ["patchText"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        ops = parse(require(args, "patchText"))
        planned: list[_Planned] = []
        for op in ops:
            source = await resolve(ctx, op.path)
            target = await resolve(ctx, op.move_to) if op.move_to else source
            if op.kind == "add":
                if source.exists():
                    raise ToolError(f"Cannot add {op.path}: it already exists")
                content: str | None = "\n".join(op.content) + "\n"
            elif op.kind == "delete":
                if not source.is_file():
                    raise ToolError(f"Cannot delete {op.path}: no such file")
                content = None
            else:
                if not source.is_file():
                    raise ToolError(f"Cannot update {op.path}: no such file")
                content = apply_chunks(source.read_text(), op.chunks, op.path)
            planned.append(_Planned(op, source, target, content))
        root = Path(os.path.realpath(ctx.directory))
        patterns = sorted({_relative(p, root) for pl in planned for p in {pl.source, pl.target}})
        await ctx.ask("edit", patterns, {"files": patterns})
        summary = []
        edited: list[str] = []
        for pl in planned:
            edited += [str(pl.source), str(pl.target)]
            if pl.content is None:
                pl.source.unlink()
                summary.append(f"D {_relative(pl.source, root)}")
                continue
            pl.target.parent.mkdir(parents=True, exist_ok=True)
            pl.target.write_text(pl.content)
            if pl.target != pl.source:
                pl.source.unlink()
            letter = "A" if pl.op.kind == "add" else "M"
            summary.append(f"{letter} {_relative(pl.target, root)}")
        output = "Success. Updated the following files:\n" + "\n".join(summary)
        return ToolResult(
            f"{len(summary)} files changed",
            output,
            {"files": summary},
            edited=tuple(dict.fromkeys(edited)),
        )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
