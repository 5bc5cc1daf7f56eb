"""Google Cloud Speech-to-Text v2: ``recognize`` (synchronous, up to 60 s and 10 MB of audio, sent as
base64 inside the JSON request).

The instance gives the project and location in its ``base_url``:
``https://speech.googleapis.com/v2/projects/{project}/locations/global`` (a regional location has its
own host: ``https://{location}-speech.googleapis.com/v2/projects/{project}/locations/{location}``). The
recognizer is ``_``, the implicit one: the whole configuration travels with each request. Route targets
name the model (``long``, ``short``, ``telephony``, ``chirp_2``, ...). The credential is a
service-account key (``auth.google``, the ``cloud-platform`` scope) or an API key in ``x-goog-api-key``.
"""

from api_connector.auth.google import GOOGLE_AUTH
from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.google_stt import GOOGLE_STT

SPEC = ProviderSpec(
    type="google_stt",
    title="Google Cloud Speech-to-Text",
    base_url=None,
    auth=GOOGLE_AUTH,
    endpoints={
        Capability.TRANSCRIPTION: Endpoint(path="/recognizers/_:recognize", wire=GOOGLE_STT, default_model="long"),
    },
    # Listing the location's recognizers is free and fails with 401/403 on a bad credential.
    probe=HealthProbe(path="/recognizers"),
    models=("long", "short", "telephony", "chirp_2", "chirp_3"),
    docs_url="https://cloud.google.com/speech-to-text/v2/docs/reference/rest/v2/projects.locations.recognizers/recognize",
)
