"""One client path for outbound HTTP: redirects are answers, and the address guard sees every address.

A guarded pool checks a literal address in the URL as it checks a resolved one; a pool's own
private-address policy (an alert webhook the operator allowed) never opens link-local, metadata or
unspecified addresses. And the service's code has no second HTTP client that could follow redirects.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from tests.loopback import serve

import api_connector
from api_connector.errors import AddressForbidden
from api_connector.transport.http import Timeouts, Transport

FAST = Timeouts(connect=1.0, read=1.0, total=2.0)


@asynccontextmanager
async def listener() -> AsyncIterator[tuple[list[str], int]]:
    """A loopback server that answers every request with a redirect to 0.0.0.0 (itself, on Linux)."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        return web.Response(status=302, headers={"Location": f"http://0.0.0.0:{port}/followed"})

    async with serve(handle) as url:
        port = int(url.rsplit(":", 1)[1])
        yield hits, port


async def test_a_redirect_is_answered_not_followed() -> None:
    transport = Transport()
    try:
        async with listener() as (hits, port):
            answer = await transport.send(
                "operator", "POST", f"http://127.0.0.1:{port}/start", headers={}, body=b"{}", timeouts=FAST
            )
        assert answer.status == 302 and answer.headers["location"].endswith("/followed")
        assert hits == ["/start"]
    finally:
        await transport.close()


async def test_a_pools_private_policy_and_literal_addresses() -> None:
    transport = Transport(allow_private=False)  # the service's policy: no private addresses
    transport.configure_pool("strict", max_connections=2, guarded=True)
    transport.configure_pool("allowed", max_connections=2, guarded=True, allow_private=True)
    try:
        async with listener() as (hits, port):
            with pytest.raises(AddressForbidden, match="forbidden addresses"):
                await transport.send(
                    "strict", "GET", f"http://127.0.0.1:{port}/a", headers={}, body=None, timeouts=FAST
                )
            answer = await transport.send(
                "allowed", "GET", f"http://127.0.0.1:{port}/b", headers={}, body=None, timeouts=FAST
            )
            assert answer.status == 302
            # 0.0.0.0 reaches local listeners on Linux: refused as a literal, whatever the pool allows.
            for host in ("0.0.0.0", "[::]", "169.254.169.254"):
                with pytest.raises(AddressForbidden):
                    await transport.send(
                        "allowed", "GET", f"http://{host}:{port}/c", headers={}, body=None, timeouts=FAST
                    )
        assert hits == ["/b"]
    finally:
        await transport.close()


# What may hold an HTTP client of its own, and why: transport/ is the client; the SDK and the CLI talk to
# the gateway itself (a URL the user chose); Vault and AWS are the operator's secret stores, reached by
# their own clients.
_OWN_CLIENT_ALLOWED = {"sdk/client.py", "cli_remote.py", "credentials/external.py"}
_CLIENTS = re.compile(
    r"\bClientSession\b|\bTCPConnector\b|^\s*(?:import|from)\s+(?:httpx|requests|urllib3|urllib\.request|http\.client)\b",
    re.MULTILINE,
)


def test_the_service_has_no_other_outbound_http_client() -> None:
    root = Path(api_connector.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*.py"))
        if path.parent.name != "transport"
        and str(path.relative_to(root)) not in _OWN_CLIENT_ALLOWED
        and _CLIENTS.search(path.read_text("utf-8"))
    ]
    assert offenders == [], "outbound HTTP must go through transport.http.Transport"
