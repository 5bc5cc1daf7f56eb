"""What a provider can be asked to do."""

from __future__ import annotations

from enum import StrEnum


class Capability(StrEnum):
    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    RERANK = "rerank"
    TRANSCRIPTION = "transcription"
    SPEECH = "speech"
    # Any HTTP endpoint of the provider through the generic request API.
    REQUESTS = "requests"
    # Counting a chat request's input tokens with the vendor's own tokenizer (Anthropic's count_tokens).
    TOKEN_COUNT = "token_count"
