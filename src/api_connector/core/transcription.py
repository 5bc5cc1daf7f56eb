"""Speech-to-text in OpenAI's ``audio/transcriptions`` and ``audio/translations`` shape: the request,
the uploaded audio, and the transcript every vendor's answer is read into.

The upload is kept by ``AudioUpload``: stored as it arrives (in memory up to a small size, in a
temporary file beyond), hashed when the cache key asks for it, and read back in pieces for each
attempt, so a retry or a failover sends it again while the gateway never holds it whole. A
``Transcript`` is provider-neutral: the text, its language, the audio's duration, segments and words
with their times, the usage it is metered by, and the vendor's own answer (``native``), which a caller
may ask for as it came (``response_format=provider``). These types serve whole files here and are
meant to serve live transcription as well (segments and words are what a live result carries too).
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from api_connector.core.usage import Usage

CHUNK = 256 * 1024
# Uploads up to this size stay in memory; larger ones are written to a temporary file as they arrive.
_IN_MEMORY = 1024 * 1024
_HEAD = 64  # bytes of the upload kept to read its duration (a WAV header)


class TranscriptFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    VERBOSE_JSON = "verbose_json"
    # The gateway's own: the vendor's answer byte for byte, as it sent it (its content type too).
    PROVIDER = "provider"


class Granularity(StrEnum):
    SEGMENT = "segment"
    WORD = "word"


class AudioUpload:
    """One uploaded audio file, readable again from its start as often as an attempt sends it.

    Up to ``_IN_MEMORY`` bytes it is the pieces as they arrived (kept as they are, never copied into one
    buffer); past that it is a temporary file, written as it arrives and read back in ``CHUNK`` pieces.
    Its SHA-256 (the cache key's part) is worked out when first asked for: most calls are not cached,
    and hashing a megabyte costs more than everything else done with it.
    """

    __slots__ = ("_digest", "_file", "_head", "_pieces", "content_type", "filename", "size")

    def __init__(self, filename: str, content_type: str) -> None:
        self.filename = filename or "audio"
        self.content_type = content_type or "application/octet-stream"
        self.size = 0
        self._pieces: list[bytes] = []
        self._file: IO[bytes] | None = None
        self._digest: str | None = None
        self._head = b""

    @classmethod
    def of(cls, data: bytes, filename: str = "audio.wav", content_type: str = "audio/wav") -> AudioUpload:
        upload = cls(filename, content_type)
        upload.write(data)
        return upload

    def write(self, data: bytes) -> None:
        """Append a piece as it arrives (the caller enforces the size bound before writing)."""
        if type(data) is not bytes:  # a mutable buffer would change under the pieces kept
            data = bytes(data)
        if len(self._head) < _HEAD:
            self._head += data[: _HEAD - len(self._head)]
        self.size += len(data)
        self._digest = None
        if self._file is not None:
            self._file.write(data)
        elif self.size <= _IN_MEMORY:
            self._pieces.append(data)
        else:  # past the memory bound: what was kept goes to a file, and so does the rest
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            self._file.writelines(self._pieces)
            self._file.write(data)
            self._pieces = []

    @property
    def sha256(self) -> str:
        if self._digest is None:
            digest = hashlib.sha256()
            for piece in self._stored():
                digest.update(piece)
            self._digest = digest.hexdigest()
        return self._digest

    def _stored(self) -> Iterator[bytes]:
        """The file's bytes from its start, in the pieces kept or read back ``CHUNK`` at a time."""
        if self._file is None:
            yield from self._pieces
            return
        # Each reader keeps its own position: attempts may read the same upload one after another.
        position = 0
        while position < self.size:
            self._file.seek(position)
            piece = self._file.read(CHUNK)
            if not piece:
                return
            position += len(piece)
            yield piece

    async def chunks(self) -> AsyncIterator[bytes]:
        for piece in self._stored():
            yield piece

    def read_all(self) -> bytes:
        """The whole file (a dead letter keeps small uploads; see the capability)."""
        return b"".join(self._stored())

    def duration(self) -> float | None:
        """Seconds of audio when the file says so in its header (WAV: data bytes over the byte rate)."""
        return wav_duration(self._head, self.size)

    def opening(self) -> bytes:
        """The file's first bytes (its header: what a wire may read the format from)."""
        return self._head

    def close(self) -> None:
        self._pieces = []
        if self._file is not None:
            self._file.close()


def wav_duration(head: bytes, size: int) -> float | None:
    """A canonical RIFF/WAVE file's duration from its first 44 bytes and its size; None for anything else."""
    if len(head) < 44 or head[:4] != b"RIFF" or head[8:12] != b"WAVE" or head[12:16] != b"fmt ":
        return None
    byte_rate = struct.unpack_from("<I", head, 28)[0]
    if not byte_rate:
        return None
    # The data chunk follows "fmt " (16 bytes of format, usually); streamed WAVs declare a huge size.
    return round(max(size - 44, 0) / byte_rate, 3)


@dataclass(slots=True)
class TranscriptionRequest:
    """One transcription (or translation into English) as the caller asked for it."""

    model: str
    file: AudioUpload
    language: str | None = None
    prompt: str | None = None
    response_format: TranscriptFormat = TranscriptFormat.JSON
    timestamp_granularities: tuple[Granularity, ...] = ()
    temperature: float | None = None
    translate: bool = False
    # Form fields beyond OpenAI's shape (a vendor's own options): the OpenAI wire passes them on.
    extras: dict[str, str] = field(default_factory=dict)

    def granularities(self) -> frozenset[Granularity]:
        """What the caller wants timed; segments unless it named something."""
        return frozenset(self.timestamp_granularities or (Granularity.SEGMENT,))

    def fields(self) -> dict[str, Any]:
        """Everything but the audio, as the caller sent it (cache key, dead letters)."""
        return {
            "model": self.model,
            "language": self.language,
            "prompt": self.prompt,
            "response_format": self.response_format.value,
            "timestamp_granularities": [g.value for g in self.timestamp_granularities],
            "temperature": self.temperature,
            "translate": self.translate,
            "extras": dict(sorted(self.extras.items())),
        }


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Segment:
    start: float
    end: float
    text: str
    # What the vendor says of a segment besides its times and text (Whisper's tokens, log-probabilities):
    # passed on in verbose_json as it came, never made up for vendors that do not say it.
    details: dict[str, Any] | None = None


@dataclass(slots=True)
class Transcript:
    text: str
    language: str | None = None
    duration: float | None = None
    segments: list[Segment] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    # The vendor's answer as it came, and its content type (``response_format=provider``).
    native: bytes = b""
    native_type: str = "application/json"

    def spoken_seconds(self) -> float:
        """How long the audio is: its duration when known, else where its last timed word or segment ends."""
        if self.duration:
            return self.duration
        ends = [w.end for w in self.words] + [s.end for s in self.segments]
        return max(ends, default=0.0)
