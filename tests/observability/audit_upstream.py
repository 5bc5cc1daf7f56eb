"""An OpenAI-compatible chat upstream for the request audit's tests: it answers with the last message
echoed, whole or as SSE chunks (one per word), and fails with 500 for the model ``broken``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import orjson
from aiohttp import web
from tests.threaded_app import threaded_app

from api_connector.wire.sse import frames


def _chunk(index: int, delta: dict[str, str], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return orjson.dumps(
        {"id": f"c{index}", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}
    )


async def _chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    if body["model"] == "broken":
        return web.json_response({"error": {"message": "upstream broke", "type": "server_error"}}, status=500)
    text = f"echo: {body['messages'][-1]['content']}"
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    if not body.get("stream"):
        message = {"role": "assistant", "content": text}
        answer = {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
        return web.json_response(answer)
    words = text.split(" ")
    payloads = [_chunk(0, {"role": "assistant", "content": ""})]
    payloads += [_chunk(i, {"content": (" " if i else "") + word}) for i, word in enumerate(words)]
    payloads.append(_chunk(len(words), {}, "stop"))
    tail = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": usage}
    payloads += [orjson.dumps(tail), b"[DONE]"]
    return web.Response(body=frames(payloads), content_type="text/event-stream")


@contextmanager
def audit_upstream() -> Iterator[str]:
    """The upstream's base URL (``.../v1``) for the duration of the block."""

    def routes(app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", _chat)

    with threaded_app(routes) as url:
        yield url + "/v1"
