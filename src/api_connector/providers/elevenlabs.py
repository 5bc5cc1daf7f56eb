"""ElevenLabs: text-to-speech (streamed) and speech-to-text, key in the ``xi-api-key`` header."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.elevenlabs_speech import ELEVENLABS_SPEECH
from api_connector.wire.elevenlabs_stt import ELEVENLABS_STT

SPEC = ProviderSpec(
    type="elevenlabs",
    title="ElevenLabs",
    base_url="https://api.elevenlabs.io",
    auth=AuthScheme(kind=AuthKind.HEADER, name="xi-api-key", prefix=""),
    endpoints={
        # The streaming variant: audio reaches the caller as it is generated.
        Capability.SPEECH: Endpoint(
            path="/v1/text-to-speech/{voice}/stream", wire=ELEVENLABS_SPEECH, default_model="eleven_multilingual_v2"
        ),
        Capability.TRANSCRIPTION: Endpoint(path="/v1/speech-to-text", wire=ELEVENLABS_STT, default_model="scribe_v1"),
    },
    # Listing models is free and fails with 401 on a bad key.
    probe=HealthProbe(path="/v1/models"),
    models=("eleven_multilingual_v2", "eleven_flash_v2_5", "eleven_turbo_v2_5", "eleven_v3", "scribe_v1"),
    docs_url="https://elevenlabs.io/docs/api-reference/text-to-speech/stream",
)
