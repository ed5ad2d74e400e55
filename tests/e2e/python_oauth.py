"""Signs in to the worker with the Python MCP SDK's OAuth client (PyPI `mcp` 2.x).

Usage: python3 tests/e2e/python_oauth.py MCP_URL CONFIG_JSON
CONFIG_JSON: {"key": <the user's Scale key>, "metadata_url": <CIMD URL or null
for dynamic registration>, "project": <a project name to create>}.

The SDK discovers the server, registers (or uses the metadata document URL as
its client id), and sends the browser to the sign-in page; the redirect handler
here plays the browser: it submits the form over HTTP with the user's own Scale
key and hands the code, state and iss back to the SDK. Then it lists tools,
creates a project, forces a refresh by expiring the token, revokes the grant
and shows that the next call is refused. Prints one JSON object; the node test
tests/e2e/oauth.test.mjs asserts on it. Never prints a token or key.
"""

import asyncio
import json
import re
import sys
import time
from html import unescape
from urllib.parse import parse_qs, urlencode, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

REDIRECT = "http://127.0.0.1:9/py-callback"


class Memory:
    def __init__(self):
        self.tokens = None
        self.client = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client

    async def set_client_info(self, info):
        self.client = info


async def run(url: str, cfg: dict) -> dict:
    out: dict = {}
    storage = Memory()
    pending: dict = {}

    async def redirect_handler(authorization_url: str) -> None:
        if out.get("revoked_status"):
            # After revocation the SDK sends the user to sign in again; nobody is there.
            out["asked_to_sign_in_again"] = True
            raise RuntimeError("sign-in needed again")
        async with httpx2.AsyncClient(timeout=30) as browser:
            page = await browser.get(authorization_url)
            fields = [(unescape(k), unescape(v)) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text)]
            cookie = page.headers.get("set-cookie", "").split(";")[0]
            form = fields + [("method", "own_key"), ("scale_key", cfg["key"]), ("grant_scope", "scale:read"), ("grant_scope", "scale:write")]
            origin = "{0.scheme}://{0.netloc}".format(urlparse(authorization_url))
            answer = await browser.post(
                origin + "/authorize",
                content=urlencode(form).encode(),
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "cookie": cookie,
                    "origin": origin,
                    "sec-fetch-site": "same-origin",
                },
            )
            location = answer.headers.get("location", "")
            query = parse_qs(urlparse(location).query)
            sent_state = parse_qs(urlparse(authorization_url).query).get("state", [None])[0]
            pending["result"] = AuthorizationCodeResult(
                code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
            )
            out["authorize"] = {
                "status": answer.status_code,
                "iss": query.get("iss", [None])[0],
                "state_matched": query.get("state", [None])[0] == sent_state,
            }

    async def callback_handler() -> AuthorizationCodeResult:
        return pending.pop("result")

    metadata = OAuthClientMetadata(
        client_name="Python e2e client",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none" if cfg["metadata_url"] else "client_secret_post",
    )
    provider = OAuthClientProvider(
        server_url=url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=cfg["metadata_url"],
    )
    try:
        async with httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30, read=60)) as http:
            async with Client(streamable_http_client(url, http_client=http)) as c:
                client_id = storage.client.client_id if storage.client else ""
                out["client_id_kind"] = "document" if client_id.startswith("https://") else "registered" if client_id.startswith("smcp_c_") else "other"
                out["tools"] = len((await c.list_tools()).tools)
                created = await c.call_tool("create_project", {"name": cfg["project"], "type": "textcollection"})
                out["create_project"] = {"is_error": bool(created.is_error)}
                first_refresh = storage.tokens.refresh_token
                # Expire the access token as the SDK sees it: the next call refreshes first.
                provider.context.token_expiry_time = time.time() - 1
                again = await c.call_tool("get_project", {"name": cfg["project"]})
                out["after_refresh"] = {"is_error": bool(again.is_error)}
                out["refreshed"] = storage.tokens.refresh_token != first_refresh

                body = {"token": storage.tokens.refresh_token, "client_id": storage.client.client_id}
                if storage.client.client_secret:
                    body["client_secret"] = storage.client.client_secret
                origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
                async with httpx2.AsyncClient(timeout=30) as plain:
                    revoked = await plain.post(
                        origin + "/revoke",
                        content=urlencode(body).encode(),
                        headers={"content-type": "application/x-www-form-urlencoded"},
                    )
                out["revoked_status"] = revoked.status_code
                try:
                    await c.call_tool("list_projects", {})
                    out["after_revoke"] = "accepted"
                except Exception as e:  # the SDK raises once refresh is refused too
                    out["after_revoke"] = f"{type(e).__name__}: {str(e)[:200]}"
    except Exception as e:
        # The SDK's transport raises from its task group once refresh is refused
        # and sign-in cannot happen again; before revocation this is a failure.
        if not out.get("asked_to_sign_in_again"):
            raise
        out.setdefault("after_revoke", f"refused ({type(e).__name__})")
    return out


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: python_oauth.py MCP_URL CONFIG_JSON")
    print(json.dumps(asyncio.run(run(sys.argv[1], json.loads(sys.argv[2]))), default=str))


if __name__ == "__main__":
    main()
