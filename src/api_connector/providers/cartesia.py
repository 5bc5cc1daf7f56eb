"""Cartesia: Sonic text-to-speech over ``/tts/bytes``, key in ``X-API-Key``, API version pinned."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.cartesia_tts import CARTESIA_TTS

SPEC = ProviderSpec(
    type="cartesia",
    title="Cartesia",
    base_url="https://api.cartesia.ai",
    auth=AuthScheme(kind=AuthKind.HEADER, name="X-API-Key", prefix=""),
    endpoints={Capability.SPEECH: Endpoint(path="/tts/bytes", wire=CARTESIA_TTS, default_model="sonic-2")},
    # Every request names the API version it was written against (the shapes above are this one's).
    headers={"Cartesia-Version": "2024-11-13"},
    probe=HealthProbe(path="/voices"),
    models=("sonic-2", "sonic-turbo"),
    docs_url="https://docs.cartesia.ai/api-reference/tts/bytes",
)
