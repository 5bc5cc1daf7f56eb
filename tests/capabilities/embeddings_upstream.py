"""An OpenAI-shaped embeddings upstream for tests, on a loopback port in a thread of its own
(``tests.threaded_app``): deterministic vectors (the sandbox's), base64 or
floats as asked, every request body kept; it can be slowed, fail with a status (as the governance tests'
``FakeUpstream``, whose delay and failures it shares) or answer a redirect."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from tests.governance.upstream import FakeUpstream
from tests.threaded_app import threaded_app

from api_connector.sandbox.engine import sandbox_vector

DIMENSIONS = 8


def expected_vector(text: str) -> list[float]:
    """The vector this upstream answers for ``text``, as float32 values."""
    values = sandbox_vector(text, DIMENSIONS)
    return list(struct.unpack(f"<{DIMENSIONS}f", struct.pack(f"<{DIMENSIONS}f", *values)))


def tokens_of(texts: list[str]) -> int:
    """What this upstream bills: one token per word."""
    return sum(len(text.split()) for text in texts)


@dataclass
class EmbeddingsUpstream(FakeUpstream):
    model: str = "fake-embed"
    received: list[dict[str, Any]] = field(default_factory=list)
    redirect: str | None = None

    @property
    def inputs(self) -> list[list[str]]:
        return [body["input"] for body in self.received]

    async def embeddings(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        self.received.append(body)
        failed = await self.answering()
        if failed is not None:
            return failed
        if self.redirect is not None:
            return web.Response(status=302, headers={"Location": self.redirect})
        texts: list[str] = body["input"]
        data = []
        for index, text in enumerate(texts):
            vector: Any = sandbox_vector(text, DIMENSIONS)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{DIMENSIONS}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = tokens_of(texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return web.json_response({"object": "list", "data": data, "model": self.model, "usage": usage})


@contextmanager
def embeddings_upstream(**kwargs: Any) -> Iterator[EmbeddingsUpstream]:
    upstream = EmbeddingsUpstream(**kwargs)

    def routes(app: web.Application) -> None:
        app.router.add_post("/v1/embeddings", upstream.embeddings)

    with threaded_app(routes, client_max_size=64 * 1024**2) as url:
        upstream.base_url = url + "/v1"
        yield upstream
