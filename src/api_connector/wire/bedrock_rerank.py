"""AWS Bedrock Rerank (``POST /rerank`` on the agent runtime) <-> the gateway's rerank shape.

Request ``{queries: [{type: TEXT, textQuery: {text}}], sources: [{type: INLINE, inlineDocumentSource:
{type: TEXT, textDocument: {text}} | {type: JSON, jsonDocument}}], rerankingConfiguration: {type:
BEDROCK_RERANKING_MODEL, bedrockRerankingConfiguration: {modelConfiguration: {modelArn},
numberOfResults?}}}``. Strings go as text; objects as JSON documents, unless the caller names
``rank_fields`` (Bedrock cannot be told which fields to rank): then as the text
``core.rerank.document_text`` makes of them. The model is named by its ARN
(``arn:aws:bedrock:<region>::foundation-model/amazon.rerank-v1:0``): Bedrock takes nothing else.

Answer ``{results: [{index, relevanceScore, document?}], nextToken?}``; no usage: Bedrock bills each
query of up to 100 documents once, so that is what is metered, in searches. Errors are Bedrock's
(``bedrock_types``): the kind in ``x-amzn-errortype``, the message in the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from api_connector.core.rerank import RerankRequest, RerankResult, document_text
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.base import VendorError
from api_connector.wire.bedrock_types import BedrockJSON, bedrock_error, header_error

# Bedrock bills a query of up to this many documents once, and one more for each such share beyond.
_DOCUMENTS_PER_QUERY = 100


class _Scored(BedrockJSON):
    index: int
    relevance_score: float


class _Answer(BedrockJSON):
    results: list[_Scored]


def _source(document: Any, rank_fields: list[str] | None) -> dict[str, Any]:
    if isinstance(document, dict) and not rank_fields:
        return {"type": "INLINE", "inlineDocumentSource": {"type": "JSON", "jsonDocument": document}}
    text = document_text(document, rank_fields)
    return {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": text}}}


class BedrockRerankWire:
    name = "bedrock_rerank"

    def encode_request(self, request: RerankRequest, upstream_model: str) -> bytes:
        if not upstream_model.startswith("arn:"):
            raise ValidationFailed(
                "Bedrock names rerank models by ARN: arn:aws:bedrock:<region>::foundation-model/<model id>",
                param="model",
            )
        configuration: dict[str, Any] = {"modelConfiguration": {"modelArn": upstream_model}}
        if request.top_n is not None:
            configuration["numberOfResults"] = min(request.top_n, len(request.documents))
        body = {
            "queries": [{"type": "TEXT", "textQuery": {"text": request.query}}],
            "sources": [_source(document, request.rank_fields) for document in request.documents],
            "rerankingConfiguration": {
                "type": "BEDROCK_RERANKING_MODEL",
                "bedrockRerankingConfiguration": configuration,
            },
        }
        return orjson.dumps(body)

    def decode_response(self, body: bytes, request: RerankRequest, upstream_model: str) -> RerankResult:
        answer = _Answer.model_validate_json(body)
        scores = [(hit.index, hit.relevance_score) for hit in answer.results]
        queries = -(-len(request.documents) // _DOCUMENTS_PER_QUERY)
        return RerankResult.ranked(request, scores, upstream_model, Usage(searches=queries), None)

    def decode_error(self, body: bytes) -> VendorError | None:
        return bedrock_error(body)

    def decode_error_answer(self, headers: Mapping[str, str], body: bytes) -> VendorError | None:
        return header_error(headers, body)


BEDROCK_RERANK = BedrockRerankWire()
