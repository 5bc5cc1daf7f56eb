"""What a provider can be asked to do."""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    CHAT = "chat"
    # OpenAI's Responses API: passed through to providers that speak it, translated to chat for the rest.
    RESPONSES = "responses"
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"
    TRANSCRIPTION = "transcription"
    # Speech in any language to English text (OpenAI's audio/translations): few providers offer it.
    TRANSLATION = "translation"
    SPEECH = "speech"
    # Any HTTP endpoint of the provider through the generic request API.
    REQUESTS = "requests"
    # Counting a chat request's input tokens with the vendor's own tokenizer (Anthropic's count_tokens).
    TOKEN_COUNT = "token_count"


# A capability a provider without its own endpoint for it still serves through another one, the gateway
# translating both ways (a Responses request goes to a chat-only provider's chat endpoint).
TRANSLATED_THROUGH: dict[Capability, Capability] = {Capability.RESPONSES: Capability.CHAT}
