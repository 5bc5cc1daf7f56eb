"""The speech conformance table: each recorded (or documented) speech answer, the request a caller sends
for it with the official ``openai`` SDK, what the vendor must receive, and what the caller must get.

Deepgram's answers are recorded (the deepgram-python-sdk's daily tests: the answer's headers as JSON,
its WAV bytes, the request's options and text). Nothing was recorded for OpenAI, ElevenLabs, Google,
Azure or Cartesia speech: their cases replay documented examples (``tests/data/documented``), whose
answers carry no audio bytes, so real audio made by espeak-ng and sox stands in for it. What the
vendor must receive is spelled out here, not computed by the wires under test.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import openai
import orjson

from tests.audio import spoken
from tests.conformance.cases import Failure
from tests.conformance.rerank_table import DOCUMENTED
from tests.recorded import RECORDED, RecordedResponse

DEEPGRAM = "deepgram/speak"
# The recorded answers' headers, as the SDK kept them, under the names Deepgram sends them with.
_DEEPGRAM_HEADERS = {
    "content_type": "content-type",
    "request_id": "dg-request-id",
    "model_uuid": "dg-model-uuid",
    "model_name": "dg-model-name",
    "characters": "dg-char-count",
    "date": "date",
}


@dataclass(frozen=True)
class SpeechCase:
    id: str
    provider: str  # a key of REGISTRY
    answer: str  # below tests/data: "recorded/..." (Deepgram's headers JSON) or "documented/..."
    request: dict[str, Any]  # the SDK's arguments; "model" without the instance prefix ("" for the instance)
    path: str  # what the vendor must receive, below its base URL
    body: Any = None  # ... as JSON, or as text (SSML)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # besides the credential
    failure: Failure | None = None
    base_url: str | None = None  # the vendor's real base URL when the provider type has none
    characters: int | None = None  # what the call is metered at (the vendor's own count when it says)
    also: tuple[str, ...] = ()  # further files of the recording (the request's options and text)
    credential: str = "key"  # or "service_account": a Google service-account key traded for a token

    @property
    def files(self) -> list[Path]:
        return [_path(name) for name in (self.answer, *self.also)]

    def response(self) -> RecordedResponse:
        """The vendor's answer: recorded, or documented with real audio in place of the bytes it lacks."""
        if self.answer.startswith("recorded/"):
            recorded = orjson.loads(_path(self.answer).read_bytes())
            headers = {_DEEPGRAM_HEADERS[k]: str(v) for k, v in recorded.items() if k in _DEEPGRAM_HEADERS}
            audio = _path(self.answer.replace("-response.json", ".wav")).read_bytes()
            return RecordedResponse(200, audio, headers)
        documented = orjson.loads(_path(self.answer).read_bytes())["response"]
        headers = dict(documented["headers"])
        if "json" in documented:
            body = orjson.dumps(documented["json"])
            if "audio" in documented:  # the audio inside the JSON (Google's base64)
                encoded = base64.b64encode(self.audio()).decode()
                body = body.replace(b"$AUDIO_BASE64", encoded.encode())
            return RecordedResponse(documented["status"], body, headers)
        if "audio" in documented:
            return RecordedResponse(documented["status"], self.audio(), headers)
        return RecordedResponse(documented["status"], documented["text"].encode(), headers)

    def audio(self) -> bytes:
        """The audio bytes the vendor sends (what the caller must receive, byte for byte)."""
        if self.answer.startswith("recorded/"):
            return _path(self.answer.replace("-response.json", ".wav")).read_bytes()
        documented = orjson.loads(_path(self.answer).read_bytes())["response"]
        return spoken(self.request["input"], documented["audio"])


def _path(name: str) -> Path:
    kind, _, rest = name.partition("/")
    return (RECORDED if kind == "recorded" else DOCUMENTED) / rest


def _deepgram(day: str) -> SpeechCase:
    base = f"recorded/{DEEPGRAM}/thalia-{day}"
    options = orjson.loads(_path(f"{base}-options.json").read_bytes())
    text = _path(f"{base}.cmd").read_text("utf-8")
    return SpeechCase(
        f"deepgram-aura-2-{day}",
        "deepgram",
        f"{base}-response.json",
        {"model": options["model"], "input": text, "voice": options["model"], "response_format": "wav"},
        "/v1/speak",
        {"text": text},
        # The recording asked linear16 at 24 kHz and got a WAV (Deepgram's default container for it);
        # the gateway names the container, so pcm and wav differ.
        query={"model": "aura-2-thalia-en", "encoding": "linear16", "sample_rate": "24000", "container": "wav"},
        characters=13,  # Deepgram's own count, from dg-char-count
        also=(f"{base}-options.json",),
    )


