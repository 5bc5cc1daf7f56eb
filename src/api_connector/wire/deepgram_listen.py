"""Deepgram's pre-recorded transcription, ``POST /v1/listen``: the audio itself is the body (streamed
from the upload, with its content type), the options are query parameters.

Asked with ``smart_format`` (punctuation and paragraphs) and ``utterances`` (timed phrases), the
answer is read into OpenAI's shapes: the first channel's best alternative is the text, its words (as
punctuated) are the words, utterances are the segments (paragraphs' sentences when there are none),
and ``metadata.duration`` is the audio's length. Without a language Deepgram is asked to detect one.
OpenAI's ``prompt`` and ``temperature`` have no Deepgram counterpart and are not sent (both are hints);
form fields beyond OpenAI's shape are Deepgram options and are passed on as query parameters
(``diarize=true``, ``keyterm=...``). Errors are Deepgram's ``err_code`` / ``err_msg`` body, read
like its speech answers'.
"""

from __future__ import annotations

from dataclasses import dataclass

from api_connector.core.transcription import Segment, Transcript, TranscriptionRequest, Word
from api_connector.wire.base import VendorError
from api_connector.wire.deepgram_results import Channel, Lenient, Timed
from api_connector.wire.deepgram_speak import decode_error
from api_connector.wire.transcription import Upload, sentences


class _Utterance(Timed):
    transcript: str


class _Results(Lenient):
    channels: list[Channel]
    utterances: list[_Utterance] | None = None


class _Metadata(Lenient):
    duration: float | None = None


class _Answer(Lenient):
    metadata: _Metadata
    results: _Results


@dataclass(frozen=True, slots=True)
class DeepgramListen:
    name: str = "deepgram_listen"

    def encode_request(self, request: TranscriptionRequest, upstream_model: str) -> Upload:
        query = {"model": upstream_model, "smart_format": "true", "punctuate": "true", "utterances": "true"}
        if request.language:
            query["language"] = request.language
        else:
            query["detect_language"] = "true"
        query.update(request.extras)
        return Upload(request.file, request.file.content_type, query)

    def decode_answer(self, body: bytes, content_type: str, request: TranscriptionRequest) -> Transcript:
        answer = _Answer.model_validate_json(body)
        channel = answer.results.channels[0]
        best = channel.alternatives[0]
        words = [Word(w.punctuated_word or w.word, w.start, w.end) for w in best.words]
        if answer.results.utterances:
            segments = [Segment(u.start, u.end, u.transcript.strip()) for u in answer.results.utterances]
        elif best.paragraphs is not None:
            segments = [
                Segment(s.start, s.end, s.text.strip()) for p in best.paragraphs.paragraphs for s in p.sentences
            ]
        else:
            segments = sentences(words, [w.word for w in words]) if words else []
        return Transcript(
            best.transcript.strip(),
            language=channel.detected_language or request.language,
            duration=answer.metadata.duration,
            segments=segments,
            words=words,
            native=body,
            native_type=content_type,
        )

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_error(body)


DEEPGRAM_LISTEN = DeepgramListen()
