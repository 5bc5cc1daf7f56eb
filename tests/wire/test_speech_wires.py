"""The speech wires on their own: each vendor's request for every OpenAI format (or the refusal naming
``response_format``), speed ranges, typed extra fields, SSML that no text can break, voices and error
bodies read into one shape."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import Any

import orjson
import pytest

from api_connector.core.speech import AudioFormat, SpeechRequest
from api_connector.errors import ValidationFailed
from api_connector.wire.azure_tts import AZURE_TTS
from api_connector.wire.cartesia_tts import CARTESIA_TTS, decode_voices
from api_connector.wire.deepgram_speak import DEEPGRAM_SPEAK
from api_connector.wire.elevenlabs_speech import ELEVENLABS_SPEECH
from api_connector.wire.google_tts import GOOGLE_TTS
from api_connector.wire.openai_speech import OPENAI_SPEECH
from api_connector.wire.speech import SpeechWire

SSML = "{http://www.w3.org/2001/10/synthesis}"


def request(**fields: Any) -> SpeechRequest:
    return SpeechRequest.model_validate({"model": "m", "input": "Hello", "voice": "en-US-Voice-A", **fields})


# What each wire produces per format: None where the vendor lacks it.
PRODUCES: dict[str, tuple[SpeechWire, set[AudioFormat]]] = {
    "openai": (OPENAI_SPEECH, set(AudioFormat)),
    "deepgram": (DEEPGRAM_SPEAK, set(AudioFormat)),
    "elevenlabs": (ELEVENLABS_SPEECH, {AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.WAV, AudioFormat.PCM}),
    "google": (GOOGLE_TTS, {AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.WAV, AudioFormat.PCM}),
    "azure": (AZURE_TTS, {AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.WAV, AudioFormat.PCM}),
    "cartesia": (CARTESIA_TTS, {AudioFormat.MP3, AudioFormat.WAV, AudioFormat.PCM}),
}


@pytest.mark.parametrize("vendor", PRODUCES)
@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_every_format_is_asked_for_or_refused_naming_response_format(vendor: str, fmt: AudioFormat) -> None:
    wire, offered = PRODUCES[vendor]
    if fmt in offered:
        assert wire.encode_request(request(response_format=fmt.value), "m").body
        return
    with pytest.raises(ValidationFailed) as refused:
        wire.encode_request(request(response_format=fmt.value), "m")
    assert refused.value.param == "response_format" and fmt.value in refused.value.message


def test_deepgram_names_encoding_container_and_rate_and_takes_the_voice_as_model() -> None:
    def query(**fields: Any) -> dict[str, str]:
        return dict(DEEPGRAM_SPEAK.encode_request(request(**fields), "aura-2-thalia-en").query)

    assert query(response_format="pcm") == {
        "model": "aura-2-thalia-en", "encoding": "linear16", "sample_rate": "24000", "container": "none"
    }
    assert query(response_format="opus", voice="aura-2-zeus-en") == {"model": "aura-2-zeus-en", "encoding": "opus"}
    with pytest.raises(ValidationFailed) as refused:
        query(speed=1.5)
    assert refused.value.param == "speed"
    assert query(speed=1.0)["model"] == "aura-2-thalia-en"  # 1.0 is no speed at all
    assert DEEPGRAM_SPEAK.billed_characters({"dg-char-count": "13"}) == 13
    assert DEEPGRAM_SPEAK.billed_characters({}) is None


def test_elevenlabs_speed_bounds_and_typed_voice_settings() -> None:
    sent = ELEVENLABS_SPEECH.encode_request(
        request(speed=0.8, voice_settings={"stability": 0.5, "use_speaker_boost": True}, seed=7), "eleven_v3"
    )
    assert orjson.loads(sent.body) == {
        "text": "Hello",
        "model_id": "eleven_v3",
        "voice_settings": {"stability": 0.5, "use_speaker_boost": True, "speed": 0.8},
        "seed": 7,
    }
    for bad, param in (({"speed": 2.0}, "speed"), ({"voice_settings": {"stability": 3}}, "voice_settings.stability")):
        with pytest.raises(ValidationFailed) as refused:
            ELEVENLABS_SPEECH.encode_request(request(**bad), "m")
        assert refused.value.param == param


def test_google_language_from_the_voice_speed_and_gemini_models() -> None:
    sent = orjson.loads(GOOGLE_TTS.encode_request(request(voice="de-DE-Neural2-B", speed=2.5), "").body)
    assert sent == {
        "input": {"text": "Hello"},
        "voice": {"languageCode": "de-DE", "name": "de-DE-Neural2-B"},
        "audioConfig": {"audioEncoding": "MP3", "speakingRate": 2.5},
    }
    gemini = request(voice="Kore", language_code="en-US", instructions="Say it warmly", pitch=2)
    sent = orjson.loads(GOOGLE_TTS.encode_request(gemini, "gemini-2.5-flash-tts").body)
    assert sent["voice"] == {"languageCode": "en-US", "name": "Kore", "modelName": "gemini-2.5-flash-tts"}
    assert sent["input"] == {"text": "Hello", "prompt": "Say it warmly"} and sent["audioConfig"]["pitch"] == 2
    with pytest.raises(ValidationFailed) as refused:
        GOOGLE_TTS.encode_request(request(voice="alloy"), "")
    assert refused.value.param == "voice"
    audio = b"\xff\xf3audio"
    assert GOOGLE_TTS.decode_audio(orjson.dumps({"audioContent": base64.b64encode(audio).decode()})) == audio
    with pytest.raises(ValueError):
        GOOGLE_TTS.decode_audio(b'{"audioContent": "not base64!"}')


@pytest.mark.parametrize(
    "text",
    [
        "plain words",
        'Tom & "Jerry" say <hi/>',
        "</voice></speak><speak>injected",
        "a ]]> b <!-- c --> <?xml x?>",
        "control\x00char\x07s and \ufffe dropped",
    ],
)
def test_azure_ssml_is_well_formed_and_says_exactly_the_text(text: str) -> None:
    sent = AZURE_TTS.encode_request(request(input=text, voice="en-GB-SoniaNeural", speed=0.75), "")
    assert sent.content_type == "application/ssml+xml"
    assert dict(sent.headers) == {"X-Microsoft-OutputFormat": "audio-24khz-96kbitrate-mono-mp3"}
    root = ET.fromstring(sent.body)  # raises on anything that is not one well-formed document
    assert root.tag == f"{SSML}speak" and root.attrib["{http://www.w3.org/XML/1998/namespace}lang"] == "en-GB"
    (voice,) = root
    assert voice.attrib == {"name": "en-GB-SoniaNeural"}
    (prosody,) = voice
    assert prosody.attrib == {"rate": "-25.00%"}
    spoken = "".join(prosody.itertext())
    assert spoken == "".join(c for c in text if c not in "\x00\x07\ufffe")


def test_azure_speed_bounds_and_style() -> None:
    with pytest.raises(ValidationFailed):
        AZURE_TTS.encode_request(request(speed=3.0), "")
    body = AZURE_TTS.encode_request(request(style="cheerful"), "").body.decode()
    assert '<mstts:express-as style="cheerful">Hello</mstts:express-as>' in body
    with pytest.raises(ValidationFailed) as refused:
        AZURE_TTS.encode_request(request(style='x" onload="y'), "")
    assert refused.value.param == "style"


def test_cartesia_body_and_voice_pages() -> None:
    sent = orjson.loads(CARTESIA_TTS.encode_request(request(response_format="pcm", language="fr"), "sonic-2").body)
    assert sent == {
        "model_id": "sonic-2",
        "transcript": "Hello",
        "voice": {"mode": "id", "id": "en-US-Voice-A"},
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 24000},
        "language": "fr",
    }
    page = decode_voices(b'{"data": [{"id": "v1", "name": "One", "language": "en"}], "has_more": false}')
    listed = decode_voices(b'[{"id": "v1", "name": "One", "language": "en"}]')
    assert page == listed and page[0].id == "v1" and page[0].languages == ("en",)


def test_openai_passes_the_request_through_with_the_target_model() -> None:
    asked = request(voice={"id": "voice_123"}, speed=0.5, instructions="calm", stream_format="audio", future_field=1)
    assert orjson.loads(OPENAI_SPEECH.encode_request(asked, "gpt-4o-mini-tts").body) == {
        "model": "gpt-4o-mini-tts",
        "input": "Hello",
        "voice": {"id": "voice_123"},
        "response_format": "mp3",
        "speed": 0.5,
        "instructions": "calm",
        "stream_format": "audio",
        "future_field": 1,
    }


@pytest.mark.parametrize(
    ("wire", "body", "message", "code"),
    [
        (ELEVENLABS_SPEECH, b'{"detail": {"status": "quota_exceeded", "message": "Out of credits"}}',
         "Out of credits", "quota_exceeded"),
        (ELEVENLABS_SPEECH, b'{"detail": "Not Found"}', "Not Found", None),
        (DEEPGRAM_SPEAK, b'{"err_code": "Bad Request", "err_msg": "No such model", "request_id": "x"}',
         "No such model", "Bad Request"),
        (CARTESIA_TTS, b'{"error": "voice not found"}', "voice not found", None),
        (AZURE_TTS, b'{"error": {"code": "401", "message": "Access denied"}}', "Access denied", "401"),
    ],
)
def test_vendor_error_bodies(wire: SpeechWire, body: bytes, message: str, code: str | None) -> None:
    said = wire.decode_error(body)
    assert said is not None and said.message == message and said.code == code
    assert wire.decode_error(b"<html>bad gateway</html>") is None


def test_stream_format_sse_is_refused() -> None:
    with pytest.raises(ValueError):
        request(stream_format="sse")
