"""The sandbox's rerank answer: a relevance score from word overlap, in the Jina (Cohere-like) shape.

A document's score is the share of the query's distinct words (lower-cased runs of letters and digits)
that it contains, so tests and examples can predict the order: a document holding every query word
scores 1.0, one holding none 0.0; equal scores keep the documents' order. Documents are strings or
``{"text": ...}`` objects (an ``{"image": ...}`` has no words and scores 0). Usage counts the query
once per document plus each document, in the sandbox's rough tokens.
"""

from __future__ import annotations

import hashlib
import re

import orjson
from pydantic import BaseModel, ValidationError

_WORD = re.compile(r"[^\W_]+")
_JSON = {"content-type": "application/json"}


class _Request(BaseModel):
    model: str
    query: str
    documents: list[str | dict[str, str]]
    top_n: int | None = None
    return_documents: bool = True  # Jina's default


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _text(document: str | dict[str, str]) -> str:
    return document if isinstance(document, str) else document.get("text", "")


def _tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


def rerank(body: bytes) -> tuple[int, bytes]:
    """(status, JSON body) for a rerank request; 400 with an OpenAI-format error when it is not one."""
    try:
        request = _Request.model_validate_json(body)
    except ValidationError as exc:
        message = f"invalid rerank request: {exc.errors()[0]['msg']}"
        return 400, orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None}})
    query = _words(request.query)
    texts = [_text(document) for document in request.documents]
    scores = [round(len(query & _words(text)) / len(query), 4) if query else 0.0 for text in texts]
    order = sorted(range(len(texts)), key=lambda index: -scores[index])[: request.top_n]
    results: list[dict[str, object]] = []
    for index in order:
        result: dict[str, object] = {"index": index, "relevance_score": scores[index]}
        if request.return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    digest = hashlib.sha256(body).hexdigest()[:24]
    tokens = _tokens(request.query) * len(texts) + sum(_tokens(text) for text in texts)
    answer = {"id": f"rerank-sbx{digest}", "model": request.model, "results": results,
              "usage": {"total_tokens": tokens}}
    return 200, orjson.dumps(answer)
