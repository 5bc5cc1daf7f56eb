"""OpenAI embeddings (``POST /embeddings``) and the vendors that answer in its shape.

OpenAI and Azure OpenAI are the shape itself; Voyage, Jina, Mistral, Ollama (its ``/v1`` routes),
Together and other OpenAI-compatible servers answer ``{data: [{index, embedding}], model, usage}`` too
but name some request fields their own way. Those differences are data (``OpenAIEmbeddingsWire``'s
fields), one instance per variant below:

- ``dimensions``: the field that asks for shorter vectors (Voyage and Mistral: ``output_dimension``);
- ``input_type``: where the request's input-type hint goes (Voyage ``input_type``, Jina ``task``) and the
  vendor's words for the neutral ``query`` / ``document``; vendors without one never see the hint;
- ``base64``: whether to ask for base64 vectors (float32, exact and a third smaller than JSON floats);
  only where the vendor documents it, floats elsewhere;
- ``tokens``: whether token arrays are accepted (OpenAI's own models); others are passed over for them;
- ``passthrough``: whether ``user`` and fields the gateway does not know are forwarded as the caller sent
  them (OpenAI, Azure and generic compatible servers; vendors that refuse unknown fields get none).

Errors: OpenAI's ``{"error": {...}}``, FastAPI's ``{"detail": ...}`` (Voyage, Jina) and Mistral's flat
``{"object": "error", "message", "type", "code"}`` are all read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.core.embeddings import (
    EmbeddingsRequest,
    EmbeddingsResult,
    Item,
    estimate_all,
    from_base64,
    pack,
)
from api_connector.core.usage import Usage
from api_connector.wire.base import VendorError
from api_connector.wire.openai_chat import decode_openai_error
from api_connector.wire.openai_float_answer import read_float_answer


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Embedding(_Lenient):
    index: int | None = None  # OpenAI always says; a compatible server that does not keeps the order
    embedding: list[float] | str  # floats, or base64 float32 when asked


class _Usage(_Lenient):
    prompt_tokens: int | None = None
    total_tokens: int | None = None  # Voyage reports only this one


class _Answer(_Lenient):
    data: list[_Embedding]
    model: str = ""
    usage: _Usage | None = None


class _Problem(_Lenient):
    msg: str = ""
    loc: list[str | int] = []


class _Detail(_Lenient):
    detail: str | list[_Problem]


class _Flat(_Lenient):
    message: str | dict[str, Any] | list[Any]
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


def decode_error(body: bytes) -> VendorError | None:
    """The error body of any vendor of this shape, or None when it is none of theirs."""
    found = decode_openai_error(body)
    if found is not None:
        return found
    try:
        detail = _Detail.model_validate_json(body).detail
    except ValidationError:
        pass
    else:
        if isinstance(detail, str):
            return VendorError(message=detail)
        return VendorError(message="; ".join(f"{'.'.join(map(str, p.loc))}: {p.msg}" for p in detail))
    try:
        flat = _Flat.model_validate_json(body)
    except ValidationError:
        return None
    message = flat.message if isinstance(flat.message, str) else orjson.dumps(flat.message).decode()
    code = str(flat.code) if flat.code is not None else None
    return VendorError(message=message, type=flat.type, code=code, param=flat.param)


def _input_tokens(usage: _Usage | None) -> int | None:
    if usage is None:
        return None
    return usage.prompt_tokens if usage.prompt_tokens is not None else usage.total_tokens


def _frozen(mapping: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class OpenAIEmbeddingsWire:
    name: str
    dimensions: str = "dimensions"
    input_type: str | None = None
    input_types: Mapping[str, str] = field(default_factory=_frozen)  # neutral word -> the vendor's
    base64: bool = False
    tokens: bool = False
    passthrough: bool = False

    def encode_request(self, request: EmbeddingsRequest, upstream_model: str) -> bytes:
        items: list[Item] = request.items() if self.tokens else list(request.texts(self.name))
        body: dict[str, Any] = request.extras() if self.passthrough else {}
        body["model"] = upstream_model
        body["input"] = items
        if self.passthrough and request.user is not None:
            body["user"] = request.user
        if request.dimensions is not None:
            body[self.dimensions] = request.dimensions
        if self.input_type is not None and request.input_type is not None:
            body[self.input_type] = self.input_types.get(request.input_type, request.input_type)
        if self.base64:
            body["encoding_format"] = "base64"
        return orjson.dumps(body)

    def decode_response(self, body: bytes, request: EmbeddingsRequest) -> EmbeddingsResult:
        items = request.items()
        if not self.base64:
            # The usual float answer keeps each vector's array as written (see openai_float_answer).
            plain = read_float_answer(body, len(items))
            if plain is not None:
                if plain.tokens is None:  # some compatible servers leave usage out: estimated, and said so
                    usage, estimated = Usage(input_tokens=estimate_all(items)), True
                else:
                    usage, estimated = Usage(input_tokens=plain.tokens), False
                return EmbeddingsResult(None, plain.model, usage, estimated, texts=plain.texts, floats=plain.floats)
        answer = _Answer.model_validate_json(body)
        ordered = sorted(
            ((i if entry.index is None else entry.index, entry.embedding) for i, entry in enumerate(answer.data)),
            key=lambda pair: pair[0],
        )
        if [index for index, _ in ordered] != list(range(len(items))):
            raise ValueError(f"expected {len(items)} embeddings indexed from 0, got {len(ordered)}")
        vectors = [from_base64(value) if isinstance(value, str) else pack(value) for _, value in ordered]
        tokens = _input_tokens(answer.usage)
        if tokens is None:  # some compatible servers leave usage out: estimated, and said so
            return EmbeddingsResult(vectors, answer.model, Usage(input_tokens=estimate_all(items)), True)
        return EmbeddingsResult(vectors, answer.model, Usage(input_tokens=tokens))

    def decode_error(self, body: bytes) -> VendorError | None:
        return decode_error(body)


# OpenAI and Azure OpenAI: base64 and token arrays are documented; unknown fields are OpenAI's to judge.
OPENAI_EMBEDDINGS = OpenAIEmbeddingsWire("openai_embeddings", base64=True, tokens=True, passthrough=True)
# Any OpenAI-compatible server (vLLM, LM Studio, Together, Ollama's /v1): floats, the only encoding
# every one of them documents; the caller's fields pass through, the server judges token arrays.
COMPATIBLE_EMBEDDINGS = OpenAIEmbeddingsWire("openai_compatible_embeddings", tokens=True, passthrough=True)
# Voyage: base64 answers are documented (and recorded); input_type is query / document.
VOYAGE_EMBEDDINGS = OpenAIEmbeddingsWire(
    "voyage_embeddings",
    dimensions="output_dimension",
    input_type="input_type",
    base64=True,
)
# Jina: the input type is its ``task`` (jina-embeddings-v3's retrieval adapters).
JINA_EMBEDDINGS = OpenAIEmbeddingsWire(
    "jina_embeddings",
    input_type="task",
    input_types=_frozen({"query": "retrieval.query", "document": "retrieval.passage"}),
)
# Mistral: output_dimension (codestral-embed); it refuses fields it does not know.
MISTRAL_EMBEDDINGS = OpenAIEmbeddingsWire("mistral_embeddings", dimensions="output_dimension")
