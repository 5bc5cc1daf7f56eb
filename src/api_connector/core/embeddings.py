"""Embeddings: the OpenAI ``/v1/embeddings`` request, typed, and its result as float32 vectors.

A request's inputs are its items (a text, or a token array), always handled as a list so a request can
be split into batches, narrowed to the items the cache lacks, and merged back in order. Vectors are
kept as little-endian float32 bytes: what the vendors compute in, exactly what OpenAI's base64 answers
carry, and a quarter of their JSON's size in the cache. The encoding a caller asked for (``float`` or
``base64``) changes only how the answer is written, never which vector it holds.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from typing import Annotated, Any, Literal, cast

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic_core import PydanticCustomError

from api_connector.core.usage import Usage
from api_connector.errors import CapabilityUnsupported

# Batching lets the gateway take more inputs than one vendor call carries; this bound keeps a single
# request's fan-out (a few batches) and its cache lookups small.
MAX_INPUTS = 10_000
MAX_DIMENSIONS = 16_384

Text = Annotated[str, StringConstraints(min_length=1)]
Tokens = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
Item = str | list[int]
# A vector's JSON array as the vendor wrote it: bytes, or a view of the answer it came in (not copied).
Written = bytes | memoryview


class EmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request, plus input_type: a hint (query or document, or the vendor's own value)
    that vendors with such a notion (Cohere, Voyage, Jina, Gemini) are given and the others ignore.
    Other fields a caller sends are kept and forwarded to OpenAI-shaped upstreams as they are."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: (
        Text
        | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)]
        | Tokens
        | Annotated[list[Tokens], Field(min_length=1, max_length=MAX_INPUTS)]
    )
    encoding_format: Literal["float", "base64"] = "float"
    # No vendor's model goes past 4096 today; the bound keeps a typo from asking for a huge vector.
    dimensions: int | None = Field(None, ge=1, le=MAX_DIMENSIONS)
    user: str | None = None
    input_type: str | None = Field(None, min_length=1)

    @field_validator("input", mode="wrap")
    @classmethod
    def _one_clear_problem(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Four shapes are allowed: say so once, rather than why the value fits none of them.
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                "embeddings_input",
                "must be a non-empty text, a list of non-empty texts, an array of token ids, or a list of "
                "token arrays (at most {most} inputs)",
                {"most": MAX_INPUTS},
            ) from None

    def items(self) -> list[Item]:
        """The inputs as a list, one entry per vector asked for (the request's own list when it has one:
        read it, never change it)."""
        value = self.input
        if isinstance(value, str):
            return [value]
        if isinstance(value[0], int):
            return [cast(list[int], value)]  # one token array
        return cast(list[Item], value)  # texts, or token arrays

    def texts(self, vendor: str) -> list[str]:
        """The inputs for a vendor that embeds text only: token arrays it cannot take are refused, which
        passes its target over (another target of the route may take them)."""
        items = self.items()
        if not all(isinstance(item, str) for item in items):
            raise CapabilityUnsupported(f"{vendor} embeds texts only, not token arrays", param="input")
        return cast(list[str], items)

    def subset(self, positions: Sequence[int]) -> EmbeddingsRequest:
        """The same request for some of its items, in the order given (extra fields kept)."""
        items = self.items()
        return self.model_copy(update={"input": [items[i] for i in positions]})

    def extras(self) -> dict[str, Any]:
        """Fields the gateway does not know, as the caller sent them."""
        return dict(self.model_extra or {})

    def vector_material(self) -> list[Any]:
        """Everything besides the inputs that decides the vectors: the model as addressed, dimensions,
        the input type and unknown fields. Not the encoding (written on the way out) nor ``user``."""
        return [self.model, self.dimensions, self.input_type, sorted(self.extras().items())]

    def caller_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class EmbeddingsResult:
    """The vectors of an answer, in input order, as little-endian float32 bytes (``vectors``).

    An answer whose vendor wrote its vectors as JSON numbers may keep each as the vendor wrote it
    (``texts``) with the parsed numbers (``floats``): a caller asking for floats is then given those
    arrays untouched, and float32 bytes are made only when something asks for them (the cache, a
    base64 answer). Re-encoding costs more than the rest of the request, and writing the float32 back
    as a double (-0.035233447 became -0.03523344546556473) made the answer longer, not more exact.
    """

    __slots__ = ("_floats", "_vectors", "estimated", "model", "texts", "usage")

    def __init__(
        self,
        vectors: list[bytes] | None,
        model: str,  # as the upstream named it
        usage: Usage | None = None,
        estimated: bool = False,  # the vendor did not say what it used: input tokens are the gateway's estimate
        *,
        texts: Sequence[Written] | None = None,
        floats: Sequence[Sequence[float]] | None = None,
    ) -> None:
        assert vectors is not None or floats is not None, "an answer needs its vectors"
        self._vectors = vectors
        self._floats = floats
        self.model = model
        self.usage = usage if usage is not None else Usage()
        self.estimated = estimated
        self.texts = texts  # each vector's JSON array as the vendor wrote it; None: written from ``vectors``

    @property
    def vectors(self) -> list[bytes]:
        if self._vectors is None:
            assert self._floats is not None
            self._vectors, self._floats = [pack(values) for values in self._floats], None
        return self._vectors

    def floats(self) -> Sequence[Sequence[float]]:
        """Each vector's numbers (as parsed, when they have not been packed yet)."""
        return self._floats if self._floats is not None else [unpack(vector) for vector in self.vectors]

    def __repr__(self) -> str:
        return f"EmbeddingsResult({len(self.vectors)} vectors, model={self.model!r}, usage={self.usage!r})"


