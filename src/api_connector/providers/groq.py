"""Groq: OpenAI-compatible chat and Whisper transcription on its own base URL."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import openai_models
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_transcription import OPENAI_TRANSCRIPTION

SPEC = ProviderSpec(
    type="groq",
    title="Groq",
    base_url="https://api.groq.com/openai/v1",
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT),
        # OpenAI's transcription form and answers (verbose_json with segments and words).
        Capability.TRANSCRIPTION: Endpoint(
            path="/audio/transcriptions", wire=OPENAI_TRANSCRIPTION, default_model="whisper-large-v3-turbo"
        ),
        # Groq's speech-to-text docs: translation to English by whisper-large-v3 only.
        Capability.TRANSLATION: Endpoint(
            path="/audio/translations", wire=OPENAI_TRANSCRIPTION, default_model="whisper-large-v3"
        ),
    },
    listing=ModelListing("/models", openai_models),
    probe=HealthProbe(path="/models"),
    models=(
        "llama-3.3-70b-versatile",
        "llama-3.1-8b-instant",
        "openai/gpt-oss-120b",
        "qwen/qwen3-32b",
        "whisper-large-v3",
        "whisper-large-v3-turbo",
    ),
    docs_url="https://console.groq.com/docs/api-reference",
)
