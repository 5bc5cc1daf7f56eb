"""Google Gemini ``models/{model}:batchEmbedContents``: one sub-request per text, ``embeddings[].values`` back.

``dimensions`` is each sub-request's ``outputDimensionality``; the input-type hint is its ``taskType``
(``query`` and ``document`` become ``RETRIEVAL_QUERY`` and ``RETRIEVAL_DOCUMENT``, Google's own values
such as ``SEMANTIC_SIMILARITY`` pass as they are). Usage: newer models answer ``usageMetadata``
(``promptTokenCount``); others (``gemini-embedding-001`` and ``-2-preview`` in the recordings) say
nothing, so the tokens are estimated (about four characters a token) and the result is marked
``estimated``, which the answer's ``x-usage-estimated`` header tells the caller. Token arrays are
refused (Gemini embeds text). Errors are Google's (``wire.google_errors``).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.embeddings import EmbeddingsRequest, EmbeddingsResult, estimate_all, pack
from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.google_errors import decode_google_error

_TASK_TYPES = {"query": "RETRIEVAL_QUERY", "document": "RETRIEVAL_DOCUMENT"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Values(_Lenient):
    values: list[float]


class _UsageMetadata(_Lenient):
    prompt_token_count: int | None = Field(None, alias="promptTokenCount")


class _Answer(_Lenient):
    embeddings: list[_Values]
    usage: _UsageMetadata | None = Field(None, alias="usageMetadata")


class GeminiEmbeddingsWire:
    name = "gemini_embeddings"

    def encode_request(self, request: EmbeddingsRequest, upstream_model: str) -> bytes:
        texts = request.texts("Gemini")
        common: dict[str, Any] = {}
        if request.dimensions is not None:
            common["outputDimensionality"] = request.dimensions
        if request.input_type is not None:
            common["taskType"] = _TASK_TYPES.get(request.input_type, request.input_type)
        model = f"models/{upstream_model}"
        requests = [{"model": model, "content": {"parts": [{"text": text}]}, **common} for text in texts]
        return orjson.dumps({"requests": requests})

    def decode_response(self, body: bytes, request: EmbeddingsRequest) -> EmbeddingsResult:
        answer = _Answer.model_validate_json(body)
        texts = request.items()
        if len(answer.embeddings) != len(texts):
            raise ValueError(f"expected {len(texts)} embeddings, got {len(answer.embeddings)}")
        vectors = [pack(entry.values) for entry in answer.embeddings]
        counted = answer.usage.prompt_token_count if answer.usage is not None else None
        if counted is None:
            return EmbeddingsResult(vectors, "", Usage(input_tokens=estimate_all(texts)), estimated=True)
        return EmbeddingsResult(vectors, "", Usage(input_tokens=counted))

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_google_error(body)


GEMINI_EMBEDDINGS = GeminiEmbeddingsWire()
