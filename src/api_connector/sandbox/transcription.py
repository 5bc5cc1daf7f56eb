"""The sandbox's speech-to-text: OpenAI's ``audio/transcriptions`` (and ``translations``) form answered
from the audio's length alone.

The sandbox recognises no speech: its transcript says how much audio it was given (read from a WAV
header, else estimated from the size at 128 kbit/s), with one segment and evenly spaced words over that
duration, in OpenAI's ``verbose_json`` or ``json`` shape as the form asks. Deterministic: the same file,
the same answer. A form without a file, or not a form, is a 400 in OpenAI's error shape.
"""

from __future__ import annotations

import struct
from email.message import MIMEPart
from email.parser import BytesParser
from email.policy import HTTP

import orjson

_ESTIMATED_BYTES_PER_SECOND = 16_000  # 128 kbit/s: what an MP3 of speech typically takes


def _error(message: str, param: str | None) -> tuple[int, bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None, "param": param}}
    return 400, orjson.dumps(body)


def _parts(content_type: str, body: bytes) -> list[tuple[str, MIMEPart]] | None:
    """The form's fields in order, by name (a name may repeat: ``timestamp_granularities[]``)."""
    if not content_type.startswith("multipart/form-data"):
        return None
    form = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not form.is_multipart():
        return None
    parts = []
    for part in form.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            parts.append((name, part))
    return parts


def _text(part: MIMEPart | None) -> str | None:
    if part is None:
        return None
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


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
    fields = _parts(content_type, body)
    if fields is None:
        return _error("expected a multipart/form-data body", None)
    parts = dict(reversed(fields))  # the first of each name
    upload = parts.get("file")
    audio = upload.get_payload(decode=True) if upload is not None else None
    if not isinstance(audio, bytes) or not audio:
        return _error("the form has no file", "file")
    seconds = wav_seconds(audio)
    if seconds is None:
        seconds = len(audio) / _ESTIMATED_BYTES_PER_SECOND
    seconds = round(seconds, 3)
    text = f"Sandbox transcript of {seconds:.2f} seconds of audio."
    if _text(parts.get("response_format")) != "verbose_json":
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
    if any(name == "timestamp_granularities[]" and _text(part) == "word" for name, part in fields):
        answer["words"] = [
            {"word": word, "start": round(i * step, 3), "end": round((i + 1) * step, 3)} for i, word in enumerate(words)
        ]
    return 200, orjson.dumps(answer)
