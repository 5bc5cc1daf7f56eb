"""LM Studio: a desktop OpenAI-compatible server; the instance gives its URL (``http://host:1234/v1``)."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="lmstudio",
    title="LM Studio (local)",
    base_url=None,
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    probe=HealthProbe(path="/models"),
    requires_credential=False,
    docs_url="https://lmstudio.ai/docs/app/api/endpoints/openai",
)
