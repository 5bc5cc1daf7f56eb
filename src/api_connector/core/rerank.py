"""Rerank: documents ordered by their relevance to a query, in the gateway's own shape.

A caller sends ``{model, query, documents, top_n?, return_documents?, rank_fields?}``; a document is a
string or a JSON object. Vendors differ in what they take (Cohere and Voyage take strings only, Jina
strings or its ``{text}`` / ``{image}`` objects, Together strings or any objects with ``rank_fields``),
so an object goes to a text-only vendor as the text ``document_text`` makes of it:

- with ``rank_fields``: those fields, one ``name: value`` line each (the YAML-like form Cohere
  recommends for structured documents; values that are not strings as compact JSON);
- else, when it has a string ``text`` field: that text (the other fields are the caller's metadata);
- else: every field, one ``name: value`` line each, in the object's order.

The answer is ``{id?, model, results: [{index, relevance_score, document?}], usage}``: results sorted by
score (highest first) and cut to ``top_n``, each ``document`` exactly as the caller sent it, and only
when asked; ``usage`` says what the vendor billed, in searches (Cohere's search units) and tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from api_connector.core.usage import Usage

Document = str | dict[str, Any]


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="A route, '<provider instance>/<model>', or a listed model")
    query: str = Field(min_length=1)
    documents: list[Document] = Field(
        min_length=1, description="Strings, or JSON objects (ranked on their 'text' field, or on rank_fields)"
    )
    top_n: int | None = Field(None, ge=1, description="Return only this many results, the most relevant")
    return_documents: bool = Field(False, description="Give each result its document, as it was sent")
    rank_fields: list[str] | None = Field(
        None, min_length=1, description="Which fields of object documents are ranked (default: 'text', else all)"
    )

    def texts(self) -> list[str]:
        """Every document as the text a text-only vendor ranks."""
        return [document_text(document, self.rank_fields) for document in self.documents]


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def document_text(document: Document, rank_fields: list[str] | None = None) -> str:
    """What is ranked of ``document`` when a vendor takes text only (see the module's docstring)."""
    if isinstance(document, str):
        return document
    if rank_fields:
        fields = [(name, document[name]) for name in rank_fields if name in document]
    else:
        text = document.get("text")
        if isinstance(text, str):
            return text
        fields = list(document.items())
    return "".join(f"{name}: {_value_text(value)}\n" for name, value in fields)


@dataclass(slots=True)
class RerankHit:
    index: int  # the document's position in the request
    relevance_score: float
    document: Document | None = None  # only when the caller asked for documents back


@dataclass(slots=True)
class RerankResult:
    model: str
    results: list[RerankHit]
    usage: Usage
    id: str | None = None

    @classmethod
    def ranked(
        cls, request: RerankRequest, scores: list[tuple[int, float]], model: str, usage: Usage, id: str | None
    ) -> RerankResult:
        """The vendor's scores in the answer's order: sorted, cut to ``top_n``, documents attached.

        Raises ValueError when the scores do not fit the request (an index out of range or repeated):
        such an answer is not an answer to this request.
        """
        count = len(request.documents)
        seen: set[int] = set()
        for index, _ in scores:
            if not 0 <= index < count or index in seen:
                raise ValueError(f"result index {index} does not fit {count} documents")
            seen.add(index)
        # Stable sort: equal scores keep the vendor's order.
        ordered = sorted(scores, key=lambda pair: -pair[1])
        if request.top_n is not None:
            ordered = ordered[: request.top_n]
        documents = request.documents if request.return_documents else None
        hits = [RerankHit(index, score, documents[index] if documents else None) for index, score in ordered]
        return cls(model, hits, usage, id)

    def answer(self) -> dict[str, Any]:
        """The answer as the caller gets it (JSON data)."""
        results: list[dict[str, Any]] = []
        for hit in self.results:
            item: dict[str, Any] = {"index": hit.index, "relevance_score": hit.relevance_score}
            if hit.document is not None:
                item["document"] = hit.document
            results.append(item)
        body: dict[str, Any] = {"id": self.id} if self.id is not None else {}
        body["model"] = self.model
        body["results"] = results
        body["usage"] = {"search_units": self.usage.searches, "total_tokens": self.usage.input_tokens}
        return body

    def dumps(self) -> bytes:
        return orjson.dumps(self.answer())

    @classmethod
    def loads(cls, raw: bytes, usage: Usage) -> RerankResult:
        """The inverse of ``dumps`` (the cache keeps answers so), with the usage kept beside it."""
        answer = RerankAnswer.model_validate_json(raw)
        hits = [RerankHit(item.index, item.relevance_score, item.document) for item in answer.results]
        return cls(answer.model, hits, usage, answer.id)


class RerankAnswerItem(BaseModel):
    index: int
    relevance_score: float
    document: Document | None = None


class RerankAnswerUsage(BaseModel):
    search_units: int = Field(0, description="Searches billed (Cohere); 0 when the vendor bills tokens")
    total_tokens: int = Field(0, description="Tokens billed; 0 when the vendor bills searches")


class RerankAnswer(BaseModel):
    """The answer's schema (``RerankResult.answer``), for reading it back and for the API's document."""

    id: str | None = None
    model: str
    results: list[RerankAnswerItem]
    usage: RerankAnswerUsage
