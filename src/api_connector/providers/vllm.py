"""vLLM: a local OpenAI-compatible server; the instance gives its URL (``http://host:8000/v1``).

No credential unless the server was started with ``--api-key`` (then sent as a bearer token).
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="vllm",
    title="vLLM (local)",
    base_url=None,
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    probe=HealthProbe(path="/models"),
    requires_credential=False,
    docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
)
