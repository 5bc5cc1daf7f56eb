"""The Cohere Embed v2 wire against recorded Cohere traffic (pydantic-ai, langchain-cohere, vercel-ai)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from api_connector.core.embeddings import EmbeddingsRequest
from api_connector.errors import CapabilityUnsupported
from api_connector.wire.base import VendorError
from api_connector.wire.cohere_embed import COHERE_EMBED
from tests.embeddings_data import LANGCHAIN_COHERE, PYDANTIC_AI, VERCEL, recorded_vectors
from tests.recorded import load_cassette


@pytest.mark.parametrize(
    ("path", "input_type", "count", "size", "tokens"),
    [
        (PYDANTIC_AI / "TestCohere.test_query.yaml", "query", 1, 1536, 4),
        (LANGCHAIN_COHERE / "test_langchain_cohere_embedding_documents.yaml", "document", 1, 384, 2),
        (LANGCHAIN_COHERE / "test_langchain_cohere_embedding_multiple_documents.yaml", None, 2, 384, 4),
        (LANGCHAIN_COHERE / "test_langchain_cohere_embedding_query.yaml", "search_query", 1, 384, 2),
    ],
    ids=lambda v: v.stem if isinstance(v, Path) else None,
)
def test_recorded_exchanges(path: Path, input_type: str | None, count: int, size: int, tokens: int) -> None:
    (interaction,) = load_cassette(path)
    recorded = interaction.request.body
    request = EmbeddingsRequest(model="x", input=recorded["texts"], input_type=input_type)
    body = orjson.loads(COHERE_EMBED.encode_request(request, recorded["model"]))
    # What the recording sent, less what the gateway leaves at Cohere's defaults (nulls, truncate).
    assert body == {k: v for k, v in recorded.items() if v is not None and k not in ("truncate", "max_tokens")}
    result = COHERE_EMBED.decode_response(interaction.response.body, request)
    assert result.vectors == recorded_vectors(interaction.response.json())
    assert (len(result.vectors), {len(v) // 4 for v in result.vectors}) == (count, {size})
    assert (result.usage.input_tokens, result.model, result.estimated) == (tokens, "", False)


def test_vercel_answer_and_dimensions() -> None:
    answer = (VERCEL / "cohere-embedding.json").read_bytes()
    request = EmbeddingsRequest(model="x", input=["sunny day at the beach", "rainy day in the city"], dimensions=256)
    assert orjson.loads(COHERE_EMBED.encode_request(request, "embed-v4.0"))["output_dimension"] == 256
    result = COHERE_EMBED.decode_response(answer, request)
    assert result.vectors == recorded_vectors(orjson.loads(answer)) and result.usage.input_tokens == 10


def test_an_answer_without_billed_units_is_estimated() -> None:
    answer = b'{"embeddings": {"float": [[0.5, 0.25]]}}'
    result = COHERE_EMBED.decode_response(answer, EmbeddingsRequest(model="x", input="12345678"))
    assert result.estimated and result.usage.input_tokens == 2


def test_answers_of_another_count_or_type_are_refused() -> None:
    two = EmbeddingsRequest(model="x", input=["a", "b"])
    with pytest.raises(ValueError):
        COHERE_EMBED.decode_response(b'{"embeddings": {"float": [[0.5]]}}', two)
    with pytest.raises(ValueError):  # int8 only: not what the gateway asked for
        COHERE_EMBED.decode_response(b'{"embeddings": {"int8": [[1], [2]]}}', two)


def test_token_arrays_are_refused() -> None:
    with pytest.raises(CapabilityUnsupported):
        COHERE_EMBED.encode_request(EmbeddingsRequest(model="x", input=[1, 2, 3]), "embed-v4.0")


def test_error_body() -> None:
    (interaction,) = load_cassette(PYDANTIC_AI / "TestCohere.test_embed_error.yaml")
    assert COHERE_EMBED.decode_error(interaction.response.body) == VendorError(
        "model 'nonexistent' not found, make sure the correct model ID was used and that you have access to the model."
    )
    assert COHERE_EMBED.decode_error(b"<html></html>") is None
