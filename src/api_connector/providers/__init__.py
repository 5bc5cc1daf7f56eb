"""The provider catalog: ``REGISTRY`` maps a provider type to its declaration."""

from __future__ import annotations

from api_connector.providers.anthropic import SPEC as ANTHROPIC
from api_connector.providers.assemblyai import SPEC as ASSEMBLYAI
from api_connector.providers.azure_openai import SPEC as AZURE_OPENAI
from api_connector.providers.azure_openai_entra import SPEC as AZURE_OPENAI_ENTRA
from api_connector.providers.azure_stt import SPEC as AZURE_STT
from api_connector.providers.azure_tts import SPEC as AZURE_TTS
from api_connector.providers.bedrock import AGENT_SPEC as BEDROCK_AGENT
from api_connector.providers.bedrock import SPEC as BEDROCK
from api_connector.providers.cartesia import SPEC as CARTESIA
from api_connector.providers.cerebras import SPEC as CEREBRAS
from api_connector.providers.cohere import SPEC as COHERE
from api_connector.providers.deepgram import SPEC as DEEPGRAM
from api_connector.providers.deepseek import SPEC as DEEPSEEK
from api_connector.providers.elevenlabs import SPEC as ELEVENLABS
from api_connector.providers.fireworks import SPEC as FIREWORKS
from api_connector.providers.gemini import SPEC as GEMINI
from api_connector.providers.google_stt import SPEC as GOOGLE_STT
from api_connector.providers.google_tts import SPEC as GOOGLE_TTS
from api_connector.providers.groq import SPEC as GROQ
from api_connector.providers.http import SPEC as HTTP
from api_connector.providers.huggingface import SPEC as HUGGINGFACE
from api_connector.providers.jina import SPEC as JINA
from api_connector.providers.lmstudio import SPEC as LMSTUDIO
from api_connector.providers.mistral import SPEC as MISTRAL
from api_connector.providers.ollama import SPEC as OLLAMA
from api_connector.providers.openai import SPEC as OPENAI
from api_connector.providers.openai_compatible import SPEC as OPENAI_COMPATIBLE
from api_connector.providers.openrouter import SPEC as OPENROUTER
from api_connector.providers.perplexity import SPEC as PERPLEXITY
from api_connector.providers.replicate import SPEC as REPLICATE
from api_connector.providers.sandbox import SPEC as SANDBOX
from api_connector.providers.spec import ProviderSpec
from api_connector.providers.tgi import SPEC as TGI
from api_connector.providers.together import SPEC as TOGETHER
from api_connector.providers.vertex import SPEC as VERTEX
from api_connector.providers.vllm import SPEC as VLLM
from api_connector.providers.voyage import SPEC as VOYAGE
from api_connector.providers.xai import SPEC as XAI

REGISTRY: dict[str, ProviderSpec] = {
    spec.type: spec
    for spec in (
        OPENAI,
        ANTHROPIC,
        GROQ,
        AZURE_OPENAI,
        COHERE,
        GEMINI,
        JINA,
        MISTRAL,
        OLLAMA,
        TOGETHER,
        VOYAGE,
        VERTEX,
        BEDROCK,
        BEDROCK_AGENT,
        HUGGINGFACE,
        TGI,
        REPLICATE,
        OPENAI_COMPATIBLE,
        HTTP,
        SANDBOX,
        AZURE_OPENAI_ENTRA,
        CEREBRAS,
        DEEPSEEK,
        FIREWORKS,
        LMSTUDIO,
        OPENROUTER,
        PERPLEXITY,
        VLLM,
        XAI,
        ELEVENLABS,
        GOOGLE_TTS,
        AZURE_TTS,
        DEEPGRAM,
        CARTESIA,
        GOOGLE_STT,
        AZURE_STT,
        ASSEMBLYAI,
    )
}

__all__ = ["REGISTRY", "ProviderSpec"]
