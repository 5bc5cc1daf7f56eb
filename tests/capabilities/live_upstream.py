"""A Deepgram live-transcription upstream for tests (``/v1/listen`` as a WebSocket), on a loopback port in
a thread of its own, answering with Deepgram's recorded messages.

As audio comes in it sends interim ``Results`` (the recorded final result with its first words only,
``is_final`` false) every ``interim_every`` bytes; on ``Finalize`` or ``CloseStream`` the recorded final
result; after ``CloseStream`` the documented ``Metadata`` with the seconds of audio it received, then it
closes with 1000. With ``vad_events`` it says ``SpeechStarted`` at the first audio, with
``utterance_end_ms`` an ``UtteranceEnd`` after the final result. It can refuse the handshake
(``mode="refuse"``), close with 1011 before any result (``"fail_before"``) or after its first one
(``"fail_after"``). Every session's query, headers, audio and control messages are kept.

The same server is AssemblyAI's Universal-Streaming socket (``/v3/ws``), answering with its documented
messages: ``Begin`` on connect, a partial ``Turn`` (the documented final turn's first words, not final)
every ``interim_every`` bytes, on ``ForceEndpoint`` or ``Terminate`` the end of turn (unformatted, then
formatted with ``format_turns``), after ``Terminate`` a ``Termination`` with the seconds of audio it
received and a 1000 close. It refuses the handshake as the REST API refuses a key (``mode="refuse"``)
or sends an ``Error`` and closes with 3005 before any turn (``"fail_before"``).
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
AAI = orjson.loads((DATA / "documented" / "assemblyai" / "streaming-messages.json").read_bytes())
AAI_UNAUTHORIZED = orjson.loads((DATA / "documented" / "assemblyai" / "unauthorized.json").read_bytes())["response"]
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


    async def streaming(self, request: web.Request) -> web.StreamResponse:
        """AssemblyAI's ``/v3/ws``."""
        if self.mode == "refuse":
            self.refused += 1
            return web.json_response(AAI_UNAUTHORIZED["json"], status=self.status)
        session = Session(dict(request.query), {k.lower(): v for k, v in request.headers.items()})
        self.sessions.append(session)
        ws = web.WebSocketResponse(autoclose=False)
        await ws.prepare(request)
        try:
            await ws.send_str(orjson.dumps(AAI["Begin"]).decode())
            await self._stream(ws, session)
        finally:
            session.ended.set()
        return ws

    async def _stream(self, ws: web.WebSocketResponse, session: Session) -> None:
        query = session.query
        rate = int(query["sample_rate"]) * (1 if query.get("encoding") == "pcm_mulaw" else 2)
        partials = 0
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.BINARY:
                session.audio += message.data
                if self.mode == "fail_before" and len(session.audio) >= self.interim_every:
                    await ws.send_str(orjson.dumps({**AAI["Error"], **_AAI_FAILED}).decode())
                    await ws.close(code=3005, message=_AAI_FAILED["error"].encode())
                    return
                while len(session.audio) >= (partials + 1) * self.interim_every:
                    partials += 1
                    await ws.send_str(orjson.dumps(_partial_turn(partials)).decode())
            elif message.type is WSMsgType.TEXT:
                kind = orjson.loads(message.data)["type"]
                session.controls.append(kind)
                if kind in ("ForceEndpoint", "Terminate"):
                    unformatted, formatted = AAI["Turns"][-2:]
                    await ws.send_str(orjson.dumps(unformatted).decode())
                    if query.get("format_turns") == "true":
                        await ws.send_str(orjson.dumps(formatted).decode())
                if kind == "Terminate":
                    heard = round(len(session.audio) / rate, 3)
                    ended = {**AAI["Termination"], "audio_duration_seconds": heard, "session_duration_seconds": heard}
                    await ws.send_str(orjson.dumps(ended).decode())
                    await ws.close(code=1000)
                    return
            else:
                return


_AAI_FAILED = {"error_code": 3005, "error": AAI["close"]["server"]["reason"]}


def _partial_turn(count: int) -> dict[str, Any]:
    """The documented end of turn cut to its first ``count`` words (never all), not the end."""
    turn = AAI["Turns"][-2]
    words = turn["words"][: max(1, min(count, len(turn["words"]) - 1))]
    final = words[:-1]  # the last word heard may still change
    return {
        **turn,
        "end_of_turn": False,
        "transcript": " ".join(word["text"] for word in final),
        "words": [*final, {**words[-1], "word_is_final": False}],
        "utterance": "",
    }


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
        app.router.add_get("/v3/ws", upstream.streaming)

    with threaded_app(routes) as url:
        upstream.base_url = url
        yield upstream
