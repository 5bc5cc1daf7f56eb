"""A small OpenAI-compatible upstream for governance tests: counts calls (and how many were open at
once), answers after a delay, can add headers (rate-limit headers for quota steering) or fail with a
status; ``/hook`` receives alert webhooks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.threaded_app import threaded_app


@dataclass
class FakeUpstream:
    base_url: str = ""
    calls: int = 0
    delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    in_flight: int = 0
    most_in_flight: int = 0
    hooks: list[dict[str, Any]] = field(default_factory=list)  # alert webhooks received on /hook

    async def answering(self) -> web.Response | None:
        """After the configured delay (counted as a call in flight): the configured failure, if any."""
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if self.status >= 400:
            error = {"error": {"message": "upstream failed", "type": "server_error", "code": None}}
            return web.json_response(error, status=self.status, headers=self.headers)
        return None

    async def chat(self, request: web.Request) -> web.Response:
        self.calls += 1
        body: dict[str, Any] = await request.json()
        failed = await self.answering()
        if failed is not None:
            return failed
        text = body["messages"][-1]["content"]
        answer = {
            "id": f"chatcmpl-{self.calls}",
            "object": "chat.completion",
            "created": 1,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": f"echo: {text}"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        }
        return web.json_response(answer, headers=self.headers)

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.json())
        return web.Response(status=204)


@contextmanager
def fake_upstream(**kwargs: Any) -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(**kwargs)

    def routes(app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", upstream.chat)
        app.router.add_post("/hook", upstream.hook)

    with threaded_app(routes) as url:
        upstream.base_url = url + "/v1"
        yield upstream


def two_provider_route(
    first: FakeUpstream, second: FakeUpstream, rate_limit: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Providers "a" (with ``rate_limit``) and "b", and route "r" that prefers "a" and fails over to "b"."""
    a: dict[str, Any] = {"type": "openai_compatible", "base_url": first.base_url}
    if rate_limit is not None:
        a["rate_limit"] = rate_limit
    return {
        "providers": {"a": a, "b": {"type": "openai_compatible", "base_url": second.base_url}},
        "routes": {
            "r": {
                "strategy": "priority",
                "targets": [
                    {"provider": "a", "model": "m", "priority": 0},
                    {"provider": "b", "model": "m", "priority": 1},
                ],
            }
        },
    }