def pack(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def unpack(vector: bytes) -> tuple[float, ...]:
    return struct.unpack(f"<{len(vector) // 4}f", vector)


def from_base64(text: str) -> bytes:
    """A base64 vector (little-endian float32, as OpenAI and Voyage send it)."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) % 4:
        raise ValueError("a base64 embedding is not a whole number of float32 values")
    return raw


def estimate_tokens(item: Item, chars_per_token: int = 4) -> int:
    """A token array's own length; a text's rough count (about four characters a token)."""
    if isinstance(item, str):
        return max(1, -(-len(item) // chars_per_token))
    return len(item)


def estimate_all(items: Sequence[Item], chars_per_token: int = 4) -> int:
    """``estimate_tokens`` of every item, summed: what limits reserve for a request, and what an answer
    without usage is charged. Its rule written inline, not a call per item (a request may have thousands)."""
    return sum([max(1, -(-len(item) // chars_per_token)) if isinstance(item, str) else len(item) for item in items])


def render(result: EmbeddingsResult, encoding_format: str) -> bytes:
    """The OpenAI ``list`` of ``embedding`` objects, vectors written as the caller asked."""
    tokens = result.usage.input_tokens
    if encoding_format != "base64" and result.texts is not None:
        return _render_texts(result.texts, result.model, tokens)
    if encoding_format == "base64":
        vectors: list[Any] = [base64.b64encode(vector).decode("ascii") for vector in result.vectors]
    else:
        vectors = [unpack(vector) for vector in result.vectors]
    return orjson.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": result.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _render_texts(texts: Sequence[Written], model: str, tokens: int) -> bytes:
    """``render``'s float answer with each vector's array as the vendor wrote it, written the way
    orjson writes the rest (compact, same key order): the arrays are copied once, into the answer,
    never parsed again."""
    parts: list[Written] = [b'{"object":"list","data":[']
    for index, text in enumerate(texts):
        parts += (b'{"object":"embedding","index":%d,"embedding":' % index, text, b"},")
    if texts:
        parts[-1] = b"}"  # no comma after the last entry
    usage = b'"usage":{"prompt_tokens":%d,"total_tokens":%d}' % (tokens, tokens)
    parts.append(b'],"model":%b,%b}' % (orjson.dumps(model), usage))
    return b"".join(parts)


def merge(parts: Sequence[EmbeddingsResult]) -> EmbeddingsResult:
    """Answers to consecutive batches of one request as one answer: vectors in order, usage summed."""
    tokens = sum(part.usage.input_tokens for part in parts)
    usage, estimated = Usage(input_tokens=tokens), any(p.estimated for p in parts)
    if all(part.texts is not None for part in parts):  # every batch answered floats: still passed through
        texts = [text for part in parts for text in part.texts or ()]
        floats = [values for part in parts for values in part.floats()]
        return EmbeddingsResult(None, parts[0].model, usage, estimated, texts=texts, floats=floats)
    vectors = [vector for part in parts for vector in part.vectors]
    return EmbeddingsResult(vectors, parts[0].model, usage, estimated)


def dump(result: EmbeddingsResult) -> bytes:
    """A whole answer for the cache: a JSON head (model, flag, each vector's size), then the vectors."""
    head = orjson.dumps({"m": result.model, "e": result.estimated, "n": [len(v) for v in result.vectors]})
    return head + b"\n" + b"".join(result.vectors)


def load(raw: bytes, usage: Usage) -> EmbeddingsResult:
    head_raw, _, body = raw.partition(b"\n")
    head = orjson.loads(head_raw)
    vectors, at = [], 0
    for size in head["n"]:
        vectors.append(body[at : at + size])
        at += size
    return EmbeddingsResult(vectors, head["m"], usage, head["e"])
