"""Azure OpenAI: OpenAI's shapes at the instance's resource URL, per deployment, key in ``api-key``.

The instance gives ``base_url`` (``https://<resource>.openai.azure.com``); route targets name the
deployment as their model. ``query: {api-version: ...}`` on the instance overrides the default version.
The Responses API is Azure's v1 API (``/openai/v1/responses``): the deployment is the body's model.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, ProviderSpec
from api_connector.wire.openai_responses import OPENAI_RESPONSES

API_VERSION = "2024-10-21"

SPEC = ProviderSpec(
    type="azure_openai",
    title="Azure OpenAI",
    base_url=None,
    auth=AuthScheme(kind=AuthKind.HEADER, name="api-key", prefix=""),
    endpoints={
        # The v1 API takes no api-version (an instance's own ``query`` still goes with every call).
        Capability.RESPONSES: Endpoint(path="/openai/v1/responses", wire=OPENAI_RESPONSES),
    },
    docs_url="https://learn.microsoft.com/azure/ai-services/openai/reference",
)
