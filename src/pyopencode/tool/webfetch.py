"""`webfetch`: fetches a URL and returns it as markdown, plain text or HTML, within caps."""

from __future__ import annotations

import httpx
from bs4 import BeautifulSoup
from markdownify import markdownify

from pyopencode.tool.base import Json, Tool, ToolContext, ToolError, ToolResult, require, truncate

MAX_RESPONSE_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_SECONDS = 30.0
MAX_TIMEOUT_SECONDS = 120.0
_UNSEEN = ("script", "style", "noscript", "iframe", "object", "embed", "template", "meta", "link")


def _html(content_type: str, body: str) -> bool:
    return "html" in content_type or body.lstrip()[:15].lower().startswith(("<!doctype", "<html"))


def _visible(html: str) -> BeautifulSoup:
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_UNSEEN):
        tag.decompose()
    return soup


def to_text(html: str) -> str:
    lines = (line.strip() for line in _visible(html).get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)


def to_markdown(html: str) -> str:
    text = markdownify(str(_visible(html)), heading_style="ATX")
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


class WebFetch(Tool):
    name = "webfetch"
    description = (
        "Fetch a URL and return its content as markdown (the default), plain text or raw HTML.\n"
        "- The URL must be complete, with its http:// or https:// scheme.\n"
        f"- Responses over {MAX_RESPONSE_BYTES // (1024 * 1024)} MB are refused; long pages are "
        "cut short in what you receive.\n"
        f"- `timeout` is in seconds (default {DEFAULT_TIMEOUT_SECONDS:.0f}, "
        f"at most {MAX_TIMEOUT_SECONDS:.0f}).\n"
        "- Read-only: it changes no file. Prefer a more specific tool when one is available."
    )
    parameters: Json = {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "The URL to fetch content from"},
            "format": {
                "type": "string",
                "enum": ["text", "markdown", "html"],
                "description": "The format to return the content in (text, markdown, or html). "
                "Defaults to markdown.",
                "default": "markdown",
            },
            "timeout": {"type": "number", "description": "Optional timeout in seconds (max 120)"},
        },
        "required": ["url"],
    }

    async def run(self, args: Json, ctx: ToolContext) -> ToolResult:
        url = require(args, "url")
        if not url.startswith(("http://", "https://")):
            raise ToolError("The URL must start with http:// or https://")
        fmt = args.get("format") or "markdown"
        if fmt not in ("text", "markdown", "html"):
            raise ToolError("`format` must be one of text, markdown, html")
        timeout = args.get("timeout")
        seconds = DEFAULT_TIMEOUT_SECONDS
        if isinstance(timeout, int | float) and timeout > 0:
            seconds = min(float(timeout), MAX_TIMEOUT_SECONDS)
        await ctx.ask("webfetch", [url], {"url": url, "format": fmt, "timeout": seconds})
        accept = {
            "markdown": "text/markdown;q=1.0, text/html;q=0.8, text/plain;q=0.7, */*;q=0.1",
            "text": "text/plain;q=1.0, text/html;q=0.8, */*;q=0.1",
            "html": "text/html;q=1.0, */*;q=0.1",
        }[fmt]
        headers = {"user-agent": "pyopencode-webfetch", "accept": accept}
        try:
            async with (
                httpx.AsyncClient(follow_redirects=True, timeout=seconds) as client,
                client.stream("GET", url, headers=headers) as response,
            ):
                if response.status_code >= 400:
                    raise ToolError(f"Request failed with status code: {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                    raise ToolError("Response too large (exceeds 5MB limit)")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_RESPONSE_BYTES:
                        raise ToolError("Response too large (exceeds 5MB limit)")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "")
                body = b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")
        except httpx.TimeoutException as exc:
            raise ToolError(f"Request timed out after {seconds:.0f}s") from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"Request failed: {exc}") from exc
        if fmt != "html" and _html(content_type, body):
            body = to_markdown(body) if fmt == "markdown" else to_text(body)
        return ToolResult(f"{url} ({content_type or 'unknown type'})", truncate(body), {})
