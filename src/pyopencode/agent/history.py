"""Turns stored messages and parts into the neutral conversation the providers take."""

from __future__ import annotations

from typing import Any

from pyopencode.agent.attachments import image, inline

Json = dict[str, Any]


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
                results.append(
                    {
                        "role": "tool",
                        "id": p["callID"],
                        "name": p["tool"],
                        "output": state["output"],
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
