"""The sandbox's speech-to-text: OpenAI's ``audio/transcriptions`` (and ``translations``) form answered
from the audio's length alone.

The sandbox recognises no speech: its transcript says how much audio it was given (read from a WAV
header, else estimated from the size at 128 kbit/s), with one segment and evenly spaced words over that
duration, in OpenAI's ``verbose_json`` or ``json`` shape as the form asks. Deterministic: the same file,
the same answer. A form without a file, or not a form, is a 400 in OpenAI's error shape.
"""

from __future__ import annotations

import struct

import orjson
from aiohttp.helpers import parse_mimetype

from api_connector.wire.form_reader import FormReader, PartData, PartStart

_ESTIMATED_BYTES_PER_SECOND = 16_000  # 128 kbit/s: what an MP3 of speech typically takes


def _error(message: str, param: str | None) -> tuple[int, bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None, "param": param}}
    return 400, orjson.dumps(body)


def _fields(content_type: str, body: bytes) -> list[tuple[str, bytes]] | None:
    """The form's fields in order, by name (a name may repeat: ``timestamp_granularities[]``); None when
    the body is not a well-formed form."""
    mime = parse_mimetype(content_type)
    if (mime.type, mime.subtype) != ("multipart", "form-data"):
        return None
    try:
        reader = FormReader(mime.parameters.get("boundary", ""))
        events = reader.feed(body)
        reader.close()
    except ValueError:
        return None
    fields: list[tuple[str, bytes]] = []
    name: str | None = None
    pieces: list[bytes] = []
    for event in events:
        if isinstance(event, PartStart):
            name, pieces = event.name, []
        elif isinstance(event, PartData):
            pieces.append(event.data)
        elif name is not None:  # the part's end
            fields.append((name, b"".join(pieces)))
    return fields


def wav_seconds(audio: bytes) -> float | None:
    """The length of a PCM WAV file from its ``fmt `` and ``data`` chunks (None if it is not one)."""
    if len(audio) < 12 or audio[:4] != b"RIFF" or audio[8:12] != b"WAVE":
        return None
    offset, byte_rate = 12, 0
    while offset + 8 <= len(audio):
        chunk, size = audio[offset : offset + 4], struct.unpack_from("<I", audio, offset + 4)[0]
        if chunk == b"fmt " and size >= 16:
            byte_rate = struct.unpack_from("<I", audio, offset + 16)[0]  # after format, channels, rate
        elif chunk == b"data" and byte_rate:
            return min(size, len(audio) - offset - 8) / byte_rate
        offset += 8 + size + (size & 1)
    return None


def transcription(content_type: str, body: bytes, translate: bool) -> tuple[int, bytes]:
    """(status, JSON answer) for one form."""
    fields = _fields(content_type, body)
    if fields is None:
        return _error("expected a multipart/form-data body", None)
    parts = dict(reversed(fields))  # the first of each name
    audio = parts.get("file")
    if not audio:
        return _error("the form has no file", "file")
    seconds = wav_seconds(audio)
    if seconds is None:
        seconds = len(audio) / _ESTIMATED_BYTES_PER_SECOND
    seconds = round(seconds, 3)
    text = f"Sandbox transcript of {seconds:.2f} seconds of audio."
    if parts.get("response_format") != b"verbose_json":
        return 200, orjson.dumps({"text": text, "usage": {"type": "duration", "seconds": max(1, round(seconds))}})
    words = text.split()
    step = seconds / len(words)
    answer: dict[str, object] = {
        "task": "translate" if translate else "transcribe",
        "language": "english",
        "duration": seconds,
        "text": text,
        "segments": [
            {"id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": " " + text, "temperature": 0.0},
        ],
    }
    if ("timestamp_granularities[]", b"word") in fields:
        answer["words"] = [
            {"word": word, "start": round(i * step, 3), "end": round((i + 1) * step, 3)} for i, word in enumerate(words)
        ]
    return 200, orjson.dumps(answer)
