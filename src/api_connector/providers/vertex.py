"""Google Vertex AI: Gemini's ``generateContent`` API in a Google Cloud project, translated by
``wire.gemini_chat`` like AI Studio's.

The instance gives the project and location in its ``base_url``, down to the Google publisher:
``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google``
(``https://aiplatform.googleapis.com/v1/projects/{project}/locations/global/publishers/google`` for
the global endpoint); route targets name the model (``gemini-2.5-flash``). The credential is a
service-account key (its JSON, stored in the vault or referenced as ``env:NAME``), traded for access
tokens by ``auth.google``; an API key instead (Vertex AI express mode, base URL
``https://aiplatform.googleapis.com/v1/publishers/google``) is sent as it is. Listing models is not
scoped to a project, so no probe is declared: health is judged from real calls.
"""

from api_connector.auth.google import GOOGLE_AUTH
from api_connector.core.capabilities import Capability
from api_connector.providers.google_chat import CHAT_MODELS, GENERATE_CONTENT
from api_connector.providers.spec import ProviderSpec

SPEC = ProviderSpec(
    type="vertex",
    title="Google Vertex AI",
    base_url=None,
    auth=GOOGLE_AUTH,
    endpoints={Capability.CHAT: GENERATE_CONTENT},
    models=CHAT_MODELS,
    docs_url="https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference",
)
