"""Azure OpenAI: OpenAI's shapes at the instance's resource URL, per deployment, key in ``api-key``.

The instance gives ``base_url`` (``https://<resource>.openai.azure.com``); route targets name the
deployment as their model. ``query: {api-version: ...}`` on the instance overrides the default version.
Answers carry Azure's ``content_filter_results`` and ``prompt_filter_results`` (passed on as they
are); a prompt refused by its filters is a 400 ``code: content_filter`` with an ``innererror`` saying
which filter (``content_filtered``, with the verdicts in the error's details).
For a service principal (Entra ID) instead of a key, see ``azure_openai_entra``.
The Responses API is Azure's v1 API (``/openai/v1/responses``): the deployment is the body's model.
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import AuthKind, AuthScheme, Endpoint, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_embeddings import OPENAI_EMBEDDINGS
from api_connector.wire.openai_responses import OPENAI_RESPONSES

# The latest GA version of the data-plane inference API on the deployments paths.
API_VERSION = "2024-10-21"

SPEC = ProviderSpec(
    type="azure_openai",
    title="Azure OpenAI",
    base_url=None,
    auth=AuthScheme(kind=AuthKind.HEADER, name="api-key", prefix=""),
    endpoints={
        Capability.CHAT: Endpoint(
            path="/openai/deployments/{model}/chat/completions", wire=OPENAI_CHAT, query={"api-version": API_VERSION}
        ),
        # Azure OpenAI reference, "Embeddings": input arrays of up to 2048 items.
        Capability.EMBEDDINGS: Endpoint(
            path="/openai/deployments/{model}/embeddings",
            wire=OPENAI_EMBEDDINGS,
            query={"api-version": API_VERSION},
            max_batch=2048,
        ),
        # The v1 API takes no api-version (an instance's own ``query`` still goes with every call).
        Capability.RESPONSES: Endpoint(path="/openai/v1/responses", wire=OPENAI_RESPONSES),
    },
    docs_url="https://learn.microsoft.com/azure/ai-services/openai/reference",
)
