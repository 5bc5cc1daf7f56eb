"""A secret an upstream writes in two pieces, with a pause between them, is still masked.

Streams are scrubbed as they pass, one network read at a time: a secret cut across two reads was
delivered whole to the caller before this was fixed (``/v1/requests/stream`` scrubbed each read
alone). Now the tail of each read that could start a secret is held back until the next one arrives.
Checked at every cut position of the secret, for a secret from an environment reference and one
from the vault, on the generic stream and on chat SSE (where the cut falls inside one event).
"""

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

from api_connector.wire.sse import frame

SECRET = "sk-split-7f3e9a1c5b2d4f6e8a0c2e4b6d8f0a1c"
PAUSE = 0.05  # long enough for the two writes to reach the gateway as two reads


@contextmanager
def splitting_upstream() -> Iterator[str]:
    """Answers ``/cut/<n>`` with the caller's bearer token written in two pieces, cut after n characters;
    ``/chat/<n>/v1/chat/completions`` does the same inside one chat chunk of an SSE stream."""

    async def cut(request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        at = int(request.match_info["at"])
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        await response.write(b"the key is <" + token[:at].encode())
        await asyncio.sleep(PAUSE)
        await response.write(token[at:].encode() + b"> (careless upstreams echo it)")
        await response.write_eof()
        return response

    async def chat(request: web.Request) -> web.StreamResponse:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        choice = {"index": 0, "delta": {"content": f"key {token}"}, "finish_reason": None}
        event = frame(orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                    "choices": [choice]}))
        finish = {"index": 0, "delta": {}, "finish_reason": "stop"}
        end = frame(orjson.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                                  "choices": [finish]})) + frame(b"[DONE]")
        at = event.index(token.encode()) + int(request.match_info["at"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(event[:at])
        await asyncio.sleep(PAUSE)
        await response.write(event[at:] + end)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/cut/{at}", cut)
    app.router.add_post("/chat/{at}/v1/chat/completions", chat)
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


def _every_cut_is_masked(base: str, headers: dict[str, str], provider: str) -> None:
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for at in range(1, len(SECRET)):
            body = {"provider": provider, "method": "GET", "endpoint": f"/cut/{at}"}
            with client.stream("POST", "/v1/requests/stream", json=body) as answer:
                assert answer.status_code == 200
                received = b"".join(answer.iter_raw())
            assert SECRET.encode() not in received, at
            assert received == b"the key is <[REDACTED]> (careless upstreams echo it)", (at, received)


def test_a_secret_from_the_environment_cut_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLIT_KEY", SECRET)
    with splitting_upstream() as upstream:
        config = {"providers": {"echo": {"type": "http", "base_url": upstream, "credential": "env:SPLIT_KEY"}}}
        with run_gateway(tmp_path, config) as gateway:
            _every_cut_is_masked(gateway.base_url, gateway.headers(), "echo")


def test_a_secret_from_the_vault_cut_anywhere(tmp_path: Path) -> None:
    with splitting_upstream() as upstream, run_gateway(tmp_path) as gateway:
        with httpx.Client(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as admin:
            stored = admin.post(
                "/admin/credentials", json={"name": "split", "provider": "http", "secret": SECRET, "verify": False}
            )
            assert stored.status_code == 201, stored.text
            config = {"type": "http", "base_url": upstream, "credential": stored.json()["id"]}
            created = admin.post("/admin/providers", json={"name": "vaulted", "config": config})
            assert created.status_code == 201, created.text
        _every_cut_is_masked(gateway.base_url, gateway.headers(), "vaulted")


def test_a_secret_cut_inside_a_chat_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLIT_KEY", SECRET)
    with splitting_upstream() as upstream:
        providers = {
            f"cut{at}": {
                "type": "openai_compatible",
                "base_url": f"{upstream}/chat/{at}/v1",
                "credential": "env:SPLIT_KEY",
            }
            for at in range(1, len(SECRET))
        }
        with (
            run_gateway(tmp_path, {"providers": providers}) as gateway,
            httpx.Client(base_url=gateway.v1, headers=gateway.headers(), timeout=30) as client,
        ):
            for at in range(1, len(SECRET)):
                body = {"model": f"cut{at}/m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
                with client.stream("POST", "/chat/completions", json=body) as answer:
                    assert answer.status_code == 200
                    received = b"".join(answer.iter_raw())
                assert SECRET.encode() not in received, at
                assert b"key [REDACTED]" in received and received.endswith(b"data: [DONE]\n\n"), (at, received)
