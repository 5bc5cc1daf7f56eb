"""The reference: the least a Python gateway can do, used as the yardstick for the service.

`python reference_passthrough.py PORT UPSTREAM_BASE [LIVE_BASE]` forwards every POST to UPSTREAM_BASE +
path with the upstream key swapped in, over one shared pooled session, and returns the upstream's status
and body; SSE and audio are relayed chunk by chunk as they arrive. With LIVE_BASE, a WebSocket on
``GET /v1/listen`` is relayed to LIVE_BASE's, frame by frame both ways. No auth, routing, limits,
metrics or records.
"""

import asyncio
import sys

import uvloop
from aiohttp import ClientSession, TCPConnector, WSMsgType, web

UPSTREAM_KEY = "sk-bench"


async def forward(request: web.Request) -> web.StreamResponse:
    session: ClientSession = request.app["session"]
    body = await request.read()
    # The caller's content type is kept: a transcription's multipart form goes on as it came.
    kind = request.headers.get("Content-Type", "application/json")
    headers = {"Content-Type": kind, "Authorization": f"Bearer {UPSTREAM_KEY}"}
    async with session.post(request.app["upstream"] + request.path, data=body, headers=headers) as up:
        if not up.content_type.startswith(("text/event-stream", "audio/")):
            return web.Response(body=await up.read(), status=up.status, content_type=up.content_type)
        out = web.StreamResponse(status=up.status, headers={"Content-Type": up.content_type})
        await out.prepare(request)
        async for chunk in up.content.iter_any():
            await out.write(chunk)
        await out.write_eof()
        return out


async def relay(request: web.Request) -> web.WebSocketResponse:
    """A live session: the caller's frames to the upstream's socket and its messages back, as they come."""
    caller = web.WebSocketResponse(autoclose=False, max_msg_size=0)
    await caller.prepare(request)
    url = request.app["live"] + request.path_qs
    headers = {"Authorization": f"Token {UPSTREAM_KEY}"}
    async with request.app["session"].ws_connect(url, headers=headers, autoclose=False, max_msg_size=0) as up:

        async def to_upstream() -> None:
            async for message in caller:
                if message.type is WSMsgType.BINARY:
                    await up.send_bytes(message.data)
                elif message.type is WSMsgType.TEXT:
                    await up.send_str(message.data)
            await up.close()

        sending = asyncio.create_task(to_upstream())
        async for message in up:
            if message.type is WSMsgType.TEXT:
                await caller.send_str(message.data)
        sending.cancel()
        await caller.close(code=up.close_code or 1000)
    return caller


async def make_app(upstream: str, live: str | None = None) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)  # the transcription row posts 1 MB forms
    app["upstream"] = upstream.rstrip("/")
    # limit=0: no pool cap, like a gateway sized for its callers; keep-alive reuse is the point.
    app["session"] = ClientSession(connector=TCPConnector(limit=0, keepalive_timeout=60))
    app.on_cleanup.append(lambda a: a["session"].close())
    app.router.add_post("/{tail:.*}", forward)
    app.router.add_get("/health", health)
    if live:
        app["live"] = live.rstrip("/").replace("http", "ws", 1)
        app.router.add_get("/v1/listen", relay)
    return app


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    web.run_app(
        make_app(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=None,
        backlog=1024,
        shutdown_timeout=1,
    )
