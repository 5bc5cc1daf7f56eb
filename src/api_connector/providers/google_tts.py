"""Google Cloud Text-to-Speech: ``text:synthesize`` (base64 audio in JSON).

The credential is a service-account key (its JSON, in the vault or an ``env:`` reference), traded for
access tokens by ``auth.google`` (the ``cloud-platform`` scope, which Text-to-Speech accepts), or an API
key of a project with the API enabled, sent in ``x-goog-api-key`` (not the ``?key=`` query parameter,
which would put it in the URL). The voice names the language ("en-US-Neural2-A"); route targets need
no model (a Gemini-TTS target names it: "gemini-2.5-flash-tts").
"""

from api_connector.auth.google import GOOGLE_AUTH
from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.google_tts import GOOGLE_TTS

SPEC = ProviderSpec(
    type="google_tts",
    title="Google Cloud Text-to-Speech",
    base_url="https://texttospeech.googleapis.com",
    auth=GOOGLE_AUTH,
    endpoints={Capability.SPEECH: Endpoint(path="/v1/text:synthesize", wire=GOOGLE_TTS)},
    # Listing voices is free and fails with 401/403 on a bad credential or a project without the API.
    probe=HealthProbe(path="/v1/voices"),
    docs_url="https://cloud.google.com/text-to-speech/docs/reference/rest/v1/text/synthesize",
)
