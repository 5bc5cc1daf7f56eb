"""Hugging Face Inference Providers: the router's OpenAI-compatible chat, a Hugging Face token as key.

The router picks an inference provider for the model, or the one named after it
(``deepseek-ai/DeepSeek-R1:together``); an instance may also pin one by its base URL
(``https://router.huggingface.co/together/v1``, the form Hugging Face's own client uses).
"""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ProviderSpec
from api_connector.wire.openai_chat import OPENAI_CHAT

SPEC = ProviderSpec(
    type="huggingface",
    title="Hugging Face Inference Providers",
    base_url="https://router.huggingface.co/v1",
    endpoints={Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT)},
    probe=HealthProbe(path="/models"),
    models=(
        "deepseek-ai/DeepSeek-R1",
        "meta-llama/Llama-3.3-70B-Instruct",
        "Qwen/Qwen2.5-VL-72B-Instruct",
        "openai/gpt-oss-120b",
    ),
    docs_url="https://huggingface.co/docs/inference-providers",
)
