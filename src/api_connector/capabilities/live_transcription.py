"""Live transcription: a session of audio frames in and transcripts out, over one upstream WebSocket.

The pipeline runs a session like any streamed call: the caller's limits and budgets are checked when
it starts, the route's targets are tried in turn (breakers, provider limits, credential), and the
call ends (usage, cost, metrics, health) when the session does. One attempt (``open``) opens the
target's socket, sends it every frame the caller sent so far (``CallerAudio.replay``) and then the
rest as it comes, and reads the target's messages until its first transcript: a failure until then
(a refused handshake, a socket closed with an error, a vendor error message) fails over to the next
target, which hears the session from its start. From the first transcript on the session is the
caller's (``LiveStream``): a failure closes it, with an error message, and is recorded.

While the caller is quiet the target is sent its keep-alive (a vendor whose sessions stay open
without one is sent nothing); the session is bounded by the call's
deadline (the route sets it to ``LIVE_MAX_SESSION_SECONDS``): when that passes the target is asked to
close, its last results are relayed for a few seconds more, and the session ends.

Metered in audio seconds: what the vendor reports having received (Deepgram's closing ``Metadata``,
AssemblyAI's ``Termination``),
else what the bytes sent hold in the declared raw encoding, else where the last transcript ended.
Sessions are never cached, shared or kept as dead letters (their audio is not kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import orjson

from api_connector.capabilities.base import CapabilitySpec, StreamFilter, endpoint_of, failure, scrub_batch
from api_connector.capabilities.speech import speech_route
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Inbound, Outbound
from api_connector.core.live import CallerAudio, Control, Frame, LiveParams
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamError, UpstreamProtocolError, ValidationFailed
from api_connector.observability.redaction import Redactor
from api_connector.routing.catalog import Catalog, Route, Target
from api_connector.routing.classify import classify_vendor_error
from api_connector.routing.exchange import Exchange
from api_connector.routing.streams import AnswerStream, GeneratedStream
from api_connector.transport.websocket import SocketMessage, UpstreamSocket
from api_connector.wire.base import VendorError
from api_connector.wire.live import LiveMessage, LiveWire

# Seconds the target has to send its last results once asked to close (the session's time is up, or
# the caller left) before the socket is closed anyway.
CLOSING_GRACE = 10.0


@dataclass(frozen=True, slots=True)
class LiveRequest:
    """One session: what the caller asked for, its audio as it arrives, and the service's bounds."""

    params: LiveParams
    audio: CallerAudio
    max_message: int  # the largest message accepted from the target, in bytes
    keepalive: float  # seconds of caller silence after which the target is sent its keep-alive


