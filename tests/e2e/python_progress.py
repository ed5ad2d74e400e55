"""Calls tools through the official Python MCP SDK (PyPI `mcp` 2.x) with a
progress callback, and prints what arrived.

Usage: python3 tests/e2e/python_progress.py URL TOKEN MODE CALLS
MODE is `legacy`, `auto` or a modern version (as in python_client.py); CALLS
is a JSON array of {"tool": name, "args": {...}}. Prints one JSON object:
{"protocol_version", "calls": [{"progress": [[progress, total, message,
seconds since the call began], ...], "result_at": seconds, "is_error",
"structured"}]}. The node test tests/e2e/long-running.test.mjs asserts on it.
"""

import asyncio
import json
import sys
import time

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def run(url: str, token: str, mode: str, calls: list) -> dict:
    out: dict = {"calls": []}
    async with httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=60),
    ) as http:
        async with Client(streamable_http_client(url, http_client=http), mode=mode) as c:
            out["protocol_version"] = c.protocol_version
            for call in calls:
                seen: list = []
                start = time.monotonic()

                async def on_progress(progress, total, message, seen=seen, start=start):
                    seen.append([progress, total, message, time.monotonic() - start])

                r = await c.call_tool(call["tool"], call["args"], progress_callback=on_progress)
                out["calls"].append(
                    {
                        "progress": seen,
                        "result_at": time.monotonic() - start,
                        "is_error": bool(r.is_error),
                        "structured": r.structured_content,
                    }
                )
    return out


def main() -> None:
    if len(sys.argv) != 5:
        sys.exit("usage: python_progress.py URL TOKEN MODE CALLS")
    url, token, mode, calls = sys.argv[1:5]
    print(json.dumps(asyncio.run(run(url, token, mode, json.loads(calls))), default=str))


if __name__ == "__main__":
    main()
