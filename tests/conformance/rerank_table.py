"""The rerank conformance table: each recorded (or documented) rerank answer, the request a caller
sends for it, what the vendor must receive, and what the caller must get back.

Cassettes hold the request the vendor received: ``upstream`` is then None and the recorded body is
compared, minus the fields a caller's rerank request cannot express (``not_in_our_shape``). Answers
kept without their request (vercel-ai's fixtures) and the documented Jina example say in ``upstream``
what the vendor must receive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tests.recorded import RECORDED, Interaction, RecordedRequest, RecordedResponse, load_cassette

DOCUMENTED = Path(__file__).parents[1] / "data" / "documented"
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class RerankCase:
    id: str
    provider: str  # a key of REGISTRY
    source: str  # below tests/data/recorded, or "documented/..." below tests/data/documented
    request: dict[str, Any]  # what the caller posts to /v1/rerank; "model" without the instance prefix
    answer: dict[str, Any]  # what the caller must get back
    upstream: dict[str, Any] | None = None  # what the vendor must receive; None: the recorded request
    not_in_our_shape: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        if self.source.startswith("documented/"):
            return DOCUMENTED / self.source.removeprefix("documented/")
        return RECORDED / self.source

    def interactions(self, uri: str) -> list[Interaction]:
        """The recorded answers, served on ``uri`` (the vendor's rerank URL)."""
        if self.path.suffix == ".yaml":
            return load_cassette(self.path)
        raw = json.loads(self.path.read_text("utf-8"))
        body = raw["response"] if self.source.startswith("documented/") else raw
        return [Interaction(RecordedRequest("POST", uri), RecordedResponse(200, orjson.dumps(body), _JSON))]


PENGUINS = [{"content": "This document is about Penguins."}, {"content": "This document is about Physics."}]
DAYS = ["sunny day at the beach", "rainy day in the city"]
# Together's recorded answer ranks documents 0 and 5 of at least six.
WEATHER = [{"example": text} for text in (*DAYS, "snow in the mountains", "fog at sea", "wind", "rainy night")]
JINA_QUERY = "Organic skincare products for sensitive skin"
JINA_DOCS = [
    "Organic skincare for sensitive skin with aloe vera and chamomile...",
    "New makeup trends focus on bold colors and innovative techniques...",
    "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille...",
]

RERANK_CASES: tuple[RerankCase, ...] = (
    RerankCase(
        "cohere-strings",
        "cohere",
        "cohere/test_langchain_cohere_rerank_documents.yaml",
        {"model": "rerank-v3.5", "query": "Test query", "documents": ["This is a test document.",
                                                                       "Another test document."], "top_n": 3},
        {
            "id": "4174a27b-ad53-477f-a667-9ded674ec807",
            "model": "rerank-v3.5",
            "results": [{"index": 0, "relevance_score": 0.10415817}, {"index": 1, "relevance_score": 0.0872602}],
            "usage": {"search_units": 1, "total_tokens": 0},
        },
        not_in_our_shape=("max_tokens_per_doc",),
    ),
    RerankCase(
        "cohere-objects-rank-fields",
        "cohere",
        "cohere/test_langchain_cohere_rerank_with_rank_fields.yaml",
        {"model": "rerank-v3.5", "query": "penguins", "documents": PENGUINS, "top_n": 3,
         "rank_fields": ["content"], "return_documents": True},
        {
            "id": "d5a5c46f-6ac7-41ce-9c05-47b19add8ce8",
            "model": "rerank-v3.5",
            "results": [
                {"index": 0, "relevance_score": 0.54594, "document": PENGUINS[0]},
                {"index": 1, "relevance_score": 0.028374104, "document": PENGUINS[1]},
            ],
            "usage": {"search_units": 1, "total_tokens": 0},
        },
        not_in_our_shape=("max_tokens_per_doc",),
    ),
    RerankCase(
        "cohere-answer-out-of-order",
        "cohere",
        "vercel-ai/cohere-reranking.1.json",
        {"model": "rerank-v3.5", "query": "rainy day", "documents": DAYS, "top_n": 2},
        {
            "id": "b44fe75b-e3d3-489a-b61e-1a1aede3ef72",
            "model": "rerank-v3.5",
            "results": [{"index": 1, "relevance_score": 0.10183054}, {"index": 0, "relevance_score": 0.03762639}],
            "usage": {"search_units": 1, "total_tokens": 0},
        },
        upstream={"model": "rerank-v3.5", "query": "rainy day", "documents": DAYS, "top_n": 2},
    ),
    RerankCase(
        "voyage-text",
        "voyage",
        "vercel-ai/voyage-reranking.1.json",
        {"model": "rerank-2.5", "query": "rainy day", "documents": DAYS, "top_n": 2, "return_documents": True},
        {
            "model": "rerank-2.5",
            "results": [
                {"index": 1, "relevance_score": 0.5703125, "document": DAYS[1]},
                {"index": 0, "relevance_score": 0.255859375, "document": DAYS[0]},
            ],
            "usage": {"search_units": 0, "total_tokens": 12},
        },
        upstream={"query": "rainy day", "documents": DAYS, "model": "rerank-2.5", "top_k": 2},
    ),
    RerankCase(
        "together-objects",
        "together",
        "vercel-ai/togetherai-reranking.1.json",
        {"model": "Salesforce/Llama-Rank-v1", "query": "rainy day", "documents": WEATHER, "top_n": 2,
         "rank_fields": ["example"], "return_documents": True},
        {
            "id": "oGs6Zt9-62bZhn-99529372487b1b0a",
            "model": "Salesforce/Llama-Rank-v1",
            "results": [
                {"index": 0, "relevance_score": 0.6475887154399037, "document": WEATHER[0]},
                {"index": 5, "relevance_score": 0.6323295373206566, "document": WEATHER[5]},
            ],
            "usage": {"search_units": 0, "total_tokens": 2966},
        },
        upstream={"model": "Salesforce/Llama-Rank-v1", "query": "rainy day", "documents": WEATHER, "top_n": 2,
                  "rank_fields": ["example"], "return_documents": False},
    ),
    RerankCase(
        "jina-documented",
        "jina",
        "documented/jina/rerank.json",
        {"model": "jina-reranker-v2-base-multilingual", "query": JINA_QUERY, "top_n": 3, "documents": JINA_DOCS},
        {
            "model": "jina-reranker-v2-base-multilingual",
            "results": [
                {"index": 0, "relevance_score": 0.8783142566680908},
                {"index": 2, "relevance_score": 0.7624675869941711},
            ],
            "usage": {"search_units": 0, "total_tokens": 815},
        },
        upstream={"model": "jina-reranker-v2-base-multilingual", "query": JINA_QUERY, "documents": JINA_DOCS,
                  "top_n": 3, "return_documents": False},
    ),
)

# -- AWS Bedrock (agent runtime), signed with SigV4: vercel-ai's recorded answer, kept without its request.

BEDROCK_MODEL = "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0"


def _bedrock_source(document: Any) -> dict[str, Any]:
    if isinstance(document, dict):
        return {"type": "INLINE", "inlineDocumentSource": {"type": "JSON", "jsonDocument": document}}
    return {"type": "INLINE", "inlineDocumentSource": {"type": "TEXT", "textDocument": {"text": document}}}


# The answer ranks documents 0 and 5 of at least six; strings and objects may be mixed.
BEDROCK_DOCUMENTS: list[Any] = [*DAYS, "snow in the mountains", {"text": "fog at sea", "id": 4}, "wind", "rainy night"]

RERANK_CASES = (*RERANK_CASES, RerankCase(
    "bedrock-agent-text-and-json",
    "bedrock_agent",
    "vercel-ai/amazon-bedrock/amazon-bedrock-reranking.1.json",
    {"model": BEDROCK_MODEL, "query": "rainy day", "documents": BEDROCK_DOCUMENTS, "top_n": 2,
     "return_documents": True},
    {
        "model": BEDROCK_MODEL,
        "results": [
            {"index": 0, "relevance_score": 0.5110583305358887, "document": DAYS[0]},
            {"index": 5, "relevance_score": 0.30241215229034424, "document": "rainy night"},
        ],
        # One query of up to 100 documents: what Bedrock bills.
        "usage": {"search_units": 1, "total_tokens": 0},
    },
    upstream={
        "queries": [{"type": "TEXT", "textQuery": {"text": "rainy day"}}],
        "sources": [_bedrock_source(document) for document in BEDROCK_DOCUMENTS],
        "rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL", "bedrockRerankingConfiguration": {
            "modelConfiguration": {"modelArn": BEDROCK_MODEL}, "numberOfResults": 2,
        }},
    },
))
