"""OpenAI's ``POST /audio/speech``: the gateway's request passed through, the audio streamed back.

The body is the caller's own (extra fields included, so newer OpenAI parameters work unchanged) with
the target's model. Every format and OpenAI's 0.25-4.0 speed range are the vendor's own. Voices are a
fixed list, declared here as data (the API has no voice listing).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from api_connector.core.speech import SpeechRequest, Voice
from api_connector.wire.base import VendorError
from api_connector.wire.openai_chat import decode_openai_error
from api_connector.wire.speech import AudioAnswer, Synthesis, VoiceCatalog

# The built-in voices of the API reference ("Create speech": voice); marin and cedar with
# gpt-4o-mini-tts and later models only.
OPENAI_VOICES = tuple(
    Voice(name, name.capitalize())
    for name in (
        "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse",
        "marin", "cedar",
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OpenAISpeech(AudioAnswer):
    name: str = "openai_speech"
    voices: VoiceCatalog = field(default_factory=lambda: VoiceCatalog(fixed=OPENAI_VOICES))

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        body = request.wire_dict()
        body["model"] = upstream_model
        return Synthesis(orjson.dumps(body))

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_openai_error(body)


OPENAI_SPEECH = OpenAISpeech()
