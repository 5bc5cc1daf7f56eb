"""A self-hosted Text Generation Inference server: its OpenAI-compatible Messages API under ``/v1``.

The instance gives the server's ``base_url`` (``http://host:8080/v1``); TGI asks for no key unless it
sits behind something that does (a Hugging Face Inference Endpoint takes a Hugging Face token), so the
credential is optional. A TGI server serves one model; its name in requests is free ("tgi").
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="tgi",
    title="Text Generation Inference (self-hosted)",
    base_url=None,
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    # TGI lists the model it serves under /v1/models; it costs nothing.
    probe=HealthProbe(path="/models"),
    requires_credential=False,
    docs_url="https://huggingface.co/docs/text-generation-inference/messages_api",
)
