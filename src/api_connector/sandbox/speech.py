"""The sandbox's speech: OpenAI's ``audio/speech`` answered with deterministic tones, WAV or raw PCM.

Each character of the input is 40 ms (divided by ``speed``) of a sine whose pitch comes from the
character, at OpenAI's 24 kHz, 16-bit mono: the same request, the same bytes, and longer text, longer
audio. Only ``wav`` and ``pcm`` are produced (the sandbox has no encoder); other formats get a 400 in
OpenAI's error shape naming ``response_format``. The body is sent in pieces of about 100 ms of audio,
so streams can be watched arrive; ``x-sandbox-fault: truncate`` drops the connection half way.
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.speech import PCM_SAMPLE_RATE
from api_connector.transport.local import LocalDisconnect

_CHARACTER_SECONDS = 0.04
_PIECE_BYTES = PCM_SAMPLE_RATE // 10 * 2  # 100 ms of 16-bit samples
_CONTENT_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    input: str = Field(min_length=1)
    voice: str | dict[str, str]
    response_format: str = "mp3"
    speed: float = Field(1.0, ge=0.25, le=4.0)


def _error(message: str, param: str | None) -> tuple[int, dict[str, str], bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None, "param": param}}
    return 400, {"content-type": "application/json"}, orjson.dumps(body)


def samples(text: str, speed: float) -> bytes:
    """16-bit little-endian samples: one short tone per character."""
    per_character = max(1, round(PCM_SAMPLE_RATE * _CHARACTER_SECONDS / speed))
    out = bytearray()
    for character in text:
        pitch = 220.0 + (ord(character) % 64) * 12.0
        step = 2 * math.pi * pitch / PCM_SAMPLE_RATE
        out += struct.pack(f"<{per_character}h", *(int(8000 * math.sin(step * i)) for i in range(per_character)))
    return bytes(out)


def wav_header(size: int) -> bytes:
    """A RIFF/WAVE header for ``size`` bytes of 16-bit mono samples at 24 kHz."""
    rate = PCM_SAMPLE_RATE
    return (
        b"RIFF"
        + struct.pack("<I", 36 + size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", size)
    )


def speech(body: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, audio or an error body) for one request."""
    try:
        request = _Request.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        return _error(f"invalid speech request: {first['msg']}", ".".join(map(str, first["loc"])) or None)
    content_type = _CONTENT_TYPES.get(request.response_format)
    if content_type is None:
        return _error(f"the sandbox produces wav and pcm, not {request.response_format}", "response_format")
    audio = samples(request.input, request.speed)
    if request.response_format == "wav":
        audio = wav_header(len(audio)) + audio
    return 200, {"content-type": content_type}, audio


async def pieces(audio: bytes, fault: str, gap: float) -> AsyncIterator[bytes]:
    """The audio in pieces of about 100 ms, ``gap`` seconds apart; cut half way on a truncate fault."""
    cut = len(audio) // 2 if fault == "truncate" else None
    for start in range(0, len(audio), _PIECE_BYTES):
        if cut is not None and start >= cut:
            raise LocalDisconnect("sandbox dropped the audio half way")
        if gap and start:
            await asyncio.sleep(gap)
        yield audio[start : start + _PIECE_BYTES]
