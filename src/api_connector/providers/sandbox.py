"""The sandbox: built in, needs no key, answers inside this process (see ``sandbox.engine``)."""

from api_connector.core.capabilities import Capability
from api_connector.providers.spec import NO_AUTH, Endpoint, HealthProbe, ProviderSpec
from api_connector.sandbox.engine import MODELS, SandboxEngine
from api_connector.wire.cohere_rerank import JINA_RERANK
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.openai_embeddings import OPENAI_EMBEDDINGS
from api_connector.wire.openai_speech import OPENAI_SPEECH
from api_connector.wire.openai_transcription import OpenAITranscription

# The sandbox answers verbose_json, as Whisper models do.
_TRANSCRIPTION = OpenAITranscription(verbose_models=("sandbox-stt",))

SPEC = ProviderSpec(
    type="sandbox",
    title="Sandbox (local, deterministic, fault controls)",
    base_url="http://sandbox.local/v1",
    auth=NO_AUTH,
    endpoints={
        Capability.CHAT: Endpoint(path="/chat/completions", wire=OPENAI_CHAT),
        # Jina's shape: strings or {"text"} objects in, results and token usage out.
        Capability.RERANK: Endpoint(path="/rerank", wire=JINA_RERANK),
        Capability.EMBEDDINGS: Endpoint(path="/embeddings", wire=OPENAI_EMBEDDINGS),
        # OpenAI's shape; tones as WAV or raw PCM (sandbox.speech).
        Capability.SPEECH: Endpoint(path="/audio/speech", wire=OPENAI_SPEECH, default_model="sandbox-tts"),
        # OpenAI's form; a transcript that tells the audio's length (sandbox.transcription).
        Capability.TRANSCRIPTION: Endpoint(
            path="/audio/transcriptions", wire=_TRANSCRIPTION, default_model="sandbox-stt"
        ),
        Capability.TRANSLATION: Endpoint(path="/audio/translations", wire=_TRANSCRIPTION, default_model="sandbox-stt"),
    },
    probe=HealthProbe(path="/models"),
    models=MODELS,
    passthrough_header_prefixes=("x-sandbox-",),
    requires_credential=False,
    local=SandboxEngine(),
)
