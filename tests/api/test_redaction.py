"""A planted canary credential appears in no log line and no response body, on success or failure."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from aiohttp import web
from tests.gateway import run_gateway

CANARY = "sk-canary-7f3a9c2e5b1d4f6a8c0e2b4d6f8a1c3e"
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


@asynccontextmanager
async def leaky_upstream() -> AsyncIterator[str]:
    """An upstream that echoes the credential it receives, in errors and in data, as careless ones do."""

    async def handle(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        mode = request.match_info["mode"]
        if mode == "ok":
            return web.json_response(COMPLETION)
        if mode == "echo":
            return web.json_response({"you_sent": auth})
        if mode == "unauthorized":
            return web.json_response(
                {
                    "error": {
                        "message": f"Incorrect API key provided: {auth}",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        return web.json_response({"error": {"message": f"boom while using {auth}"}}, status=500)

    app = web.Application()
    app.router.add_route("*", "/{mode}/v1/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_canary_never_leaks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CANARY_KEY", CANARY)
    async with leaky_upstream() as upstream:
        providers = {
            name: {"type": "openai_compatible", "base_url": f"{upstream}/{name}/v1", "credential": "env:CANARY_KEY"}
            for name in ("ok", "echo", "unauthorized", "broken")
        }
        providers["down"] = {
            "type": "openai_compatible",
            "base_url": f"http://127.0.0.1:{_closed_port()}/v1",
            "credential": "env:CANARY_KEY",
        }
        bodies: list[str] = []
        with run_gateway(tmp_path, {"providers": providers}) as gateway:
            sdk = openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)
            messages = [{"role": "user", "content": "hello"}]
            answer = await sdk.chat.completions.create(model="ok/gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
            bodies.append(answer.model_dump_json())
            for name in ("unauthorized", "broken", "down"):
                with pytest.raises(openai.APIError) as failure:
                    await sdk.chat.completions.create(model=f"{name}/gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
                bodies.append(str(failure.value.body))
                bodies.append(str(failure.value))
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                for provider in ("echo", "unauthorized", "broken", "down"):
                    answer_raw = await http.post("/v1/requests", json={"provider": provider, "endpoint": "/x"})
                    bodies.append(answer_raw.text)
                    if provider == "echo":
                        echoed = answer_raw.json()
                    answer_raw = await http.post("/v1/requests/stream", json={"provider": provider, "endpoint": "/x"})
                    bodies.append(answer_raw.text)
                bodies.append((await http.get("/metrics")).text)
                bodies.append((await http.get("/admin/usage")).text)
            await sdk.close()
        logs = gateway.logs.getvalue()

    # The generic answer that echoed the credential came back with the value masked.
    assert echoed["success"] is True and "[REDACTED]" in echoed["data"]["you_sent"]
    assert any("Incorrect API key provided" in body for body in bodies)
    for body in bodies:
        assert CANARY not in body
    assert logs and CANARY not in logs
    assert all(orjson.loads(line).get("request_id") for line in gateway.logs.lines() if '"event":"request"' in line)
