"""A loopback OpenAI-compatible provider that accepts only the keys it was told about.

It answers ``GET /v1/models`` (the probe) and ``POST /v1/chat/completions`` with ``"served by <tag>"``,
where the tag says which key came in, so tests can tell which credential version served a request.
A wrong key gets a 401 that quotes it back, as careless providers do. Paths listed in ``recorded``
are answered with recorded real provider responses instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.recorded import RecordedResponse


@dataclass
class FakeProvider:
    keys: dict[str, str] = field(default_factory=dict)  # accepted key -> tag
    recorded: dict[str, RecordedResponse] = field(default_factory=dict)  # path -> answer
    served: list[str] = field(default_factory=list)  # tags, in order
    base_url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        replay = self.recorded.get(request.path)
        if replay is not None:
            return web.Response(status=replay.status, body=replay.body, content_type="application/json")
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        tag = self.keys.get(key)
        if tag is None:
            error = {"message": f"Incorrect API key provided: {key}", "type": "invalid_request_error"}
            return web.json_response({"error": {**error, "code": "invalid_api_key", "param": None}}, status=401)
        self.served.append(tag)
        if request.path.endswith("/models"):
            return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        return web.json_response(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1,
                "model": "fake-model",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"served by {tag}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
            }
        )


@asynccontextmanager
async def fake_provider(keys: dict[str, str] | None = None) -> AsyncIterator[FakeProvider]:
    provider = FakeProvider(dict(keys or {}))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", provider.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    provider.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    try:
        yield provider
    finally:
        await runner.cleanup()
