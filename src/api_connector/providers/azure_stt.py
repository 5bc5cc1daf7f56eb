"""Azure AI Speech speech-to-text, the REST API for short audio (up to 60 s of WAV/PCM or OGG/Opus), key
in ``Ocp-Apim-Subscription-Key``.

The instance gives its region's ``base_url``: ``https://<region>.stt.speech.microsoft.com``. Route
targets need no model (the language picks the recognizer); one may name a custom speech endpoint's
id, sent as ``cid``.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, ProviderSpec
from api_connector.wire.azure_stt import AZURE_STT

SPEC = ProviderSpec(
    type="azure_stt",
    title="Azure AI Speech (speech-to-text)",
    base_url=None,
    auth=AuthScheme(kind=AuthKind.HEADER, name="Ocp-Apim-Subscription-Key", prefix=""),
    endpoints={
        Capability.TRANSCRIPTION: Endpoint(
            path="/speech/recognition/conversation/cognitiveservices/v1", wire=AZURE_STT, default_model="default"
        ),
    },
    # The short-audio host has no free call to probe with: health is judged from real calls.
    docs_url="https://learn.microsoft.com/azure/ai-services/speech-service/rest-speech-to-text-short",
)
