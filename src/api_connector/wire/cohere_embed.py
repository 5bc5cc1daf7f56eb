"""Cohere Embed v2 (``POST /v2/embed``): ``texts`` in, ``embeddings.float`` out, tokens in ``meta``.

Cohere's v3 and later models require an ``input_type``; without the caller's hint the gateway says
``search_document`` (what indexing, the common use of a batch, needs). The neutral ``query`` and
``document`` become ``search_query`` and ``search_document``; Cohere's own values (``classification``,
``clustering``) pass as they are. Only float vectors are asked for: they are what the gateway keeps.
The answer names no model, so the capability fills in the one it asked for. Token arrays are refused
(Cohere embeds texts), which passes a Cohere target over for them.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api_connector.core.embeddings import EmbeddingsRequest, EmbeddingsResult, estimate_all, pack
from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError

DEFAULT_INPUT_TYPE = "search_document"
_INPUT_TYPES = {"query": "search_query", "document": "search_document"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ByType(_Lenient):
    floats: list[list[float]] = Field(alias="float")


class _BilledUnits(_Lenient):
    input_tokens: int | None = None


class _Meta(_Lenient):
    billed_units: _BilledUnits | None = None


class _Answer(_Lenient):
    embeddings: _ByType
    meta: _Meta | None = None


class _Error(_Lenient):
    message: str


class CohereEmbedWire:
    name = "cohere_embed"

    def encode_request(self, request: EmbeddingsRequest, upstream_model: str) -> bytes:
        texts = request.texts("Cohere")
        hint = request.input_type or DEFAULT_INPUT_TYPE
        body: dict[str, Any] = {
            "model": upstream_model,
            "texts": texts,
            "input_type": _INPUT_TYPES.get(hint, hint),
            "embedding_types": ["float"],
        }
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions  # embed-v4.0 and later
        return orjson.dumps(body)

    def decode_response(self, body: bytes, request: EmbeddingsRequest) -> EmbeddingsResult:
        answer = _Answer.model_validate_json(body)
        texts = request.items()
        floats = answer.embeddings.floats
        if len(floats) != len(texts):
            raise ValueError(f"expected {len(texts)} embeddings, got {len(floats)}")
        vectors = [pack(values) for values in floats]
        billed = answer.meta.billed_units if answer.meta is not None else None
        if billed is None or billed.input_tokens is None:
            return EmbeddingsResult(vectors, "", Usage(input_tokens=estimate_all(texts)), estimated=True)
        return EmbeddingsResult(vectors, "", Usage(input_tokens=billed.input_tokens))

    def decode_error(self, body: bytes) -> VendorError | None:
        try:
            return VendorError(message=_Error.model_validate_json(body).message)
        except ValidationError:
            return None


COHERE_EMBED = CohereEmbedWire()
