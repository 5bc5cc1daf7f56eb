"""An OpenAI-shaped speech upstream for tests, on a loopback port in a thread of its own: it streams
the audio it is given in pieces, with pauses, and can hold its last piece back until the test says
the client has its first bytes (``gate``), fail with a status, answer an empty body, or cut the
connection after its first piece. Every request it received is kept."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from tests.threaded_app import threaded_app

GATE_SECONDS = 15.0  # how long the last piece waits for the client's first bytes before giving up


@dataclass
class SpeechUpstream:
    audio: bytes = b""
    content_type: str = "audio/wav"
    pieces: int = 4
    pause: float = 0.05
    mode: str = "ok"  # ok | status | empty | cut
    status: int = 503
    error_body: bytes = b'{"error": {"message": "upstream failed", "type": "server_error", "code": null}}'
    headers: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    received_headers: list[dict[str, str]] = field(default_factory=list)
    # Set by the test when its client has the answer's first bytes; the last piece waits for it.
    gate: threading.Event | None = None
    gate_timed_out: bool = False
    last_piece_written: bool = False

    @property
    def calls(self) -> int:
        return len(self.received)

    async def speech(self, request: web.Request) -> web.StreamResponse:
        self.received.append(orjson.loads(await request.read()))
        self.received_headers.append({k.lower(): v for k, v in request.headers.items()})
        if self.mode == "status":
            return web.Response(status=self.status, body=self.error_body, content_type="application/json")
        if self.mode == "empty":
            return web.Response(status=200, body=b"", content_type=self.content_type, headers=self.headers)
        response = web.StreamResponse(headers={"Content-Type": self.content_type, **self.headers})
        await response.prepare(request)
        size = -(-len(self.audio) // self.pieces)
        parts = [self.audio[start : start + size] for start in range(0, len(self.audio), size)]
        for index, part in enumerate(parts):
            if index == len(parts) - 1 and self.gate is not None:
                await self._wait_for_gate()
            await response.write(part)
            if self.mode == "cut":
                assert request.transport is not None
                request.transport.close()  # the body's first bytes, then the connection is gone
                return response
            await asyncio.sleep(self.pause)
        self.last_piece_written = True
        await response.write_eof()
        return response

    async def _wait_for_gate(self) -> None:
        assert self.gate is not None
        deadline = time.monotonic() + GATE_SECONDS
        while not self.gate.is_set():
            if time.monotonic() > deadline:
                self.gate_timed_out = True
                return
            await asyncio.sleep(0.01)


@contextmanager
def speech_upstream(**kwargs: Any) -> Iterator[SpeechUpstream]:
    upstream = SpeechUpstream(**kwargs)

    def routes(app: web.Application) -> None:
        app.router.add_post("/v1/audio/speech", upstream.speech)

    with threaded_app(routes) as url:
        upstream.base_url = url + "/v1"
        yield upstream
