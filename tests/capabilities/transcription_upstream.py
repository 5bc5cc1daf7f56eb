"""An OpenAI-shaped transcription upstream for tests, on a loopback port in a thread of its own.

It reads the multipart form as it arrives (the file is hashed and counted, kept only when small), and
answers in the shape of OpenAI's recorded ``verbose_json`` answer (``tests/data/recorded/openai``):
the text it was given, the language, the duration it reads in the received WAV's header, segments
(one per sentence) and words spread over that duration, and usage in seconds. It can fail with a
status instead. Every form it received is kept (its fields, and the file's size and SHA-256).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from tests.threaded_app import threaded_app

_KEEP = 2 * 1024 * 1024


@dataclass
class Received:
    path: str
    fields: dict[str, list[str]]
    filename: str | None
    content_type: str | None
    size: int
    sha256: str
    audio: bytes  # empty when larger than 2 MiB
    headers: dict[str, str]


@dataclass
class TranscriptionUpstream:
    text: str = ""
    language: str = "english"
    mode: str = "ok"  # ok | status
    status: int = 503
    error_body: bytes = b'{"error": {"message": "upstream failed", "type": "server_error", "code": null}}'
    base_url: str = ""
    received: list[Received] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.received)

    async def transcribe(self, request: web.Request) -> web.Response:
        got = await _read(request)
        self.received.append(got)
        if self.mode == "status":
            return web.Response(status=self.status, body=self.error_body, content_type="application/json")
        duration = _wav_seconds(got.audio) if got.audio else 0.0
        answer = self.answer(duration, got.fields, translate=request.path.endswith("/translations"))
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    def answer(self, duration: float, fields: dict[str, list[str]], translate: bool) -> dict[str, Any]:
        words = self.text.split()
        step = duration / max(len(words), 1)
        timed = [
            {"word": w.strip(".,!?"), "start": round(i * step, 3), "end": round((i + 1) * step, 3)}
            for i, w in enumerate(words)
        ]
        if fields.get("response_format") == ["json"]:
            return {"text": self.text, "usage": {"type": "duration", "seconds": math.ceil(duration)}}
        body: dict[str, Any] = {
            "task": "translate" if translate else "transcribe",
            "language": self.language,
            "duration": duration,
            "text": self.text,
        }
        granularities = fields.get("timestamp_granularities[]", ["segment"])
        if "word" in granularities:
            body["words"] = timed
        if "segment" in granularities:
            body["segments"] = _sentences(words, timed)
        body["usage"] = {"type": "duration", "seconds": math.ceil(duration)}
        return body


def _sentences(words: list[str], timed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    segments: list[dict[str, Any]] = []
    start = 0
    for index, word in enumerate(words):
        if word.endswith((".", "!", "?")) or index == len(words) - 1:
            segments.append(
                {
                    "id": len(segments),
                    "seek": 0,
                    "start": timed[start]["start"],
                    "end": timed[index]["end"],
                    "text": " " + " ".join(words[start : index + 1]),
                    "tokens": [50364, 440],
                    "temperature": 0.0,
                    "avg_logprob": -0.21,
                    "compression_ratio": 1.2,
                    "no_speech_prob": 0.01,
                }
            )
            start = index + 1
    return segments


def _wav_seconds(audio: bytes) -> float:
    byte_rate = struct.unpack_from("<I", audio, 28)[0]
    return round((len(audio) - 44) / byte_rate, 3)


async def _read(request: web.Request) -> Received:
    fields: dict[str, list[str]] = {}
    filename = content_type = None
    size = 0
    digest = hashlib.sha256()
    kept = bytearray()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        assert isinstance(part, BodyPartReader)
        if part.filename is not None:
            filename, content_type = part.filename, part.headers.get("Content-Type")
            while chunk := await part.read_chunk(64 * 1024):
                size += len(chunk)
                digest.update(chunk)
                if size <= _KEEP:
                    kept += chunk
        else:
            fields.setdefault(part.name or "", []).append(await part.text())
    headers = {k.lower(): v for k, v in request.headers.items()}
    audio = bytes(kept) if size <= _KEEP else b""
    return Received(request.path, fields, filename, content_type, size, digest.hexdigest(), audio, headers)


@contextmanager
def transcription_upstream(**kwargs: Any) -> Iterator[TranscriptionUpstream]:
    upstream = TranscriptionUpstream(**kwargs)

    def routes(app: web.Application) -> None:
        app.router.add_post("/v1/audio/transcriptions", upstream.transcribe)
        app.router.add_post("/v1/audio/translations", upstream.transcribe)

    with threaded_app(routes) as url:
        upstream.base_url = url + "/v1"
        yield upstream
