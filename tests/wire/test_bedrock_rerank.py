"""Bedrock Rerank (agent runtime) <-> the gateway's rerank shape."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.rerank import RerankRequest
from api_connector.errors import ValidationFailed
from api_connector.wire.bedrock_rerank import BEDROCK_RERANK
from tests.recorded import RECORDED

ARN = "arn:aws:bedrock:us-west-2::foundation-model/cohere.rerank-v3-5:0"


def _request(**fields: Any) -> RerankRequest:
    return RerankRequest.model_validate({"model": "b/" + ARN, "query": "rain", "documents": ["a", "b"], **fields})


def _encode(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(BEDROCK_RERANK.encode_request(_request(**fields), ARN))
    return body


def test_strings_go_as_text_objects_as_json_and_top_n_as_the_number_of_results() -> None:
    body = _encode(documents=["rainy day", {"title": "Fog", "body": "fog at sea"}], top_n=5)
    assert body == {
        "queries": [{"type": "TEXT", "textQuery": {"text": "rain"}}],
        "sources": [
            {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": "rainy day"}}},
            {"type": "INLINE", "inlineDocumentSource": {"type": "JSON",
                                                        "jsonDocument": {"title": "Fog", "body": "fog at sea"}}},
        ],
        "rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
            # No more results than documents: Bedrock refuses a larger number.
            "modelConfiguration": {"modelArn": ARN}, "numberOfResults": 2,
        }},
    }
    assert "numberOfResults" not in _encode()["rerankingConfiguration"]["bedrockRerankingConfiguration"]


def test_rank_fields_send_objects_as_the_text_of_those_fields() -> None:
    body = _encode(documents=[{"title": "Fog", "body": "fog at sea", "id": 3}], rank_fields=["title", "body"])
    assert body["sources"] == [{"type": "INLINE", "inlineDocumentSource": {
        "type": "TEXT", "textDocument": {"text": "title: Fog\nbody: fog at sea\n"},
    }}]


def test_a_model_that_is_not_an_arn_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="by ARN") as refused:
        BEDROCK_RERANK.encode_request(_request(), "cohere.rerank-v3-5:0")
    assert refused.value.param == "model"


def test_the_recorded_answer_is_ranked_and_billed_per_hundred_documents() -> None:
    body = (RECORDED / "vercel-ai/amazon-bedrock/amazon-bedrock-reranking.1.json").read_bytes()
    request = _request(documents=[f"doc {i}" for i in range(250)], top_n=1)
    result = BEDROCK_RERANK.decode_response(body, request, ARN)
    assert [(hit.index, hit.relevance_score) for hit in result.results] == [(0, 0.5110583305358887)]
    assert (result.model, result.usage.searches, result.usage.input_tokens) == (ARN, 3, 0)
    with pytest.raises(ValueError):
        BEDROCK_RERANK.decode_response(body, _request(), ARN)  # index 5 of two documents


def test_errors_are_bedrocks() -> None:
    said = BEDROCK_RERANK.decode_error_answer(
        {"x-amzn-errortype": "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"},
        b'{"message":"1 validation error detected"}',
    )
    assert said is not None and (said.type, said.message) == ("ValidationException", "1 validation error detected")
