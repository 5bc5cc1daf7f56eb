"""Voyage AI rerank (``POST /rerank``): its own names for the Cohere shape's fields.

Request ``{query, documents, model, top_k?}``, documents as strings only (objects go as the text
``core.rerank.document_text`` makes of them); ``return_documents`` is left at Voyage's default (false):
the gateway attaches the caller's own documents. Answer ``{object, data: [{index, relevance_score,
document?}], model, usage: {total_tokens}}``; errors are ``{"detail": ...}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from api_connector.core.rerank import RerankRequest, RerankResult
from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.cohere_rerank import ScoredDocument, TokenUsage
from api_connector.wire.vendor_errors import decode_vendor_error


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: list[ScoredDocument]
    model: str | None = None
    usage: TokenUsage | None = None


class VoyageRerankWire:
    name = "voyage_rerank"

    def encode_request(self, request: RerankRequest, upstream_model: str) -> bytes:
        body: dict[str, Any] = {"query": request.query, "documents": request.texts(), "model": upstream_model}
        if request.top_n is not None:
            body["top_k"] = request.top_n
        return orjson.dumps(body)

    def decode_response(self, body: bytes, request: RerankRequest, upstream_model: str) -> RerankResult:
        answer = _Answer.model_validate_json(body)
        scores = [(hit.index, hit.relevance_score) for hit in answer.data]
        usage = Usage(input_tokens=answer.usage.tokens if answer.usage is not None else 0)
        return RerankResult.ranked(request, scores, answer.model or upstream_model, usage, None)

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_vendor_error(body)


VOYAGE_RERANK = VoyageRerankWire()
