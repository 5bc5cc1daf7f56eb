"""Voyage AI rerank, on its recorded answer."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.rerank import RerankRequest
from api_connector.wire.voyage_rerank import VOYAGE_RERANK
from tests.recorded import RECORDED

ANSWER = (RECORDED / "vercel-ai" / "voyage-reranking.1.json").read_bytes()


def rerank(**fields: Any) -> RerankRequest:
    return RerankRequest.model_validate({"model": "m", "query": "rainy day", **fields})


def test_request_names_top_k_and_sends_text_only() -> None:
    documents = [{"example": "sunny day at the beach"}, "rainy day in the city"]
    sent = orjson.loads(VOYAGE_RERANK.encode_request(rerank(documents=documents, top_n=2), "rerank-2.5"))
    assert sent == {
        "query": "rainy day",
        "documents": ["example: sunny day at the beach\n", "rainy day in the city"],
        "model": "rerank-2.5",
        "top_k": 2,
    }
    assert "top_k" not in orjson.loads(VOYAGE_RERANK.encode_request(rerank(documents=["a"]), "rerank-2.5"))


def test_recorded_answer() -> None:
    request = rerank(documents=["sunny day at the beach", "rainy day in the city"], return_documents=True)
    result = VOYAGE_RERANK.decode_response(ANSWER, request, "unused")
    assert result.model == "rerank-2.5" and result.id is None
    assert [(hit.index, hit.relevance_score, hit.document) for hit in result.results] == [
        (1, 0.5703125, "rainy day in the city"),
        (0, 0.255859375, "sunny day at the beach"),
    ]
    assert (result.usage.input_tokens, result.usage.searches) == (12, 0)


def test_top_n_is_honoured_even_when_the_answer_has_more() -> None:
    result = VOYAGE_RERANK.decode_response(ANSWER, rerank(documents=["a", "b"], top_n=1), "unused")
    assert [hit.index for hit in result.results] == [1]


def test_error_detail_is_read() -> None:
    said = VOYAGE_RERANK.decode_error(b'{"detail":"The request body is not valid JSON."}')
    assert said is not None and said.message == "The request body is not valid JSON."


def test_a_cohere_shaped_body_is_not_a_voyage_answer() -> None:
    cohere_shaped = b'{"results": [{"index": 0, "relevance_score": 1.0}]}'
    with pytest.raises(ValueError):
        VOYAGE_RERANK.decode_response(cohere_shaped, rerank(documents=["a"]), "m")
