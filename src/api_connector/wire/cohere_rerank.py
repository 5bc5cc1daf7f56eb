"""The Cohere rerank shape (``POST /v2/rerank``), which Jina and Together (and the sandbox) share.

Request ``{model, query, documents, top_n?}``; answer ``{id?, model?, results: [{index,
relevance_score, document?}], meta?: {billed_units: {search_units}}, usage?: {total_tokens}}``. The
three vendors differ only in data, so one class serves them, told per instance:

- which caller objects the vendor takes as they are: none (Cohere: strings only), Jina's own
  ``{"text"}`` / ``{"image"}`` objects, or any object (Together). Other objects go as the text
  ``core.rerank.document_text`` makes of them; when some document goes as an object, strings go as
  ``{"text": ...}`` so the list is of one kind;
- whether the vendor is told ``rank_fields`` (Together). A vendor that cannot be told gets every
  object as text when the caller names rank fields, so the same fields are ranked everywhere;
- whether to send ``return_documents: false`` (Jina returns documents unless told not to, Together
  takes the flag; Cohere v2 has no such field). The caller's documents are attached by the gateway,
  as they were sent, so the vendor never needs to send them back.

Usage is what the vendor bills: Cohere's search units, or the others' tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from api_connector.core.rerank import RerankRequest, RerankResult, document_text
from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.vendor_errors import decode_vendor_error

# Which caller objects a vendor takes as they are (None: none of them).
ObjectTest = Callable[[dict[str, Any]], bool]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ScoredDocument(_Lenient):
    """One result as every rerank vendor writes it (the document, if sent back, is not read)."""

    index: int
    relevance_score: float


class _BilledUnits(_Lenient):
    search_units: int = 0


class _Meta(_Lenient):
    billed_units: _BilledUnits | None = None


class TokenUsage(_Lenient):
    total_tokens: int = 0
    prompt_tokens: int = 0

    @property
    def tokens(self) -> int:
        return self.total_tokens or self.prompt_tokens


class _Answer(_Lenient):
    id: str | None = None
    model: str | None = None
    results: list[ScoredDocument]
    meta: _Meta | None = None
    usage: TokenUsage | None = None

    def billed(self) -> Usage:
        units = self.meta.billed_units if self.meta is not None else None
        searches = units.search_units if units is not None else 0
        return Usage(input_tokens=self.usage.tokens if self.usage is not None else 0, searches=searches)


def any_object(document: dict[str, Any]) -> bool:
    return True


def jina_object(document: dict[str, Any]) -> bool:
    """Jina's own document objects: one text, or one image (a URL or base64), as its reranker takes."""
    return len(document) == 1 and any(isinstance(document.get(key), str) for key in ("text", "image"))


class CohereRerankWire:
    def __init__(
        self, name: str, *, objects: ObjectTest | None = None, rank_fields: bool = False, no_documents: bool = False
    ) -> None:
        self.name = name
        self._objects = objects
        self._rank_fields = rank_fields
        self._no_documents = no_documents

    def encode_request(self, request: RerankRequest, upstream_model: str) -> bytes:
        documents, rank_fields = self.documents(request)
        body: dict[str, Any] = {"model": upstream_model, "query": request.query, "documents": documents}
        if request.top_n is not None:
            body["top_n"] = request.top_n
        if rank_fields:
            body["rank_fields"] = rank_fields
        if self._no_documents:
            body["return_documents"] = False
        return orjson.dumps(body)

    def documents(self, request: RerankRequest) -> tuple[list[Any], list[str] | None]:
        """The documents as this vendor takes them, and the rank fields to name (if it is told any)."""
        takes = self._objects
        if takes is None or (request.rank_fields and not self._rank_fields):
            return request.texts(), None
        sent: list[Any] = [
            document if isinstance(document, dict) and takes(document) else document_text(document, request.rank_fields)
            for document in request.documents
        ]
        if all(isinstance(document, str) for document in sent):
            return sent, None
        sent = [document if isinstance(document, dict) else {"text": document} for document in sent]
        if not self._rank_fields:
            return sent, None
        # Unnamed, an object's "text" is what is ranked when every object has one (as for text-only
        # vendors); otherwise the vendor ranks all fields.
        if request.rank_fields:
            return sent, request.rank_fields
        return sent, ["text"] if all(isinstance(document.get("text"), str) for document in sent) else None

    def decode_response(self, body: bytes, request: RerankRequest, upstream_model: str) -> RerankResult:
        answer = _Answer.model_validate_json(body)
        scores = [(hit.index, hit.relevance_score) for hit in answer.results]
        return RerankResult.ranked(request, scores, answer.model or upstream_model, answer.billed(), answer.id)

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_vendor_error(body)


COHERE_RERANK = CohereRerankWire("cohere_rerank")
JINA_RERANK = CohereRerankWire("jina_rerank", objects=jina_object, no_documents=True)
TOGETHER_RERANK = CohereRerankWire("together_rerank", objects=any_object, rank_fields=True, no_documents=True)
