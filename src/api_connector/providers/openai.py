"""OpenAI: the reference Chat Completions API."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import Endpoint, HealthProbe, ModelListing, ProviderSpec
from api_connector.wire.model_lists import openai_models
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_embeddings import OPENAI_EMBEDDINGS
from api_connector.wire.openai_responses import OPENAI_RESPONSES
from api_connector.wire.openai_speech import OPENAI_SPEECH
from api_connector.wire.openai_transcription import OPENAI_TRANSCRIPTION

SPEC = ProviderSpec(
    type="openai",
    title="OpenAI",
    base_url="https://api.openai.com/v1",
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT),
        # API reference, "Create embeddings": at most 2048 inputs, and 300,000 tokens summed over them.
        Capability.EMBEDDINGS: Endpoint(
            path="/embeddings", wire=OPENAI_EMBEDDINGS, max_batch=2048, max_batch_tokens=300_000
        ),
        Capability.RESPONSES: Endpoint(path="/responses", wire=OPENAI_RESPONSES),
        Capability.SPEECH: Endpoint(path="/audio/speech", wire=OPENAI_SPEECH, default_model="gpt-4o-mini-tts"),
        Capability.TRANSCRIPTION: Endpoint(
            path="/audio/transcriptions", wire=OPENAI_TRANSCRIPTION, default_model="whisper-1"
        ),
        # Only whisper-1 translates (API reference, "Create translation").
        Capability.TRANSLATION: Endpoint(
            path="/audio/translations", wire=OPENAI_TRANSCRIPTION, default_model="whisper-1"
        ),
    },
    # Listing models is free and fails with 401 on a bad key: the cheapest proof a key works.
    listing=ModelListing("/models", openai_models),
    probe=HealthProbe(path="/models"),
    models=(
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-4.1-mini",
        "gpt-4.1-nano",
        "o3-mini",
        "o4-mini",
        "text-embedding-3-small",
        "text-embedding-3-large",
        "text-embedding-ada-002",
        "tts-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-4o-mini-transcribe",
    ),
    docs_url="https://platform.openai.com/docs/api-reference/chat",
)
