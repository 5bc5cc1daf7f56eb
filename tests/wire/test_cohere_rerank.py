"""The Cohere rerank shape and the vendors that share it (Jina, Together), on recorded and documented answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from api_connector.core.rerank import RerankRequest
from api_connector.wire.cohere_rerank import COHERE_RERANK, JINA_RERANK, TOGETHER_RERANK
from tests.recorded import RECORDED, load_cassette

DOCUMENTED = Path(__file__).parents[1] / "data" / "documented"
RERANK_FIXTURES = RECORDED / "vercel-ai"


def rerank(**fields: Any) -> RerankRequest:
    return RerankRequest.model_validate({"model": "m", "query": "q", **fields})


def fixture(name: str) -> bytes:
    return (RERANK_FIXTURES / name).read_bytes()


# -- Cohere v2 -------------------------------------------------------------------------------------


def test_cohere_request_is_the_recorded_one() -> None:
    (interaction,) = load_cassette("cohere/test_langchain_cohere_rerank_documents.yaml")
    recorded = interaction.request.body
    request = rerank(query=recorded["query"], documents=recorded["documents"], top_n=recorded["top_n"])
    sent = orjson.loads(COHERE_RERANK.encode_request(request, "rerank-v3.5"))
    # max_tokens_per_doc: null is the client's default, which Cohere applies when it is left out.
    assert sent == {key: value for key, value in recorded.items() if key != "max_tokens_per_doc"}


def test_cohere_object_documents_go_as_the_recorded_text() -> None:
    (interaction,) = load_cassette("cohere/test_langchain_cohere_rerank_with_rank_fields.yaml")
    documents = [{"content": "This document is about Penguins."}, {"content": "This document is about Physics."}]
    request = rerank(query="penguins", documents=documents, top_n=3, rank_fields=["content"])
    sent = orjson.loads(COHERE_RERANK.encode_request(request, "rerank-v3.5"))
    assert sent["documents"] == interaction.request.body["documents"]
    assert "rank_fields" not in sent and "return_documents" not in sent


def test_cohere_recorded_answer() -> None:
    (interaction,) = load_cassette("cohere/test_langchain_cohere_rerank_documents.yaml")
    request = rerank(documents=["This is a test document.", "Another test document."], top_n=3)
    result = COHERE_RERANK.decode_response(interaction.response.body, request, "rerank-v3.5")
    assert result.id == "4174a27b-ad53-477f-a667-9ded674ec807" and result.model == "rerank-v3.5"
    assert [(hit.index, hit.relevance_score) for hit in result.results] == [(0, 0.10415817), (1, 0.0872602)]
    assert (result.usage.searches, result.usage.input_tokens) == (1, 0)


def test_cohere_answer_out_of_order_is_sorted() -> None:
    result = COHERE_RERANK.decode_response(fixture("cohere-reranking.1.json"), rerank(documents=["a", "b"]), "m")
    assert [hit.index for hit in result.results] == [1, 0] and result.usage.searches == 1
    assert result.id == "b44fe75b-e3d3-489a-b61e-1a1aede3ef72"


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        (b'{"id":"x","message":"invalid request: list of documents must not be empty"}',
         "invalid request: list of documents must not be empty", None),
        (b'{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}',
         "Invalid API key", None),
        (b'{"detail":"Model not found"}', "Model not found", None),
        (b'{"detail":[{"loc":["body","query"],"msg":"Field required","type":"missing"}]}',
         "query: Field required", "query"),
    ],
)
def test_vendor_errors_are_read(body: bytes, message: str, param: str | None) -> None:
    said = COHERE_RERANK.decode_error(body)
    assert said is not None and (said.message, said.param) == (message, param)


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b'{"unrelated": 1}', b"[]"])
def test_bodies_that_are_no_error_shape_say_nothing(body: bytes) -> None:
    assert COHERE_RERANK.decode_error(body) is None


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"results": "nope"}', b'{"results": [{"index": "a", "relevance_score": 1}]}', b"{}"],
)
def test_bodies_that_are_not_answers_are_refused(body: bytes) -> None:
    with pytest.raises(ValidationError):
        COHERE_RERANK.decode_response(body, rerank(documents=["a"]), "m")


def test_an_index_past_the_documents_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        COHERE_RERANK.decode_response(fixture("cohere-reranking.1.json"), rerank(documents=["only one"]), "m")


# -- Jina ------------------------------------------------------------------------------------------


def jina_documented() -> dict[str, Any]:
    documented: dict[str, Any] = json.loads((DOCUMENTED / "jina" / "rerank.json").read_text("utf-8"))
    return documented


def test_jina_request_is_the_documented_one_without_documents_back() -> None:
    example = jina_documented()["request"]
    request = rerank(**{key: value for key, value in example.items() if key != "model"})
    sent = orjson.loads(JINA_RERANK.encode_request(request, example["model"]))
    assert sent == {**example, "return_documents": False}


def test_jina_documented_answer() -> None:
    documented = jina_documented()
    request = RerankRequest.model_validate(documented["request"])
    result = JINA_RERANK.decode_response(orjson.dumps(documented["response"]), request, "unused")
    assert result.model == "jina-reranker-v2-base-multilingual" and result.id is None
    assert [(hit.index, hit.relevance_score) for hit in result.results] == [
        (0, 0.8783142566680908),
        (2, 0.7624675869941711),
    ]
    assert (result.usage.input_tokens, result.usage.searches) == (815, 0)
    assert all(hit.document is None for hit in result.results), "documents only when the caller asks"


def test_jina_takes_its_own_objects_and_text_for_the_rest() -> None:
    documents = ["plain", {"image": "https://example.com/a.png"}, {"title": "T", "body": "B"}, {"text": "t"}]
    documents_sent, rank_fields = JINA_RERANK.documents(rerank(documents=documents))
    assert documents_sent == [
        {"text": "plain"},
        {"image": "https://example.com/a.png"},
        {"text": "title: T\nbody: B\n"},
        {"text": "t"},
    ]
    assert rank_fields is None
    # Jina cannot be told rank fields: with them named, every document goes as the text they make.
    texts, _ = JINA_RERANK.documents(rerank(documents=[{"text": "t", "k": "v"}, "s"], rank_fields=["k"]))
    assert texts == ["k: v\n", "s"]
    assert JINA_RERANK.documents(rerank(documents=["a", "b"])) == (["a", "b"], None)


# -- Together --------------------------------------------------------------------------------------


def test_together_sends_objects_with_their_rank_fields() -> None:
    documents = [{"example": "sunny day at the beach"}, {"example": "rainy day in the city"}]
    request = rerank(query="rainy day", documents=documents, top_n=2, rank_fields=["example"])
    sent = orjson.loads(TOGETHER_RERANK.encode_request(request, "Salesforce/Llama-Rank-v1"))
    assert sent == {
        "model": "Salesforce/Llama-Rank-v1",
        "query": "rainy day",
        "documents": documents,
        "top_n": 2,
        "rank_fields": ["example"],
        "return_documents": False,
    }


def test_together_ranks_the_text_field_unless_told_otherwise() -> None:
    sent, fields = TOGETHER_RERANK.documents(rerank(documents=[{"text": "a", "id": 1}, "b"]))
    assert (sent, fields) == ([{"text": "a", "id": 1}, {"text": "b"}], ["text"])
    sent, fields = TOGETHER_RERANK.documents(rerank(documents=[{"title": "a"}, {"text": "b"}]))
    assert fields is None, "objects without a text are ranked on all their fields"
    assert TOGETHER_RERANK.documents(rerank(documents=["a", "b"])) == (["a", "b"], None)


def test_together_recorded_answer() -> None:
    request = rerank(documents=[f"document {i}" for i in range(6)], return_documents=True)
    result = TOGETHER_RERANK.decode_response(fixture("togetherai-reranking.1.json"), request, "unused")
    assert result.id == "oGs6Zt9-62bZhn-99529372487b1b0a" and result.model == "Salesforce/Llama-Rank-v1"
    assert [(hit.index, hit.relevance_score, hit.document) for hit in result.results] == [
        (0, 0.6475887154399037, "document 0"),
        (5, 0.6323295373206566, "document 5"),
    ]
    assert result.usage.input_tokens == 2966
