"""`question`: asks the user to choose among options and waits for the answers."""

from __future__ import annotations

from pyopencode import question
from pyopencode.permission import RejectedError
from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult

_OPTION: Json = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "description": "Display text (1-5 words, concise)"},
        "description": {"type": "string", "description": "Explanation of choice"},
    },
    "required": ["label", "description"],
}

_QUESTION: Json = {
    "type": "object",
    "properties": {
        "question": {"type": "string", "description": "Complete question"},
        "header": {"type": "string", "description": "Very short label (max 30 chars)"},
        "options": {"type": "array", "items": _OPTION, "description": "Available choices"},
        "multiple": {"type": "boolean", "description": "Allow selecting multiple choices"},
    },
    "required": ["question", "header", "options"],
}

MAX_QUESTIONS = 8


def _questions(args: Json) -> list[Json]:
    raw = args.get("questions")
    if not isinstance(raw, list) or not raw or len(raw) > MAX_QUESTIONS:
        raise ToolError(f"`questions` must be a list of 1 to {MAX_QUESTIONS} questions")
    out = []
    for q in raw:
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            raise ToolError("Each question needs a `question` string")
        options = q.get("options")
        if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("label"), str) for o in options
        ):
            raise ToolError("Each question needs `options`, each with a `label`")
        item: Json = {
            "question": q["question"],
            "header": str(q.get("header") or "")[:30],
            "options": [
                {"label": o["label"], "description": str(o.get("description") or "")}
                for o in options
            ],
        }
        if isinstance(q.get("multiple"), bool):
            item["multiple"] = q["multiple"]
        out.append(item)
    return out


class Question(Tool):
    name = "question"
    description = (
        "Ask the user one or more questions while you work, and wait for the answers.\n"
        "Use it to learn preferences, settle ambiguous instructions, or let the user pick "
        "between implementation choices. Do not ask what you can find out yourself.\n\n"
        "- Each question has a short `header` and a list of `options` (label and description); "
        "the user may also type an answer of their own, so do not add an 'Other' option.\n"
        "- Set `multiple: true` when more than one option may be chosen.\n"
        "- Put the option you recommend first and end its label with '(Recommended)'.\n"
        "- The answers come back as the chosen labels, one list per question."
    )
    parameters: Json = {
        "type": "object",
        "properties": {
            "questions": {"type": "array", "items": _QUESTION, "description": "Questions to ask"}
        },
        "required": ["questions"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        questions = _questions(args)
        await ctx.ask("question", ["*"], {"questions": questions})
        info = await ctx.sessions.get(ctx.session_id)
        try:
            answers = await question.service(ctx.sessions).ask(
                ctx.session_id,
                questions,
                tool={"messageID": ctx.message_id, "callID": ctx.call_id},
                directory=ctx.directory,
                project=info.get("projectID"),
            )
        except question.QuestionRejectedError as exc:
            # Like a rejected permission: the prompt stops here rather than carrying on.
            raise RejectedError(str(exc)) from exc
        lines = []
        for q, answer in zip(questions, answers, strict=False):
            chosen = ", ".join(answer) if answer else "(no answer)"
            lines.append(f'"{q["question"]}" = "{chosen}"')
        output = (
            "The user answered your questions: "
            + "; ".join(lines)
            + ". Continue with these answers in mind."
        )
        title = f"Asked {len(questions)} question{'s' if len(questions) != 1 else ''}"
        return ToolResult(title, output, {"answers": answers})
