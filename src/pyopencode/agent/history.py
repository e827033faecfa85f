"""Turns stored messages and parts into the neutral conversation the providers take."""

from __future__ import annotations

from typing import Any

from pyopencode.agent.attachments import image, inline

Json = dict[str, Any]

# What a compaction's user message says to the model, which the summary then answers.
COMPACTION_QUESTION = "What did we do so far?"
# What a pruned tool output (state.time.compacted) is replaced with.
CLEARED_OUTPUT = "[Old tool result content cleared]"


def is_compaction(row: Json) -> bool:
    return row["info"]["role"] == "user" and any(p["type"] == "compaction" for p in row["parts"])


def since_compaction(rows: list[Json]) -> list[Json]:
    """The rows from the latest finished compaction on: its summary stands for what came before."""
    summarized = {
        r["info"]["parentID"]
        for r in rows
        if r["info"]["role"] == "assistant"
        and r["info"].get("summary") is True
        and r["info"].get("finish")
        and not r["info"].get("error")
    }
    for index in range(len(rows) - 1, -1, -1):
        if rows[index]["info"]["id"] in summarized and is_compaction(rows[index]):
            return rows[index:]
    return rows


def conversation(rows: list[Json]) -> list[Json]:
    out: list[Json] = []
    for row in rows:
        info, parts = row["info"], row["parts"]
        if info["role"] == "user":
            chunks, images = [], []
            for p in parts:
                if p["type"] == "text" and not p.get("ignored"):
                    chunks.append(p["text"])
                elif p["type"] == "file":
                    picture = image(p)
                    if picture is not None:
                        images.append(picture)
                    else:
                        chunks.append(inline(p))
                elif p["type"] == "agent":
                    chunks.append(f"[use the {p['name']} agent]")
                elif p["type"] == "subtask":
                    chunks.append(p["prompt"])
                elif p["type"] == "compaction":
                    chunks.append(COMPACTION_QUESTION)
            user: Json = {"role": "user", "content": "\n".join(chunks)}
            if images:
                user["images"] = images
            out.append(user)
            continue
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        calls, results = [], []
        for p in parts:
            if p["type"] != "tool":
                continue
            state = p["state"]
            calls.append({"id": p["callID"], "name": p["tool"], "input": state.get("input") or {}})
            if state["status"] == "completed":
                pruned = (state.get("time") or {}).get("compacted")
                results.append(
                    {
                        "role": "tool",
                        "id": p["callID"],
                        "name": p["tool"],
                        "output": CLEARED_OUTPUT if pruned else state["output"],
                    }
                )
            else:
                error = state.get("error") or "Tool execution was interrupted"
                results.append(
                    {
                        "role": "tool",
                        "id": p["callID"],
                        "name": p["tool"],
                        "output": f"Error: {error}",
                        "error": True,
                    }
                )
        if text or calls:
            out.append({"role": "assistant", "content": text, "tool_calls": calls})
            out.extend(results)
    return out
