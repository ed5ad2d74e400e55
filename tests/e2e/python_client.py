"""Drives the worker's /mcp endpoint with the official Python MCP SDK (PyPI `mcp` 2.x).

Usage: python3 tests/e2e/python_client.py URL TOKEN [MODE]
MODE is `legacy` (initialize handshake), `auto` (server/discover probe, the SDK's
default, used when MODE is left out) or a modern version such as `2026-07-28`.

Prints one JSON object on stdout with what each step returned; the node test
tests/e2e/python-client.test.mjs runs this and asserts on it. The token goes on
the httpx2 client (2.x's streamable_http_client takes no headers); it is never
printed. Exits 0 when every step ran, even if a step reported an error: the
assertions live in the node test.
"""

import asyncio
import json
import sys
from importlib.metadata import version

import httpx2
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client


def text_of(result) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


async def run(url: str, token: str, mode: str) -> dict:
    out: dict = {"sdk_version": version("mcp"), "mode": mode}
    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=60),
    ) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
            out["protocol_version"] = c.protocol_version
            info = c.server_info
            out["server_info"] = info.model_dump(exclude_none=True) if info else None

            tools = await c.list_tools()
            out["tools"] = [t.name for t in tools.tools]

            ok = await c.call_tool("list_projects", {})
            out["list_projects"] = {"is_error": bool(ok.is_error), "structured": ok.structured_content}

            created = await c.call_tool("create_project", {"name": f"py-{mode}", "type": "textcollection"})
            out["create_project"] = {"is_error": bool(created.is_error), "text": text_of(created)[:500]}
            got = await c.call_tool("get_project", {"name": f"py-{mode}"})
            out["get_project"] = {"is_error": bool(got.is_error), "structured": got.structured_content}

            missing = await c.call_tool("get_task", {"task_id": "does-not-exist"})
            out["get_task_unknown"] = {"is_error": bool(missing.is_error), "text": text_of(missing)[:500]}

            invalid = await c.call_tool("get_task", {})
            out["get_task_invalid"] = {"is_error": bool(invalid.is_error), "text": text_of(invalid)[:500]}

            try:
                await c.call_tool("no_such_tool", {})
                out["unknown_tool"] = {"raised": False}
            except MCPError as e:
                out["unknown_tool"] = {"raised": True, "code": e.code, "message": e.message}

            resources = await c.list_resources()
            out["resources"] = [r.uri for r in resources.resources]
    return out


def main() -> None:
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: python_client.py URL TOKEN [MODE]")
    url, token = sys.argv[1:3]
    mode = sys.argv[3] if len(sys.argv) == 4 else "auto"
    print(json.dumps(asyncio.run(run(url, token, mode)), default=str))


if __name__ == "__main__":
    main()
