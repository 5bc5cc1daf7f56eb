"""Every capability's declaration (``capabilities.base.CapabilitySpec``), by dead-letter kind."""

from __future__ import annotations

from typing import Any

from api_connector.capabilities.base import CapabilitySpec
from api_connector.capabilities.chat import CHAT
from api_connector.capabilities.embeddings import EMBEDDINGS
from api_connector.capabilities.requests import RAW
from api_connector.capabilities.rerank import RERANK
from api_connector.capabilities.responses import RESPONSES
from api_connector.capabilities.speech import SPEECH
from api_connector.capabilities.token_count import TOKEN_COUNT
from api_connector.capabilities.transcription import TRANSCRIPTION, TRANSLATION

BY_KIND: dict[str, CapabilitySpec[Any, Any]] = {
    spec.kind: spec
    for spec in (CHAT, EMBEDDINGS, RAW, RERANK, RESPONSES, SPEECH, TOKEN_COUNT, TRANSCRIPTION, TRANSLATION)
}

__all__ = [
    "BY_KIND",
    "CHAT",
    "EMBEDDINGS",
    "RAW",
    "RERANK",
    "RESPONSES",
    "SPEECH",
    "TOKEN_COUNT",
    "TRANSCRIPTION",
    "TRANSLATION",
    "CapabilitySpec",
]
