"""Streamed chat answers are scrubbed of known secrets, and a cached stream replays what the caller saw."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson
import pytest
from aiohttp import web
from tests.gateway import run_gateway

from api_connector.wire.sse import frames

CANARY = "sk-canary-5e1b7d9f3a2c4e6b8d0f1a3c5e7b9d2f"


def _chunk(content: str, finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": finish}
    return orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]})


def _stream(auth: str) -> bytes:
    usage = {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    payloads = [
        _chunk("You"),
        _chunk(f" sent {auth}" if auth else " sent nothing"),  # careless upstreams echo what they got
        _chunk(".", "stop"),
        orjson.dumps(
            {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": usage}
        ),
        b"[DONE]",
    ]
    return frames(payloads)


@contextmanager
def echoing_upstream() -> Iterator[str]:
    """An SSE upstream whose ``leaky`` answers quote the Authorization header the gateway sent."""

    async def handle(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "") if request.match_info["mode"] == "leaky" else ""
        return web.Response(body=_stream(auth), content_type="text/event-stream")

    app = web.Application()
    app.router.add_post("/{mode}/v1/chat/completions", handle)
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.mark.parametrize("mode", ["leaky", "clean"])
def test_a_cached_stream_replays_what_the_caller_saw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("CANARY_KEY", CANARY)
    with echoing_upstream() as upstream:
        providers = {
            mode: {"type": "openai_compatible", "base_url": f"{upstream}/{mode}/v1", "credential": "env:CANARY_KEY"}
        }
        with run_gateway(tmp_path, {"providers": providers}) as gateway:
            body = {"model": f"{mode}/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            headers = {**gateway.headers(), "x-cache-ttl": "60"}
            live = httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers, timeout=30)
            replay = httpx.post(gateway.v1 + "/chat/completions", json=body, headers=headers, timeout=30)
    assert live.status_code == replay.status_code == 200
    assert replay.headers["x-cache"] == "hit" and "x-cache" not in live.headers
    assert replay.content == live.content  # the same events, cut the same way
    assert CANARY not in live.text
    assert ("[REDACTED]" in live.text) == (mode == "leaky")
    assert live.content.endswith(b"data: [DONE]\n\n")
    # Three chunks (the usage chunk is not asked for) and the end, each its own event.
    assert live.content.count(b"\n\ndata: ") == 3
