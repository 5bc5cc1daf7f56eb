"""Live transcription's provider-neutral types: the session's parameters, the caller's audio as the
attempt reads it, and how many seconds of audio a number of bytes holds.

A live session is one call whose request keeps arriving: the caller's audio frames and control asks
(finalize, close) come in while the answer (transcripts) goes out. ``CallerAudio`` is that inbound
side, filled by the route and read by one attempt at a time. Until the first transcript reached the
caller, every frame taken is also kept (``replay``), so that a target failing before then can be
replaced by the next one, which hears the session from its start; once a transcript went out the
kept frames are let go and failover is over.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Encoding(StrEnum):
    """Raw encodings whose duration follows from their size; a container (WAV, Ogg, WebM) is sent
    without one and its length is the provider's to report."""

    LINEAR16 = "linear16"
    LINEAR32 = "linear32"
    FLAC = "flac"
    MULAW = "mulaw"
    ALAW = "alaw"
    OPUS = "opus"
    SPEEX = "speex"
    G729 = "g729"


# Bytes a sample of one channel takes, for the encodings whose size says their length.
SAMPLE_BYTES: dict[Encoding, int] = {
    Encoding.LINEAR16: 2,
    Encoding.LINEAR32: 4,
    Encoding.MULAW: 1,
    Encoding.ALAW: 1,
}


class LiveParams(BaseModel):
    """What the caller asks of a live session (the WebSocket URL's query)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field("", max_length=200)  # a route, "<instance>/<model>" or an instance; "" for the default
    language: str | None = Field(None, max_length=35)
    encoding: Encoding | None = None
    sample_rate: int | None = Field(None, ge=8000, le=192_000)
    channels: int = Field(1, ge=1, le=8)
    interim_results: bool = True
    punctuate: bool = True
    # Milliseconds of silence after the last word before the provider says the utterance ended (>= 1000).
    utterance_end_ms: int | None = Field(None, ge=1000, le=5000)
    vad_events: bool = False  # the provider says when speech starts
    native: bool = False  # each message also carries the provider's own, under "native"

    def seconds_of(self, audio_bytes: int) -> float | None:
        """How long ``audio_bytes`` of this session's audio last; None when its encoding does not say."""
        width = SAMPLE_BYTES.get(self.encoding) if self.encoding is not None else None
        if width is None or not self.sample_rate:
            return None
        return audio_bytes / (width * self.channels * self.sample_rate)


class Control(StrEnum):
    """What a caller may ask of the provider between audio frames."""

    KEEPALIVE = "keepalive"  # nothing to send now; keep the session open
    FINALIZE = "finalize"  # give final results for what was sent so far
    CLOSE = "close"  # no more audio: the last results, then the session ends


Frame = bytes | Control


class CallerAudio:
    """The caller's frames in order, for one attempt at a time (see the module's docstring)."""

    def __init__(self, replay_limit: int, queue_size: int = 64) -> None:
        self._queue: asyncio.Queue[Frame] = asyncio.Queue(queue_size)
        self._replay: list[Frame] | None = []
        self._replay_bytes = 0
        self._replay_limit = replay_limit
        self.audio_bytes = 0  # every audio byte the caller sent
        self.overflowed = False  # more audio came before the first transcript than can be kept
        self.closed = False  # the caller said it has no more audio

    async def put(self, frame: Frame) -> None:
        """From the route: waits while the attempt is behind (the caller's socket then waits too)."""
        if isinstance(frame, bytes):
            self.audio_bytes += len(frame)
        elif frame is Control.CLOSE:
            if self.closed:
                return
            self.closed = True
        await self._queue.put(frame)

    async def take(self) -> Frame:
        frame = await self._queue.get()
        kept = self._replay
        if kept is not None:
            if isinstance(frame, bytes):
                self._replay_bytes += len(frame)
                if self._replay_bytes > self._replay_limit:
                    self.overflowed = True
                    self._replay = kept = None
            if kept is not None:
                kept.append(frame)
        return frame

    def replay(self) -> list[Frame]:
        """What earlier attempts took, for the next one to send first; refused once too much was kept."""
        if self._replay is None:
            raise OverflowError("the audio before the first transcript is no longer kept")
        return list(self._replay)

    def committed(self) -> None:
        """A transcript reached the caller: no other target will hear this session."""
        self._replay = None