QUICK_FOX = "The quick brown fox jumped over the lazy dog."
ELEVEN_TEXT = "The first move is what sets everything in motion."
ANDROID = (
    "Android is a mobile operating system developed by Google, based on the Linux kernel and designed "
    "primarily for touchscreen mobile devices such as smartphones and tablets."
)
AZURE_TEXT = "I'm excited to try text to speech!"
CARTESIA_VOICE = "694f9389-aac1-45b6-b726-9d9369183238"

GOOGLE_DOCUMENTED = SpeechCase(
    "google-documented",
    "google_tts",
    "documented/google_tts/speech.json",
    {"model": "", "input": ANDROID, "voice": "en-GB-Standard-A"},
    "/v1/text:synthesize",
    # The documented request also sends ssmlGender, which OpenAI's shape cannot express.
    {"input": {"text": ANDROID}, "voice": {"languageCode": "en-GB", "name": "en-GB-Standard-A"},
     "audioConfig": {"audioEncoding": "MP3"}},
)

SPEECH_CASES: tuple[SpeechCase, ...] = (
    _deepgram("2025-02-07"),
    _deepgram("2025-07-22"),
    SpeechCase(
        "deepgram-invalid-json",
        "deepgram",
        "documented/deepgram/speech-error.json",
        {"model": "aura-2-thalia-en", "input": "Hello", "voice": "alloy", "response_format": "mp3"},
        "/v1/speak",
        {"text": "Hello"},
        query={"model": "aura-2-thalia-en", "encoding": "mp3"},
        failure=Failure(
            openai.BadRequestError,
            400,
            "Invalid JSON submitted. (Json deserialize error: missing field `text` at line 1 column 2)",
            upstream_type="INVALID_JSON",
        ),
    ),
    SpeechCase(
        "openai-documented",
        "openai",
        "documented/openai/speech.json",
        {"model": "gpt-4o-mini-tts", "input": QUICK_FOX, "voice": "alloy"},
        "/audio/speech",
        {"model": "gpt-4o-mini-tts", "input": QUICK_FOX, "voice": "alloy", "response_format": "mp3"},
    ),
    SpeechCase(
        "openai-passthrough-fields",
        "openai",
        "documented/openai/speech.json",
        {
            "model": "gpt-4o-mini-tts",
            "input": QUICK_FOX,
            "voice": "coral",
            "response_format": "mp3",
            "speed": 1.25,
            "instructions": "Speak in a cheerful tone.",
            "extra_body": {"stream_format": "audio"},
        },
        "/audio/speech",
        {
            "model": "gpt-4o-mini-tts",
            "input": QUICK_FOX,
            "voice": "coral",
            "response_format": "mp3",
            "speed": 1.25,
            "instructions": "Speak in a cheerful tone.",
            "stream_format": "audio",
        },
    ),
    SpeechCase(
        "openai-bad-key",
        "openai",
        "documented/openai/speech-error.json",
        {"model": "tts-1", "input": "Hi", "voice": "alloy", "response_format": "wav"},
        "/audio/speech",
        {"model": "tts-1", "input": "Hi", "voice": "alloy", "response_format": "wav"},
        failure=Failure(
            openai.AuthenticationError,
            401,
            "Incorrect API key provided: sk-test. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            upstream_type="invalid_request_error",
            upstream_code="invalid_api_key",
        ),
    ),
    SpeechCase(
        "elevenlabs-documented",
        "elevenlabs",
        "documented/elevenlabs/speech.json",
        {"model": "eleven_multilingual_v2", "input": ELEVEN_TEXT, "voice": "JBFqnCBsd6RMkjVDRZzb"},
        "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream",
        {"text": ELEVEN_TEXT, "model_id": "eleven_multilingual_v2"},
        query={"output_format": "mp3_44100_128"},
    ),
    SpeechCase(
        "elevenlabs-voice-settings-and-speed",
        "elevenlabs",
        "documented/elevenlabs/speech.json",
        {
            "model": "",  # the instance alone: its default model
            "input": ELEVEN_TEXT,
            "voice": "JBFqnCBsd6RMkjVDRZzb",
            "response_format": "pcm",
            "speed": 1.1,
            "extra_body": {"voice_settings": {"stability": 0.4, "similarity_boost": 0.8, "style": 0.2},
                           "language_code": "en", "unknown_to_elevenlabs": True},
        },
        "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream",
        {
            "text": ELEVEN_TEXT,
            "model_id": "eleven_multilingual_v2",
            "voice_settings": {"stability": 0.4, "similarity_boost": 0.8, "style": 0.2, "speed": 1.1},
            "language_code": "en",
        },
        query={"output_format": "pcm_24000"},
    ),
    SpeechCase(
        "elevenlabs-bad-key",
        "elevenlabs",
        "documented/elevenlabs/speech-error.json",
        {"model": "eleven_flash_v2_5", "input": "Hi", "voice": "JBFqnCBsd6RMkjVDRZzb", "response_format": "opus"},
        "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream",
        {"text": "Hi", "model_id": "eleven_flash_v2_5"},
        query={"output_format": "opus_48000_64"},
        failure=Failure(openai.AuthenticationError, 401, "Invalid API key", upstream_code="invalid_api_key"),
    ),
    SpeechCase(
        "elevenlabs-validation",
        "elevenlabs",
        "documented/elevenlabs/speech-validation.json",
        {"model": "eleven_v3", "input": "Hi", "voice": "JBFqnCBsd6RMkjVDRZzb", "response_format": "wav"},
        "/v1/text-to-speech/JBFqnCBsd6RMkjVDRZzb/stream",
        {"text": "Hi", "model_id": "eleven_v3"},
        query={"output_format": "wav_24000"},
        failure=Failure(
            openai.BadRequestError,
            400,
            "voice_settings.stability: ensure this value is less than or equal to 1.0",
            param="voice_settings.stability",
        ),
    ),
    GOOGLE_DOCUMENTED,
    # The same with a service account's key, traded for an access token the vendor is shown.
    replace(GOOGLE_DOCUMENTED, id="google-service-account", credential="service_account"),
    SpeechCase(
        "google-invalid-key",
        "google_tts",
        "documented/google_tts/speech-error.json",
        {"model": "", "input": "Hi", "voice": "en-US-Neural2-A", "response_format": "pcm", "speed": 0.5},
        "/v1/text:synthesize",
        {"input": {"text": "Hi"}, "voice": {"languageCode": "en-US", "name": "en-US-Neural2-A"},
         "audioConfig": {"audioEncoding": "PCM", "speakingRate": 0.5, "sampleRateHertz": 24000}},
        failure=Failure(
            # Google answers a bad key 400 INVALID_ARGUMENT; its reason says what it is: an auth failure.
            openai.AuthenticationError,
            401,
            "API key not valid. Please pass a valid API key.",
            upstream_type="INVALID_ARGUMENT",
            upstream_code="API_KEY_INVALID",
        ),
    ),
    SpeechCase(
        "azure-documented",
        "azure_tts",
        "documented/azure_tts/speech.json",
        {"model": "", "input": AZURE_TEXT, "voice": "en-US-ChristopherNeural", "response_format": "wav"},
        "/cognitiveservices/v1",
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang="en-US">'
        "<voice name=\"en-US-ChristopherNeural\">I'm excited to try text to speech!</voice></speak>",
        headers={"x-microsoft-outputformat": "riff-24khz-16bit-mono-pcm", "content-type": "application/ssml+xml"},
        base_url="https://westus.tts.speech.microsoft.com",
    ),
    SpeechCase(
        "azure-escaped-text-speed-style",
        "azure_tts",
        "documented/azure_tts/speech.json",
        {"model": "", "input": 'Tom & "Jerry" <say> </voice>', "voice": "de-DE-KatjaNeural", "speed": 1.5,
         "response_format": "mp3", "extra_body": {"style": "cheerful"}},
        "/cognitiveservices/v1",
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang="de-DE"><voice name="de-DE-KatjaNeural">'
        '<mstts:express-as style="cheerful"><prosody rate="+50.00%">'
        'Tom &amp; "Jerry" &lt;say&gt; &lt;/voice&gt;</prosody></mstts:express-as></voice></speak>',
        headers={"x-microsoft-outputformat": "audio-24khz-96kbitrate-mono-mp3"},
        base_url="https://westus.tts.speech.microsoft.com",
    ),
    SpeechCase(
        "azure-bad-request",
        "azure_tts",
        "documented/azure_tts/speech-error.json",
        {"model": "", "input": "Hi", "voice": "en-US-AvaMultilingualNeural", "response_format": "pcm"},
        "/cognitiveservices/v1",
        '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang="en-US">'
        '<voice name="en-US-AvaMultilingualNeural">Hi</voice></speak>',
        headers={"x-microsoft-outputformat": "raw-24khz-16bit-mono-pcm"},
        failure=Failure(openai.BadRequestError, 400, "upstream answered HTTP 400"),
        base_url="https://westus.tts.speech.microsoft.com",
    ),
    SpeechCase(
        "cartesia-documented",
        "cartesia",
        "documented/cartesia/speech.json",
        {"model": "sonic-2", "input": "Welcome to Cartesia Sonic!", "voice": CARTESIA_VOICE, "response_format": "wav"},
        "/tts/bytes",
        # The documented request asks 32-bit float samples at 44.1 kHz; OpenAI's wav is 16-bit at 24 kHz.
        {"model_id": "sonic-2", "transcript": "Welcome to Cartesia Sonic!",
         "voice": {"mode": "id", "id": CARTESIA_VOICE},
         "output_format": {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 24000}},
        headers={"cartesia-version": "2024-11-13"},
    ),
)