class LiveStream(GeneratedStream):
    """The target's messages for the caller, each one gateway message (JSON), while the caller's frames
    are sent on by a task of its own."""

    def __init__(
        self, target: Target, socket: UpstreamSocket, wire: LiveWire, request: LiveRequest, deadline: float | None
    ) -> None:
        super().__init__(target)
        self._socket = socket
        self._wire = wire
        self._request = request
        self._deadline = deadline
        self._provider = target.instance.name
        self._held: list[bytes] = []  # messages read before the first transcript
        self._sent_bytes = 0  # audio bytes this target was sent
        self._reported: float | None = None  # seconds the target says it received
        self._last_end = 0.0  # where the last transcript ended, in seconds of audio
        self._closing = False  # the target was asked to close
        self._ended = False  # the target closed cleanly
        self.end_reason = "provider_closed"  # or "closed" (the caller's close), "max_duration"
        self._messages = self._read()
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Future[None] | None = None

    @property
    def usage(self) -> Usage:
        seconds = self._reported
        if seconds is None:
            seconds = self._request.params.seconds_of(self._sent_bytes)
        if seconds is None:
            seconds = self._last_end
        return Usage(audio_seconds=round(seconds, 3))

    @property
    def finished(self) -> bool:
        return self._ended

    # -- the caller's frames to the target ------------------------------------------------------------
    def start(self, replay: list[Frame]) -> None:
        self._sender = asyncio.create_task(self._send(replay))

    async def _send(self, replay: list[Frame]) -> None:
        audio, keepalive = self._request.audio, self._request.keepalive
        try:
            for frame in replay:
                await self._forward(frame)
            while True:
                try:
                    async with asyncio.timeout(keepalive):
                        frame = await audio.take()
                except TimeoutError:
                    await self._ask(Control.KEEPALIVE)
                    continue
                await self._forward(frame)
                if frame is Control.CLOSE:
                    return
        except UpstreamError:
            return  # the socket is gone: reading it says how, and the session ends there

    async def _forward(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._sent_bytes += len(frame)
            await self._socket.send_bytes(frame)
            return
        if frame is Control.CLOSE:
            self._closing = True
            self.end_reason = "closed"
        await self._ask(frame)

    async def _ask(self, control: Control) -> None:
        """``control``'s message to the target, when its vendor has one (none: nothing to send)."""
        text = self._wire.control(control)
        if text is not None:
            await self._socket.send_text(text)

    # -- the target's messages to the caller ----------------------------------------------------------
    async def until_first_transcript(self) -> None:
        """Read until the first transcript (or a clean end); what came before it is held for the caller."""
        async for said, text in self._messages:
            self._held.extend(self._render(said, text))
            if said.transcript:
                return

    async def _pieces(self) -> AsyncIterator[list[bytes]]:
        if self._held:
            held, self._held = self._held, []
            yield held
        async for said, text in self._messages:
            yield self._render(said, text)

    async def _read(self) -> AsyncIterator[tuple[LiveMessage, str]]:
        """The target's messages that mean something to the caller, until it closes cleanly; a failure
        it reports or a connection that drops is raised, classified."""
        while True:
            got = await self._receive()
            if got.kind == "binary":
                continue  # no vendor sends audio back on a transcription socket
            if got.kind == "closed":
                said = (
                    self._wire.close_failure(got.code, str(got.data))
                    if got.code is not None
                    else VendorError("the provider's connection dropped", status=502)
                )
                if said is None:
                    self._ended = True
                    return
                raise classify_vendor_error(said, provider=self._provider)
            text = str(got.data)
            try:
                message = self._wire.decode(text, self._request.params)
            except ValueError:  # pydantic's ValidationError included
                raise UpstreamProtocolError(
                    "the provider sent a message that is not of its live shape", provider=self._provider
                ) from None
            if message.error is not None:
                raise classify_vendor_error(message.error, provider=self._provider)
            if message.duration is not None:
                self._reported = message.duration
            if message.body is not None:
                yield message, text

    async def _receive(self) -> SocketMessage:
        """The next message, the session's time limit kept: once it passes, the target is asked to close
        and given ``CLOSING_GRACE`` seconds for its last results."""
        while True:
            left = None if self._deadline is None else self._deadline - time.perf_counter()
            try:
                async with asyncio.timeout(left):
                    return await self._socket.receive()
            except TimeoutError:
                if self._closing:
                    return SocketMessage("closed", "", 1000)  # its last results did not come: ended anyway
                await self._stop_sender()
                self._closing = True
                self.end_reason = "max_duration"
                self._deadline = time.perf_counter() + CLOSING_GRACE
                with contextlib.suppress(UpstreamError):
                    await self._ask(Control.CLOSE)

    def _render(self, said: LiveMessage, text: str) -> list[bytes]:
        """The gateway messages ``said`` stands for (the vendor's own rides on the first, when asked)."""
        body = cast(dict[str, Any], said.body)
        if said.transcript:
            words = body.get("words")
            if words:
                self._last_end = max(self._last_end, float(words[-1]["end"]))
        if self._request.params.native:
            body = {**body, "native": orjson.loads(text)}
        return [orjson.dumps(body), *map(orjson.dumps, said.after)]

    async def _stop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def shut(self) -> None:
        """Let go of the target: the sender stopped, the socket closed."""
        await self._stop_sender()
        await self._socket.close()

    def close(self) -> None:
        """Synchronous, as every stream's: the sender is stopped now, the socket's closing handshake
        runs on its own (kept referenced until done)."""
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            sender.cancel()
        if self._closer is None:
            self._closer = asyncio.ensure_future(self._socket.close())
        super().close()


class LiveTranscriptionCapability(CapabilitySpec[LiveRequest, None]):
    capability: ClassVar[Capability] = Capability.LIVE_TRANSCRIPTION
    kind: ClassVar[str] = "live_transcription"

    def route(self, catalog: Catalog, project_id: str, request: LiveRequest) -> Route:
        return speech_route(catalog, project_id, request.params.model, Capability.LIVE_TRANSCRIPTION)

    def streamed(self, request: LiveRequest) -> bool:
        return True

    def usage(self, result: None) -> Usage:
        return Usage()  # a session is always a stream: its usage is the stream's

    def dump_result(self, result: None) -> bytes:
        raise ValidationFailed("a live session is never cached")

    def load_result(self, raw: bytes, usage: Usage) -> None:
        raise ValidationFailed("a live session is never cached")

    async def fetch(self, request: LiveRequest, exchange: Exchange) -> None:
        raise ValidationFailed("a live session is a stream: it has no whole answer")

    async def open(self, request: LiveRequest, exchange: Exchange) -> AnswerStream:
        target = exchange.target
        endpoint = endpoint_of(target, Capability.LIVE_TRANSCRIPTION)
        wire = cast(LiveWire, endpoint.wire)  # a live endpoint declares a live wire
        query = {**endpoint.query, **wire.query(request.params, target.model)}  # ValidationFailed: passed over
        try:
            replay = request.audio.replay()
        except OverflowError:
            raise ValidationFailed(
                "the audio sent before the first transcript is more than can be kept to move the session to "
                "another provider"
            ) from None
        path = endpoint.path_for(target.model)
        url = endpoint.url_for(target.instance.base_url, path)  # a socket on a sibling host of the base URL's
        outbound = Outbound(path, None, {}, method="GET", query=query, url=url)
        opened = await exchange.connect(outbound, request.max_message)
        if isinstance(opened, Inbound):
            raise failure(opened, wire.decode_error, target)
        remaining = exchange.remaining()
        deadline = None if remaining is None else time.perf_counter() + remaining
        stream = LiveStream(target, opened, wire, request, deadline)
        stream.start(replay)
        try:
            await stream.until_first_transcript()
        except BaseException:
            await stream.shut()
            raise
        request.audio.committed()
        return stream

    def stream_filter(self, stream: AnswerStream, redactor: Redactor) -> StreamFilter | None:
        # Transcripts are text: known secrets are masked like in any text answer (each piece is one message).
        return scrub_batch(redactor)

    def answer_json(self, result: None) -> tuple[int, Any]:
        return 200, None

    def dead_letter(self, request: LiveRequest) -> tuple[str, dict[str, Any]]:
        return request.params.model, {"params": request.params.model_dump(mode="json")}

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> LiveRequest:
        raise ValidationFailed("a live session cannot be replayed: its audio is not kept")


LIVE_TRANSCRIPTION = LiveTranscriptionCapability()
