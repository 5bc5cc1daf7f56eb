"""Renewing a pool: requests in flight finish on the old pool, new ones use the new pool, nothing fails."""

from __future__ import annotations

import asyncio

from aiohttp import web
from tests.loopback import serve

from api_connector.transport.http import Timeouts, Transport

TIMEOUTS = Timeouts(connect=2.0, read=5.0, total=10.0)


class HeldUpstream:
    """Answers ``/held`` only once released; counts the connections each request came in on."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()
        self.peers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.peers.append(int(peer[1]) if peer else 0)
        if request.path == "/held":
            self.arrived.set()
            await self.release.wait()
        return web.json_response({"path": request.path})


async def test_a_renewed_pool_serves_its_request_in_flight_and_then_closes() -> None:
    upstream = HeldUpstream()
    transport = Transport()
    transport.configure_pool("p", max_connections=4)
    async with serve(upstream.handle) as base:
        warm = await transport.send("p", "GET", f"{base}/warm", headers={}, body=None, timeouts=TIMEOUTS)
        assert warm.status == 200
        old = transport.opened("p")
        held = asyncio.create_task(transport.send("p", "GET", f"{base}/held", headers={}, body=None, timeouts=TIMEOUTS))
        await upstream.arrived.wait()

        assert transport.renew(["p"]) == 1
        new = transport.opened("p")
        assert new is not old and old.retired and not new.retired
        assert transport.draining == 1  # the held request is still on the old pool

        after = await transport.send("p", "GET", f"{base}/after", headers={}, body=None, timeouts=TIMEOUTS)
        assert after.status == 200
        # The request after the renewal came on a connection of its own: the old pool kept nothing idle.
        assert upstream.peers[-1] not in upstream.peers[:-1]

        upstream.release.set()
        answer = await held
        assert answer.status == 200 and answer.body == b'{"path": "/held"}'
        assert old.drained and transport.draining == 0  # its connection closed as the answer ended
        again = await transport.send("p", "GET", f"{base}/again", headers={}, body=None, timeouts=TIMEOUTS)
        assert again.status == 200 and upstream.peers[-1] == upstream.peers[-2]  # the new pool keeps alive
    await transport.close()


async def test_callers_waiting_for_a_connection_of_a_retired_pool_are_served() -> None:
    upstream = HeldUpstream()
    transport = Transport()
    transport.configure_pool("p", max_connections=1)
    async with serve(upstream.handle) as base:
        held = asyncio.create_task(transport.send("p", "GET", f"{base}/held", headers={}, body=None, timeouts=TIMEOUTS))
        await upstream.arrived.wait()
        old = transport.opened("p")
        # The pool's one connection is busy: this caller waits in the old pool for its turn.
        waiting = asyncio.create_task(
            transport.send("p", "GET", f"{base}/queued", headers={}, body=None, timeouts=TIMEOUTS)
        )
        for _ in range(1000):  # until it is queued in the old pool
            if old.waiting:
                break
            await asyncio.sleep(0)
        assert old.waiting == 1
        transport.renew(["p"])
        upstream.release.set()
        assert (await held).status == 200
        assert (await waiting).status == 200  # served by the retired pool, not refused
        assert old.drained
    await transport.close()
