"""A Deepgram live-transcription upstream for tests (``/v1/listen`` as a WebSocket), on a loopback port in
a thread of its own, answering with Deepgram's recorded messages.

As audio comes in it sends interim ``Results`` (the recorded final result with its first words only,
``is_final`` false) every ``interim_every`` bytes; on ``Finalize`` or ``CloseStream`` the recorded final
result; after ``CloseStream`` the documented ``Metadata`` with the seconds of audio it received, then it
closes with 1000. With ``vad_events`` it says ``SpeechStarted`` at the first audio, with
``utterance_end_ms`` an ``UtteranceEnd`` after the final result. It can refuse the handshake
(``mode="refuse"``), close with 1011 before any result (``"fail_before"``) or after its first one
(``"fail_after"``). Every session's query, headers, audio and control messages are kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web
from tests.threaded_app import threaded_app

DATA = Path(__file__).parent.parent / "data"
RESULTS = orjson.loads((DATA / "recorded" / "deepgram" / "listen" / "testing-nova-3-results.json").read_bytes())
EVENTS = orjson.loads((DATA / "documented" / "deepgram" / "listen-events.json").read_bytes())
_WIDTH = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}


@dataclass
class Session:
    query: dict[str, str]
    headers: dict[str, str]
    audio: bytearray = field(default_factory=bytearray)
    controls: list[str] = field(default_factory=list)
    ended: threading.Event = field(default_factory=threading.Event)


@dataclass
class LiveUpstream:
    mode: str = "ok"  # ok | refuse | fail_before | fail_after
    status: int = 503
    interim_every: int = 24_000  # bytes of audio between interim results
    base_url: str = ""
    sessions: list[Session] = field(default_factory=list)
    refused: int = 0

    async def listen(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "refuse":
            self.refused += 1
            body = {"err_code": "INSUFFICIENT_PERMISSIONS", "err_msg": "refused", "request_id": "0"}
            return web.json_response(body, status=self.status)
        session = Session(dict(request.query), {k.lower(): v for k, v in request.headers.items()})
        self.sessions.append(session)
        ws = web.WebSocketResponse(autoclose=False)
        await ws.prepare(request)
        try:
            await self._serve(ws, session)
        finally:
            session.ended.set()
        return ws

    async def _serve(self, ws: web.WebSocketResponse, session: Session) -> None:
        query = session.query
        rate = int(query.get("sample_rate", "16000")) * _WIDTH.get(query.get("encoding", ""), 2)
        interims = 0
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.BINARY:
                if not session.audio and query.get("vad_events") == "true":
                    await ws.send_str(orjson.dumps(EVENTS["SpeechStarted"]).decode())
                session.audio += message.data
                if self.mode == "fail_before" and len(session.audio) >= self.interim_every:
                    await ws.close(code=1011, message=b"NET-0000 internal error")
                    return
                while len(session.audio) >= (interims + 1) * self.interim_every:
                    interims += 1
                    await ws.send_str(orjson.dumps(_interim(interims, len(session.audio) / rate)).decode())
                    if self.mode == "fail_after":
                        await ws.close(code=1011, message=b"NET-0000 internal error")
                        return
            elif message.type is WSMsgType.TEXT:
                kind = orjson.loads(message.data)["type"]
                session.controls.append(kind)
                if kind in ("Finalize", "CloseStream"):
                    await ws.send_str(orjson.dumps({**RESULTS, "from_finalize": kind == "Finalize"}).decode())
                    if "utterance_end_ms" in query:
                        await ws.send_str(orjson.dumps(EVENTS["UtteranceEnd"]).decode())
                if kind == "CloseStream":
                    metadata = {**EVENTS["Metadata"], "duration": round(len(session.audio) / rate, 3), "channels": 1}
                    await ws.send_str(orjson.dumps(metadata).decode())
                    await ws.close(code=1000)
                    return
            else:
                return


def _interim(count: int, heard: float) -> dict[str, Any]:
    """The recorded final result cut to its first ``count`` words (at least one, never all), not final."""
    alternative = RESULTS["channel"]["alternatives"][0]
    words = alternative["words"][: max(1, min(count, len(alternative["words"]) - 1))]
    text = " ".join(word["punctuated_word"] for word in words)
    channel = {"alternatives": [{**alternative, "transcript": text, "words": words}]}
    return {**RESULTS, "channel": channel, "duration": round(heard, 3), "is_final": False, "speech_final": False}


@contextmanager
def live_upstream(**kwargs: Any) -> Iterator[LiveUpstream]:
    upstream = LiveUpstream(**kwargs)

    def routes(app: web.Application) -> None:
        app.router.add_get("/v1/listen", upstream.listen)

    with threaded_app(routes) as url:
        upstream.base_url = url
        yield upstream
