"""An AssemblyAI-shaped transcription upstream for tests (upload, submit, poll), on a loopback port in a
thread of its own.

``POST /v2/upload`` keeps the audio and answers its ``upload_url`` (on this server); ``POST
/v2/transcript`` creates a job (``queued``) for an upload it holds; ``GET /v2/transcript/{id}`` answers
``processing`` for the first ``polls_before_done`` polls, then, by ``mode``: ``completed`` (the text it
was given, words spread over the WAV's duration, ``audio_duration``), ``error`` (the job's error), or
``processing`` for ever (``running``). Shapes as AssemblyAI documents them (``tests/data/documented/assemblyai``).
Every request is counted per job, with when it came.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from tests.threaded_app import threaded_app

ERROR = "Transcoding failed. File does not appear to contain audio."


@dataclass
class AssemblyAIUpstream:
    text: str = ""
    mode: str = "completed"  # completed | error | running
    polls_before_done: int = 2
    base_url: str = ""
    uploads: list[bytes] = field(default_factory=list)
    submitted: list[dict[str, Any]] = field(default_factory=list)
    polls: dict[str, list[float]] = field(default_factory=dict)  # job id: when each poll came (monotonic)
    keys: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=itertools.count)

    async def upload(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers.get("authorization", ""))
        self.uploads.append(await request.read())
        return web.json_response({"upload_url": f"{self.base_url}/files/{len(self.uploads) - 1}"})

    async def submit(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers.get("authorization", ""))
        body = orjson.loads(await request.read())
        self.submitted.append(body)
        job = f"job-{next(self._ids)}"
        self.polls[job] = []
        return web.json_response({"id": job, "status": "queued", "text": None, "words": None, "error": None})

    async def poll(self, request: web.Request) -> web.Response:
        self.keys.append(request.headers.get("authorization", ""))
        job = request.match_info["id"]
        if job not in self.polls:
            return web.json_response({"error": "Transcript lookup error, transcript id not found"}, status=404)
        self.polls[job].append(time.monotonic())
        if len(self.polls[job]) <= self.polls_before_done or self.mode == "running":
            return web.json_response({"id": job, "status": "processing", "text": None, "words": None})
        if self.mode == "error":
            return web.json_response({"id": job, "status": "error", "text": None, "error": ERROR})
        audio = self.uploads[int(self.submitted[-1]["audio_url"].rsplit("/", 1)[1])]
        return web.json_response(self._completed(job, _wav_seconds(audio)))

    def _completed(self, job: str, duration: float) -> dict[str, Any]:
        said = self.text.split()
        step = duration / max(len(said), 1)
        words = [
            {"text": w, "start": round(i * step * 1000), "end": round((i + 1) * step * 1000), "confidence": 0.9}
            for i, w in enumerate(said)
        ]
        return {"id": job, "status": "completed", "text": self.text, "words": words, "language_code": "en_us",
                "audio_duration": duration, "error": None}


def _wav_seconds(wav: bytes) -> float:
    byte_rate = struct.unpack_from("<I", wav, 28)[0]
    return round((len(wav) - 44) / byte_rate, 3)


@contextmanager
def assemblyai_upstream(**options: Any) -> Iterator[AssemblyAIUpstream]:
    upstream = AssemblyAIUpstream(**options)

    def setup(app: web.Application) -> None:
        app.router.add_post("/v2/upload", upstream.upload)
        app.router.add_post("/v2/transcript", upstream.submit)
        app.router.add_get("/v2/transcript/{id}", upstream.poll)

    with threaded_app(setup, client_max_size=64 * 1024**2) as url:
        upstream.base_url = url
        yield upstream