@dataclass(frozen=True)
class VoicesCase:
    provider: str
    listing: str | None  # the documented listing the vendor answers with; None: declared, no call
    path: str | None
    expected: list[dict[str, Any]]  # the first voices the gateway must list (all of them for listings)
    base_url: str | None = None


def _voice(id_: str, name: str, languages: list[str], gender: str | None, description: str | None = None) -> dict[
    str, Any
]:
    return {"id": id_, "name": name, "languages": languages, "gender": gender, "description": description}


VOICES_CASES: tuple[VoicesCase, ...] = (
    VoicesCase("openai", None, None, [_voice("alloy", "Alloy", [], None), _voice("ash", "Ash", [], None)]),
    VoicesCase("deepgram", None, None, [_voice("aura-2-thalia-en", "Thalia", ["en-US"], "female")]),
    VoicesCase(
        "elevenlabs",
        "documented/elevenlabs/voices.json",
        "/v1/voices",
        [
            _voice("21m00Tcm4TlvDq8ikWAM", "Rachel", ["en"], "female", "calm"),
            _voice("JBFqnCBsd6RMkjVDRZzb", "George", [], "male", "warm"),
        ],
    ),
    VoicesCase(
        "google_tts",
        "documented/google_tts/voices.json",
        "/v1/voices",
        [
            _voice("es-ES-Standard-A", "es-ES-Standard-A", ["es-ES"], "female"),
            _voice("en-GB-Standard-A", "en-GB-Standard-A", ["en-GB"], "female"),
        ],
    ),
    VoicesCase(
        "azure_tts",
        "documented/azure_tts/voices.json",
        "/cognitiveservices/voices/list",
        [
            _voice("ar-EG-SalmaNeural", "Salma", ["ar-EG"], "female"),
            _voice("en-US-AvaMultilingualNeural", "Ava Multilingual", ["en-US", "af-ZA", "de-DE"], "female"),
        ],
        base_url="https://westus.tts.speech.microsoft.com",
    ),
    VoicesCase(
        "cartesia",
        "documented/cartesia/voices.json",
        "/voices",
        [
            _voice(CARTESIA_VOICE, "Example voice A", ["en"], None, "the quickstart's voice"),
            _voice("a0e99841-438c-4a64-b679-ae501e7d6091", "Example voice B", ["en"], None, "another voice"),
        ],
    ),
)


def voices_listing(case: VoicesCase) -> RecordedResponse:
    assert case.listing is not None
    documented = orjson.loads(_path(case.listing).read_bytes())["response"]
    return RecordedResponse(documented["status"], orjson.dumps(documented["json"]), documented["headers"])


def speech_listings() -> set[Path]:
    """The voice listings the voices cases replay (for the check that every recording is replayed)."""
    return {_path(case.listing).resolve() for case in VOICES_CASES if case.listing}
