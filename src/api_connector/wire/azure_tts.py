"""Azure AI Speech text-to-speech: SSML built from the request, ``POST /cognitiveservices/v1``.

The body is SSML: ``<speak>`` in the voice's language (from its name, "en-US-AvaMultilingualNeural",
or the caller's ``language_code``), ``<voice name=...>``, a ``<prosody rate>`` when a speed other than
1.0 is asked (Azure takes 0.5 to 2 times the voice's rate), and, when the caller sends Azure's
``style`` as an extra field, ``<mstts:express-as>``. The text is escaped (and characters XML 1.0
cannot carry are dropped), so no input can change the document's structure. The format goes in the
``X-Microsoft-OutputFormat`` header, set on the request by ``output_header``; AAC and FLAC Azure does
not produce. OpenAI's ``instructions`` have no counterpart and are not sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from api_connector.core.speech import AudioFormat, SpeechRequest, Voice
from api_connector.wire.base import VendorError
from api_connector.wire.speech import (
    AudioAnswer,
    Synthesis,
    VoiceCatalog,
    check_speed,
    locale_of,
    refuse_format,
    typed_extras,
)
from api_connector.wire.vendor_errors import decode_vendor_error

OUTPUT_HEADER = "X-Microsoft-OutputFormat"
# OpenAI's formats in Azure's names, at OpenAI's 24 kHz.
OUTPUT_FORMATS: dict[AudioFormat, str] = {
    AudioFormat.MP3: "audio-24khz-96kbitrate-mono-mp3",
    AudioFormat.OPUS: "ogg-24khz-16bit-mono-opus",
    AudioFormat.WAV: "riff-24khz-16bit-mono-pcm",
    AudioFormat.PCM: "raw-24khz-16bit-mono-pcm",
}
_SPEED = (0.5, 2.0)
# Characters XML 1.0 does not allow anywhere (C0 controls but tab, line feed and carriage return;
# surrogates; U+FFFE and U+FFFF): an SSML document holding one is refused by the service.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Extras(_Lenient):
    language_code: str | None = Field(None, max_length=35, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    style: str | None = Field(None, max_length=64, pattern=r"^[A-Za-z][A-Za-z-]*$")


class _Voice(_Lenient):
    ShortName: str
    DisplayName: str = ""
    Locale: str | None = None
    Gender: str | None = None
    SecondaryLocaleList: list[str] = []


_VOICE_LIST = TypeAdapter(list[_Voice])


def decode_voices(body: bytes) -> list[Voice]:
    voices = []
    for v in _VOICE_LIST.validate_json(body):
        languages = tuple(dict.fromkeys([*([v.Locale] if v.Locale else []), *v.SecondaryLocaleList]))
        voices.append(Voice(v.ShortName, v.DisplayName or v.ShortName, languages, (v.Gender or "").lower() or None))
    return voices


def ssml(request: SpeechRequest, language: str, style: str | None) -> str:
    text = escape(_NOT_XML.sub("", request.input))
    speed = check_speed("Azure Speech", request, *_SPEED)
    if speed is not None:
        text = f"<prosody rate={quoteattr(f'{(speed - 1) * 100:+.2f}%')}>{text}</prosody>"
    if style:
        text = f"<mstts:express-as style={quoteattr(style)}>{text}</mstts:express-as>"
    return (
        f'<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
        f'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang={quoteattr(language)}>'
        f"<voice name={quoteattr(request.voice_id)}>{text}</voice></speak>"
    )


@dataclass(frozen=True, slots=True)
class AzureTTS(AudioAnswer):
    name: str = "azure_tts"
    voices: VoiceCatalog = field(
        default_factory=lambda: VoiceCatalog(path="/cognitiveservices/voices/list", decode=decode_voices)
    )

    def encode_request(self, request: SpeechRequest, upstream_model: str) -> Synthesis:
        output = OUTPUT_FORMATS.get(request.response_format)
        if output is None:
            raise refuse_format("Azure Speech", request.response_format, OUTPUT_FORMATS)
        extras = typed_extras(_Extras, request)
        language = locale_of(request.voice_id, extras.language_code, "Azure Speech")
        document = ssml(request, language, extras.style)
        return Synthesis(document.encode("utf-8"), "application/ssml+xml", headers={OUTPUT_HEADER: output})

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_vendor_error(body)


AZURE_TTS = AzureTTS()
