"""Azure AI Speech text-to-speech: SSML to the region's endpoint, key in ``Ocp-Apim-Subscription-Key``.

The instance gives its region's ``base_url``: ``https://<region>.tts.speech.microsoft.com``. The voice
names the language ("en-US-AvaMultilingualNeural"); route targets need no model.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.azure_tts import AZURE_TTS

SPEC = ProviderSpec(
    type="azure_tts",
    title="Azure AI Speech (text-to-speech)",
    base_url=None,
    auth=AuthScheme(kind=AuthKind.HEADER, name="Ocp-Apim-Subscription-Key", prefix=""),
    endpoints={Capability.SPEECH: Endpoint(path="/cognitiveservices/v1", wire=AZURE_TTS)},
    # The voice list is free and fails with 401 on a bad key.
    probe=HealthProbe(path="/cognitiveservices/voices/list"),
    docs_url="https://learn.microsoft.com/azure/ai-services/speech-service/rest-text-to-speech",
)
