"""Azure OpenAI: OpenAI's shapes at the instance's resource URL, per deployment, key in ``api-key``.

The instance gives ``base_url`` (``https://<resource>.openai.azure.com``); route targets name the
deployment as their model. ``query: {api-version: ...}`` on the instance overrides the default version.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, ProviderSpec
from api_connector.wire.openai_embeddings import OPENAI_EMBEDDINGS

API_VERSION = "2024-10-21"

SPEC = ProviderSpec(
    type="azure_openai",
    title="Azure OpenAI",
    base_url=None,
    auth=AuthScheme(kind=AuthKind.HEADER, name="api-key", prefix=""),
    endpoints={
        # Azure OpenAI reference, "Embeddings": input arrays of up to 2048 items.
        Capability.EMBEDDINGS: Endpoint(
            path="/openai/deployments/{model}/embeddings",
            wire=OPENAI_EMBEDDINGS,
            query={"api-version": API_VERSION},
            max_batch=2048,
        ),
    },
    docs_url="https://learn.microsoft.com/azure/ai-services/openai/reference",
)
