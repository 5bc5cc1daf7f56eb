"""The rerank request and answer: validation, what text-only vendors rank, the answer's order and shape."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api_connector.core.rerank import RerankRequest, RerankResult, document_text
from api_connector.core.usage import Usage


def request(**fields: object) -> RerankRequest:
    return RerankRequest.model_validate({"model": "m", "query": "q", "documents": ["a", "b", "c"], **fields})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "query": "q", "documents": []}, "documents"),
        ({"model": "m", "documents": ["a"]}, "query"),
        ({"model": "m", "query": "", "documents": ["a"]}, "query"),
        ({"query": "q", "documents": ["a"]}, "model"),
        ({"model": "m", "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
        ({"model": "m", "query": "q", "documents": [3]}, "documents.0.str"),
        ({"model": "m", "query": "q", "documents": ["a"], "max_tokens_per_doc": 5}, "max_tokens_per_doc"),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RerankRequest.model_validate(body)
    assert ".".join(str(part) for part in caught.value.errors()[0]["loc"]) == param


def test_document_text_follows_the_documented_rules() -> None:
    assert document_text("plain") == "plain"
    assert document_text({"text": "the text", "id": 7}) == "the text"
    assert document_text({"title": "T", "year": 2024, "tags": ["a"]}) == 'title: T\nyear: 2024\ntags: ["a"]\n'
    assert document_text({"title": "T", "text": "x", "year": 1}, ["year", "title", "absent"]) == "year: 1\ntitle: T\n"
    # A "text" that is not a string is a field like any other.
    assert document_text({"text": {"nested": True}}) == 'text: {"nested":true}\n'


def test_results_are_sorted_cut_and_carry_the_documents_as_sent() -> None:
    documents = ["a", {"text": "b", "id": 2}, "c"]
    asked = request(documents=documents, top_n=2, return_documents=True)
    result = RerankResult.ranked(asked, [(0, 0.1), (1, 0.9), (2, 0.5)], "m1", Usage(input_tokens=5), "id-1")
    assert [(hit.index, hit.relevance_score, hit.document) for hit in result.results] == [
        (1, 0.9, {"text": "b", "id": 2}),
        (2, 0.5, "c"),
    ]
    assert result.answer() == {
        "id": "id-1",
        "model": "m1",
        "results": [
            {"index": 1, "relevance_score": 0.9, "document": {"text": "b", "id": 2}},
            {"index": 2, "relevance_score": 0.5, "document": "c"},
        ],
        "usage": {"search_units": 0, "total_tokens": 5},
    }


def test_without_return_documents_no_document_and_no_id_when_the_vendor_gives_none() -> None:
    result = RerankResult.ranked(request(), [(2, 0.3), (0, 0.3), (1, 0.2)], "m", Usage(searches=1), None)
    answer = result.answer()
    assert "id" not in answer and answer["usage"] == {"search_units": 1, "total_tokens": 0}
    # Equal scores keep the vendor's order.
    assert answer["results"] == [
        {"index": 2, "relevance_score": 0.3},
        {"index": 0, "relevance_score": 0.3},
        {"index": 1, "relevance_score": 0.2},
    ]


@pytest.mark.parametrize("scores", [[(3, 0.5)], [(-1, 0.5)], [(0, 0.5), (0, 0.4)]])
def test_scores_that_do_not_fit_the_request_are_refused(scores: list[tuple[int, float]]) -> None:
    with pytest.raises(ValueError, match="does not fit 3 documents"):
        RerankResult.ranked(request(), scores, "m", Usage(), None)


def test_the_dumped_answer_loads_back() -> None:
    asked = request(documents=["a", {"k": [1, 2]}], return_documents=True)
    result = RerankResult.ranked(asked, [(1, 0.75), (0, 0.25)], "m", Usage(input_tokens=9), "x")
    again = RerankResult.loads(result.dumps(), result.usage)
    assert again == result
