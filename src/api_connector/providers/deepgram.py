"""Deepgram: Aura text-to-speech and pre-recorded transcription, key in ``Authorization: Token <key>``."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.deepgram_listen import DEEPGRAM_LISTEN
from api_connector.wire.deepgram_speak import AURA_MODELS, DEEPGRAM_SPEAK

SPEC = ProviderSpec(
    type="deepgram",
    title="Deepgram",
    base_url="https://api.deepgram.com",
    # Deepgram's own scheme: the key after "Token ", not a Bearer token.
    auth=AuthScheme(kind=AuthKind.HEADER, name="Authorization", prefix="Token "),
    endpoints={
        Capability.SPEECH: Endpoint(path="/v1/speak", wire=DEEPGRAM_SPEAK, default_model="aura-2-thalia-en"),
        Capability.TRANSCRIPTION: Endpoint(path="/v1/listen", wire=DEEPGRAM_LISTEN, default_model="nova-3"),
    },
    # Listing the key's projects is free and fails with 401 on a bad key.
    probe=HealthProbe(path="/v1/projects"),
    models=(*AURA_MODELS, "nova-3", "nova-2"),
    docs_url="https://developers.deepgram.com/reference/text-to-speech/speak-request",
)
