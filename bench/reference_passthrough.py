"""The reference: the least a Python gateway can do, used as the yardstick for the service.

`python reference_passthrough.py PORT UPSTREAM_BASE` forwards every POST to UPSTREAM_BASE + path with
the upstream key swapped in, over one shared pooled session, and returns the upstream's status and
body; SSE and audio are relayed chunk by chunk as they arrive. No auth, routing, limits, metrics or records.
"""

import sys

import uvloop
from aiohttp import ClientSession, TCPConnector, web

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


async def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=32 * 1024 * 1024)  # the transcription row posts 1 MB forms
    app["upstream"] = upstream.rstrip("/")
    # limit=0: no pool cap, like a gateway sized for its callers; keep-alive reuse is the point.
    app["session"] = ClientSession(connector=TCPConnector(limit=0, keepalive_timeout=60))
    app.on_cleanup.append(lambda a: a["session"].close())
    app.router.add_post("/{tail:.*}", forward)
    app.router.add_get("/health", health)
    return app


async def health(_: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    web.run_app(
        make_app(sys.argv[2]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=None,
        backlog=1024,
        shutdown_timeout=1,
    )
