"""The transcription conformance table: recorded speech-to-text answers, the request a caller sends for
each with the official ``openai`` SDK, what the vendor must receive, and what the caller must get.

Recorded: OpenAI's verbose JSON with words, Groq's text answer, ElevenLabs' answer and Deepgram's
(vercel/ai's fixtures, and the deepgram-python-sdk's daily pre-recorded results for nova-2 and
nova-3). Their audio was not kept, so real speech made by espeak-ng stands in for the upload: what
the suite checks is that it reaches the vendor byte for byte. Failures replay the vendors' documented
error bodies (``tests/data/documented``), the same for every endpoint of a vendor. What the vendor
must receive and what the caller must get are spelled out here, not computed by the wires under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import orjson

from tests.conformance.cases import Failure
from tests.conformance.rerank_table import DOCUMENTED
from tests.recorded import RECORDED, RecordedResponse

_DG = "deepgram/listen/"
# The SDK's recordings are named <options' hash>-<file's hash>; both are of its preamble file.
_PREAMBLE_FILE = "a17f4880c5b4cf124ac54d06d77c9f0ab7f3fe1052ff1c7b090f7eaf8ede5b76"
_NOVA2 = "b00dc103a62ea2ccfc752ec0f646c7528ef5e729a9d7481d2a944253a9128ce2-" + _PREAMBLE_FILE
_NOVA3 = "c4e1c0031174878d8f0e3dbd87916ee16d56f1c610ac525af5712ea37226a455-" + _PREAMBLE_FILE
_DG_QUERY = {"smart_format": "true", "punctuate": "true", "utterances": "true", "detect_language": "true"}


_GOOGLE = "https://speech.googleapis.com/v2/projects/my-project/locations/global"
_AZURE = "https://westus.stt.speech.microsoft.com"
_AZURE_PATH = "/speech/recognition/conversation/cognitiveservices/v1"
_AAI_JOB = "/v2/transcript/9ea68fd3-f953-42c1-9742-976c447fb463"
AUDIO = "<the upload in base64>"  # stands in a JSON body for the audio the vendor must receive


@dataclass(frozen=True)
class Expected:
    text: str
    language: str | None
    duration: float | None  # None: the upload's own (the vendor did not say)
    segments: int
    words: int
    first_word: tuple[str, float, float] | None
    audio_seconds: float | None  # None: the upload's duration


@dataclass(frozen=True)
class Step:
    """One more request of a job (AssemblyAI's submission and polls) and the answer it gets."""

    method: str
    path: str
    answer: str
    body: dict[str, Any] | None = None  # the JSON the vendor must receive


@dataclass(frozen=True)
class TranscriptionCase:
    id: str
    provider: str
    answer: str  # below tests/data: "recorded/..." (a body, or vercel's {status, headers, body}) or "documented/..."
    request: dict[str, Any]  # the SDK's arguments besides file; "model" without the instance prefix
    path: str
    form: dict[str, list[str]] | None = None  # multipart fields the vendor must receive (None: the body is the audio)
    query: dict[str, str] = field(default_factory=dict)
    expected: Expected | None = None
    failure: Failure | None = None
    also: tuple[str, ...] = ()
    base_url: str | None = None  # the vendor's real base URL when the provider type has none
    content_type: str = "audio/wav"  # of a body that is the audio itself
    body: dict[str, Any] | None = None  # a JSON body the vendor must receive ("content": the audio in base64)
    then: tuple[Step, ...] = ()  # the requests of a job after the first, each with its answer

    @property
    def answers(self) -> list[str]:
        return [self.answer, *(step.answer for step in self.then)]

    @property
    def files(self) -> list[Path]:
        return [_path(name) for name in (*self.answers, *self.also)]

    def response(self, answer: str | None = None) -> RecordedResponse:
        answer = answer or self.answer
        raw = orjson.loads(_path(answer).read_bytes())
        if answer.startswith("documented/"):
            documented = raw["response"]
            if "text" in documented:  # a documented status without a body
                return RecordedResponse(documented["status"], documented["text"].encode(), documented["headers"])
            return RecordedResponse(documented["status"], orjson.dumps(documented["json"]), documented["headers"])
        if {"status", "headers", "body"} <= raw.keys():  # vercel's recorded non-JSON answer
            return RecordedResponse(raw["status"], raw["body"].encode(), raw["headers"])
        return RecordedResponse(200, orjson.dumps(raw), {"content-type": "application/json"})


def _path(name: str) -> Path:
    kind, _, rest = name.partition("/")
    return (RECORDED if kind == "recorded" else DOCUMENTED) / rest


def _deepgram(model: str, digest: str, duration: float) -> TranscriptionCase:
    return TranscriptionCase(
        f"deepgram-{model}-preamble",
        "deepgram",
        f"recorded/{_DG}{digest}-response.json",
        {"model": model, "response_format": "verbose_json", "timestamp_granularities": ["word", "segment"]},
        "/v1/listen",
        query={"model": model, **_DG_QUERY},
        expected=Expected(
            _PREAMBLE[model], None, duration, 1, 52, ("We,", 0.32, 0.64 if model == "nova-2" else 0.79999995), duration
        ),
        also=(f"recorded/{_DG}{digest}-options.json", f"recorded/{_DG}{digest}.cmd"),
    )


_PREAMBLE = {
    "nova-2": (
        "We, the people of the United States, in order to form a more perfect union, establish justice, ensure "
        "domestic tranquility, provide for the common defense, promote the general welfare, and secure the "
        "blessings of liberty to ourselves and our posterity to ordain and establish this constitution for "
        "the United States of America."
    ),
    "nova-3": (
        "We, the people of The United States, in order to form a more perfect union, establish justice, ensure "
        "domestic tranquility, provide for the common defense, promote the general welfare, and secure the "
        "blessings of liberty to ourselves and our posterity to ordain and establish this constitution for "
        "The United States Of America."
    ),
}
_GALILEO = (
    "Galileo was an American robotic space program that studied the planet Jupiter and its moons, as well "
    "as several other solar system bodies."
)

def _vercel_deepgram_text() -> str:
    """The recording's own transcript (89 words, long): read from the vendor's JSON, not from the wire."""
    raw = orjson.loads(_path("recorded/vercel-ai/deepgram-transcription.json").read_bytes())
    return str(raw["results"]["channels"][0]["alternatives"][0]["transcript"])


TRANSCRIPTION_CASES: tuple[TranscriptionCase, ...] = (
    TranscriptionCase(
        "openai-whisper-verbose-words",
        "openai",
        "recorded/vercel-ai/openai-transcription.json",
        {"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities": ["word"]},
        "/audio/transcriptions",
        form={"model": ["whisper-1"], "response_format": ["verbose_json"], "timestamp_granularities[]": ["word"]},
        # The answer has no segments (words were asked for): verbose_json shows the words only.
        expected=Expected(_GALILEO, "english", 36.709999084472656, 0, 5, ("Galileo", 0.0, 0.6600000262260437), 37),
    ),
    TranscriptionCase(
        "openai-invalid-key",
        "openai",
        "documented/openai/speech-error.json",
        {"model": "gpt-4o-transcribe", "language": "en"},
        "/audio/transcriptions",
        form={"model": ["gpt-4o-transcribe"], "language": ["en"], "response_format": ["json"]},
        failure=Failure(
            openai.AuthenticationError,
            401,
            "Incorrect API key provided: sk-test. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
    ),
    TranscriptionCase(
        "groq-whisper-text",
        "groq",
        "recorded/vercel-ai/groq-transcription-text.json",
        {"model": "whisper-large-v3-turbo", "response_format": "text", "temperature": 0},
        "/audio/transcriptions",
        form={"model": ["whisper-large-v3-turbo"], "temperature": ["0"], "response_format": ["verbose_json"]},
        # A text answer: no language, no times; the upload's header gives the duration.
        expected=Expected("Hello from the Versal AISDK.", None, None, 1, 0, None, None),
    ),
    _deepgram("nova-2", _NOVA2, 19.097937),
    _deepgram("nova-3", _NOVA3, 19.097937),
    TranscriptionCase(
        "deepgram-vercel-nova-3",
        "deepgram",
        "recorded/vercel-ai/deepgram-transcription.json",
        {"model": "nova-3", "language": "en", "response_format": "verbose_json", "timestamp_granularities": ["word"]},
        "/v1/listen",
        query={"model": "nova-3", "smart_format": "true", "punctuate": "true", "utterances": "true", "language": "en"},
        # Words only were asked for (no segments shown); unpunctuated, as recorded without smart_format.
        expected=Expected(_vercel_deepgram_text(), "en", 36.744, 0, 89, ("galileo", 0.16, 0.79999995), 36.744),
    ),
    TranscriptionCase(
        "deepgram-invalid-json",
        "deepgram",
        "documented/deepgram/speech-error.json",
        {"model": "nova-3"},
        "/v1/listen",
        query={"model": "nova-3", **_DG_QUERY},
        failure=Failure(
            openai.BadRequestError,
            400,
            "Invalid JSON submitted. (Json deserialize error: missing field `text` at line 1 column 2)",
            "INVALID_JSON",
            None,
        ),
    ),
    TranscriptionCase(
        "elevenlabs-scribe",
        "elevenlabs",
        "recorded/vercel-ai/elevenlabs-transcription.json",
        {"model": "scribe_v1", "response_format": "verbose_json", "timestamp_granularities": ["word", "segment"]},
        "/v1/speech-to-text",
        form={"model_id": ["scribe_v1"], "timestamps_granularity": ["word"]},
        expected=Expected("Hello from the Vercel AI SDK.", "eng", None, 1, 6, ("Hello", 0.199, 0.479), None),
    ),
    TranscriptionCase(
        "elevenlabs-invalid-key",
        "elevenlabs",
        "documented/elevenlabs/speech-error.json",
        {"model": "scribe_v1", "language": "de"},
        "/v1/speech-to-text",
        form={"model_id": ["scribe_v1"], "timestamps_granularity": ["word"], "language_code": ["de"]},
        failure=Failure(openai.AuthenticationError, 401, "Invalid API key", None, "invalid_api_key"),
    ),
    TranscriptionCase(
        "google-stt-long",
        "google_stt",
        "documented/google_stt/recognize.json",
        {"model": "long", "language": "en-US", "response_format": "verbose_json",
         "timestamp_granularities": ["word", "segment"]},
        "/recognizers/_:recognize",
        base_url=_GOOGLE,
        body={"config": {"autoDecodingConfig": {}, "languageCodes": ["en-US"], "model": "long",
                         "features": {"enableWordTimeOffsets": True, "enableAutomaticPunctuation": True}},
              "content": AUDIO},
        # One result: one segment; the billed duration is what is metered, the file's header the duration.
        expected=Expected("how old is the Brooklyn Bridge", "en-us", None, 1, 6, ("how", 0.0, 0.3), 2.0),
    ),
    TranscriptionCase(
        "google-stt-invalid-key",
        "google_stt",
        "documented/google_stt/recognize-error.json",
        {"model": "chirp_2"},
        "/recognizers/_:recognize",
        base_url=_GOOGLE,
        body={"config": {"autoDecodingConfig": {}, "languageCodes": ["en-US"], "model": "chirp_2",
                         "features": {"enableWordTimeOffsets": True, "enableAutomaticPunctuation": True}},
              "content": AUDIO},
        failure=Failure(openai.AuthenticationError, 401, "API key not valid. Please pass a valid API key.",
                        "INVALID_ARGUMENT", "API_KEY_INVALID"),
    ),
    TranscriptionCase(
        "azure-stt-detailed",
        "azure_stt",
        "documented/azure_stt/recognize-detailed.json",
        {"model": "default", "language": "en", "response_format": "verbose_json",
         "timestamp_granularities": ["word", "segment"]},
        _AZURE_PATH,
        base_url=_AZURE,
        query={"language": "en-US", "format": "detailed", "wordLevelTimestamps": "true"},
        content_type="audio/wav; codecs=audio/pcm; samplerate=24000",
        expected=Expected("What's the weather like?", "en-US", None, 1, 4, ("what's", 0.05, 0.35), None),
    ),
    TranscriptionCase(
        "azure-stt-invalid-key",
        "azure_stt",
        "documented/azure_stt/recognize-error.json",
        {"model": "default", "language": "de-DE"},
        _AZURE_PATH,
        base_url=_AZURE,
        query={"language": "de-DE", "format": "detailed", "wordLevelTimestamps": "true"},
        content_type="audio/wav; codecs=audio/pcm; samplerate=24000",
        failure=Failure(openai.AuthenticationError, 401, "upstream answered HTTP 401"),
    ),
    TranscriptionCase(
        "assemblyai-upload-submit-poll",
        "assemblyai",
        "documented/assemblyai/upload.json",
        {"model": "universal", "response_format": "verbose_json", "timestamp_granularities": ["word", "segment"]},
        "/v2/upload",
        content_type="application/octet-stream",
        then=(
            Step("POST", "/v2/transcript", "documented/assemblyai/transcript-queued.json", {
                "audio_url": "https://cdn.assemblyai.com/upload/ccbbbfaf-f319-4455-9556-272d48faaf7f",
                "speech_model": "universal", "punctuate": True, "format_text": True, "language_detection": True,
            }),
            Step("GET", _AAI_JOB, "documented/assemblyai/transcript-processing.json"),
            Step("GET", _AAI_JOB, "documented/assemblyai/transcript-completed.json"),
        ),
        expected=Expected(
            "Smoke from hundreds of wildfires in Canada is triggering air quality alerts.",
            "en_us", 281, 1, 12, ("Smoke", 0.25, 0.65), 281,
        ),
    ),
    TranscriptionCase(
        "assemblyai-invalid-key",
        "assemblyai",
        "documented/assemblyai/unauthorized.json",
        {"model": "universal", "language": "en"},
        "/v2/upload",
        content_type="application/octet-stream",
        failure=Failure(openai.AuthenticationError, 401, "Authentication error, API token missing/invalid"),
    ),
    TranscriptionCase(
        "assemblyai-transcript-error",
        "assemblyai",
        "documented/assemblyai/upload.json",
        {"model": "slam-1", "language": "en_us"},
        "/v2/upload",
        content_type="application/octet-stream",
        then=(
            Step("POST", "/v2/transcript", "documented/assemblyai/transcript-queued.json", {
                "audio_url": "https://cdn.assemblyai.com/upload/ccbbbfaf-f319-4455-9556-272d48faaf7f",
                "speech_model": "slam-1", "punctuate": True, "format_text": True, "language_code": "en_us",
            }),
            Step("GET", _AAI_JOB, "documented/assemblyai/transcript-error.json"),
        ),
        # A job that ended in error: about the file, the caller's 400 (not retried, not failed over).
        failure=Failure(
            openai.BadRequestError, 400,
            "Download error, unable to download https://cdn.assemblyai.com/upload/ccbbbfaf-f319-4455-9556-272d48faaf7f."
            " Please make sure the file exists and is accessible from the internet.",
            "transcript_error",
        ),
    ),
)
