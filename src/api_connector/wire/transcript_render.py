"""A ``Transcript`` in each of OpenAI's transcription answer formats: json, text, srt, vtt, verbose_json.

Whatever vendor transcribed the audio, the caller gets OpenAI's shapes: ``{"text"}`` (with ``usage``
in audio seconds), the bare text, SubRip and WebVTT subtitles (one cue per segment; a transcript with
no timed segments is one cue over the whole audio), or the verbose object with the task, language,
duration, and the segments and words the caller asked to have timed. ``provider`` is the vendor's
own answer, unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson

from api_connector.core.transcription import Granularity, Segment, Transcript, TranscriptFormat
from api_connector.wire.transcription import one_segment

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
VTT = "text/vtt; charset=utf-8"


def render(
    transcript: Transcript, fmt: TranscriptFormat, granularities: frozenset[Granularity], task: str
) -> tuple[str, bytes]:
    """(content type, body) of ``transcript`` in ``fmt``; ``task`` is "transcribe" or "translate"."""
    if fmt is TranscriptFormat.PROVIDER:
        return transcript.native_type, transcript.native
    if fmt is TranscriptFormat.TEXT:
        return TEXT, (transcript.text.strip() + "\n").encode()
    if fmt is TranscriptFormat.SRT:
        return TEXT, srt(one_segment(transcript)).encode()
    if fmt is TranscriptFormat.VTT:
        return VTT, vtt(one_segment(transcript)).encode()
    body: dict[str, Any] = {"text": transcript.text.strip()}
    if fmt is TranscriptFormat.VERBOSE_JSON:
        body = {
            "task": task,
            "language": transcript.language,
            "duration": transcript.spoken_seconds(),
            "text": body["text"],
        }
        if Granularity.SEGMENT in granularities:
            body["segments"] = [_segment(index, seg) for index, seg in enumerate(one_segment(transcript))]
        if Granularity.WORD in granularities:
            body["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in transcript.words]
    seconds = transcript.usage.audio_seconds
    if seconds:
        body["usage"] = {"type": "duration", "seconds": seconds}
    return JSON, orjson.dumps(body)


def _segment(index: int, segment: Segment) -> dict[str, Any]:
    return {**(segment.details or {}), "id": index, "start": segment.start, "end": segment.end, "text": segment.text}


def _clock(seconds: float, separator: str) -> str:
    millis = max(round(seconds * 1000), 0)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def srt(segments: list[Segment]) -> str:
    cues = [
        f"{number}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text.strip()}\n"
        for number, s in enumerate(segments, start=1)
    ]
    return "\n".join(cues) + ("\n" if cues else "")


def vtt(segments: list[Segment]) -> str:
    cues = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text.strip()}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues) + ("\n" if cues else "")
