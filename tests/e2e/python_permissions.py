"""Drives a narrowed connection with the official Python MCP SDK (PyPI `mcp` 2.x).

Usage: python3 tests/e2e/python_permissions.py URL TOKEN MODE HEADERS CALLS
MODE is `legacy`, `auto` or a modern version such as `2026-07-28` (as in
python_client.py). HEADERS is a JSON object of extra request headers (the
narrowing headers, e.g. {"X-MCP-Readonly": "true"}); CALLS is a JSON array of
[tool, arguments] pairs to call in order.

Prints one JSON object on stdout: the negotiated version, the tool names the
server listed, each call's outcome and the resources listed. The token is
only sent in the Authorization header, never printed. The assertions live in
tests/e2e/permissions.test.mjs.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def text_of(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def run(url: str, token: str, mode: str, headers: dict, calls: list) -> dict:
    out: dict = {"mode": mode}
    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}", **headers},
        timeout=httpx2.Timeout(30, read=60),
    ) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
            out["protocol_version"] = c.protocol_version
            tools = await c.list_tools()
            out["tools"] = [t.name for t in tools.tools]
            out["calls"] = []
            for name, args in calls:
                r = await c.call_tool(name, args)
                out["calls"].append(
                    {
                        "name": name,
                        "is_error": bool(r.is_error),
                        "text": text_of(r)[:2000],
                        "structured": r.structured_content,
                        "meta": (r.meta or None) if hasattr(r, "meta") else None,
                    }
                )
            resources = await c.list_resources()
            out["resources"] = [str(r.uri) for r in resources.resources]
    return out


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit("usage: python_permissions.py URL TOKEN MODE HEADERS CALLS")
    url, token, mode, headers, calls = sys.argv[1:]
    result = asyncio.run(run(url, token, mode, json.loads(headers), json.loads(calls)))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
