"""The contract of speech-to-text wires, and what several of them share.

A transcription wire turns the gateway's ``TranscriptionRequest`` into the vendor's request for one
target model (a body that streams the upload, its content type, query parameters), refusing what the
vendor cannot do with a ``ValidationFailed`` naming the field (routing passes the target over), and
reads the vendor's answer into a ``Transcript`` (text, language, duration, segments, words, usage),
keeping the answer itself for callers who ask for it as it came. Pure codecs: no I/O, no secrets.

A vendor that transcribes as a job (upload, submit, poll) has a ``SteppedTranscriptionWire``: the
capability runs its ``start`` and ``advance`` through ``capabilities.steps``, as chat runs Replicate's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from api_connector.core.exchange import BodyStream, Inbound, Outbound
from api_connector.core.transcription import Segment, Transcript, TranscriptionRequest, Word
from api_connector.wire.base import Follow, Wire

# Where a sentence ends inside a run of words (vendors that time words but not segments).
_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f][\"')\]]*$")


@dataclass(frozen=True, slots=True)
class Upload:
    """One request to a transcription vendor, as the wire shapes it (the path is the provider's)."""

    body: BodyStream
    content_type: str
    query: Mapping[str, str] = field(default_factory=dict)


class TranscriptionWire(Wire, Protocol):
    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        """The vendor's request; ValidationFailed (naming the field) for what the vendor cannot do."""
        ...

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        """The vendor's 2xx answer read into a transcript (ValueError, pydantic's included, when it is
        not one); ``native`` is the answer itself."""
        ...


class SteppedTranscriptionWire(TranscriptionWire, Protocol):
    """A transcription that takes several requests in one attempt (a job): still a pure codec."""

    stepped: bool  # True: the transcription capability runs ``start`` and ``advance``

    def start(self, request: TranscriptionRequest, upstream_model: str, path: str) -> Outbound:
        """The first request; ``path`` is the endpoint's."""
        ...

    def advance(self, request: TranscriptionRequest, upstream_model: str, answer: Inbound) -> Follow | Transcript:
        """What the 2xx ``answer`` leads to: the next request, or the transcript (``native`` the job's
        final answer); VendorFailed when the job failed, ValueError when it is not the vendor's shape."""
        ...


def sentences(words: list[Word], spelled: list[str]) -> list[Segment]:
    """Segments for a vendor that times only words: one per sentence (``spelled`` is each word as it is
    written in the text, punctuation included), the last one closing whatever is left."""
    segments: list[Segment] = []
    start = 0
    for index, (word, text) in enumerate(zip(words, spelled, strict=True)):
        if _SENTENCE_END.search(text) or index == len(words) - 1:
            said = " ".join(spelled[start : index + 1]).strip()
            segments.append(Segment(words[start].start, word.end, said))
            start = index + 1
    return segments


def one_segment(transcript: Transcript) -> list[Segment]:
    """A transcript without timed segments as one segment over the whole audio (for subtitles)."""
    if transcript.segments or not transcript.text:
        return transcript.segments
    return [Segment(0.0, transcript.spoken_seconds(), transcript.text.strip())]
