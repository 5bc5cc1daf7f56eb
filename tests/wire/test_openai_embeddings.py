"""The OpenAI embeddings wire and its variants against recorded OpenAI and Voyage traffic and the
documented answers of Azure, Jina, Mistral, Ollama and Together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from api_connector.core.embeddings import EmbeddingsRequest, pack, render
from api_connector.errors import CapabilityUnsupported
from api_connector.wire.base import VendorError
from api_connector.wire.openai_embeddings import (
    COMPATIBLE_EMBEDDINGS,
    JINA_EMBEDDINGS,
    MISTRAL_EMBEDDINGS,
    OPENAI_EMBEDDINGS,
    VOYAGE_EMBEDDINGS,
    OpenAIEmbeddingsWire,
)
from tests.embeddings_data import DOCUMENTED, PYDANTIC_AI, VERCEL, recorded_vectors
from tests.recorded import load_cassette


def _without_nulls(body: dict[str, Any], *left_out: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None and key not in left_out}


@pytest.mark.parametrize(
    ("path", "wire", "count", "size", "tokens", "model"),
    [
        (PYDANTIC_AI / "TestOpenAI.test_query.yaml", OPENAI_EMBEDDINGS, 1, 1536, 4, "text-embedding-3-small"),
        (PYDANTIC_AI / "TestOpenAI.test_documents.yaml", OPENAI_EMBEDDINGS, 2, 1536, 2, "text-embedding-3-small"),
        (PYDANTIC_AI / "TestOpenAI.test_instrumentation.yaml", OPENAI_EMBEDDINGS, 1, 128, 4, "text-embedding-3-small"),
        (PYDANTIC_AI / "TestVoyageAI.test_query.yaml", VOYAGE_EMBEDDINGS, 1, 1024, 3, "voyage-3.5"),
        (PYDANTIC_AI / "TestVoyageAI.test_documents.yaml", VOYAGE_EMBEDDINGS, 2, 1024, 0, "voyage-3.5"),
        (PYDANTIC_AI / "TestVoyageAI.test_query_voyage_4.yaml", VOYAGE_EMBEDDINGS, 1, 1024, 3, "voyage-4"),
        (DOCUMENTED / "azure_openai-embeddings.yaml", OPENAI_EMBEDDINGS, 1, 5, 4, ""),
        (DOCUMENTED / "jina-embeddings.yaml", JINA_EMBEDDINGS, 2, 5, 28, "jina-embeddings-v3"),
        (DOCUMENTED / "mistral-embeddings.yaml", MISTRAL_EMBEDDINGS, 2, 5, 15, "mistral-embed"),
        (DOCUMENTED / "ollama-embeddings.yaml", COMPATIBLE_EMBEDDINGS, 2, 5, 14, "all-minilm"),
    ],
    ids=lambda v: v.stem if isinstance(v, Path) else None,
)
def test_answers_decode_to_the_recorded_vectors(
    path: Path, wire: OpenAIEmbeddingsWire, count: int, size: int, tokens: int, model: str
) -> None:
    (interaction,) = load_cassette(path)
    request = EmbeddingsRequest.model_validate({"model": "m", "input": interaction.request.body["input"]})
    result = wire.decode_response(interaction.response.body, request)
    assert result.vectors == recorded_vectors(interaction.response.json())  # base64 kept byte for byte
    assert (len(result.vectors), {len(v) // 4 for v in result.vectors}) == (count, {size})
    assert (result.usage.input_tokens, result.model, result.estimated) == (tokens, model, False)


@pytest.mark.parametrize(("name", "tokens"), [("openai-embedding.json", 12), ("voyage-embedding.json", 12)])
def test_float_answers_recorded_without_their_request(name: str, tokens: int) -> None:
    answer = (VERCEL / name).read_bytes()
    request = EmbeddingsRequest(model="m", input=["sunny day at the beach", "rainy day in the city"])
    result = OPENAI_EMBEDDINGS.decode_response(answer, request)
    assert result.vectors == recorded_vectors(orjson.loads(answer))
    assert result.usage.input_tokens == tokens


def test_an_answer_without_usage_is_estimated_and_says_so() -> None:
    (interaction,) = load_cassette(DOCUMENTED / "together-embeddings.yaml")
    text = interaction.request.body["input"][0]
    result = COMPATIBLE_EMBEDDINGS.decode_response(
        interaction.response.body, EmbeddingsRequest(model="m", input=[text])
    )
    assert result.estimated and result.usage.input_tokens == -(-len(text) // 4)


def test_openai_requests_are_sent_as_recorded() -> None:
    for name in ("TestOpenAI.test_query", "TestOpenAI.test_documents", "TestOpenAI.test_instrumentation"):
        (interaction,) = load_cassette(PYDANTIC_AI / f"{name}.yaml")
        recorded = interaction.request.body
        caller = {key: value for key, value in recorded.items() if key != "encoding_format"}
        body = orjson.loads(
            OPENAI_EMBEDDINGS.encode_request(EmbeddingsRequest.model_validate(caller), recorded["model"])
        )
        assert body == recorded  # base64 asked upstream whatever the caller's encoding


@pytest.mark.parametrize(
    ("name", "input_type"),
    [
        ("TestVoyageAI.test_query", "query"),
        ("TestVoyageAI.test_documents", "document"),
        ("TestVoyageAI.test_query_voyage_4", "query"),
        ("TestVoyageAI.test_query_with_voyageai_input_type", None),
    ],
)
def test_voyage_requests_are_sent_as_recorded(name: str, input_type: str | None) -> None:
    (interaction,) = load_cassette(PYDANTIC_AI / f"{name}.yaml")
    recorded = interaction.request.body
    request = EmbeddingsRequest(model="x", input=recorded["input"], input_type=input_type)
    body = orjson.loads(VOYAGE_EMBEDDINGS.encode_request(request, recorded["model"]))
    assert body == _without_nulls(recorded, "truncation")  # the gateway leaves Voyage's default truncation


def test_variants_name_their_own_fields() -> None:
    request = EmbeddingsRequest.model_validate(
        {"model": "x", "input": "hi", "dimensions": 256, "input_type": "query", "user": "u1", "late_chunking": True}
    )
    sent = {
        wire.name: orjson.loads(wire.encode_request(request, "m"))
        for wire in (OPENAI_EMBEDDINGS, COMPATIBLE_EMBEDDINGS, VOYAGE_EMBEDDINGS, JINA_EMBEDDINGS, MISTRAL_EMBEDDINGS)
    }
    base = {"model": "m", "input": ["hi"]}
    assert sent == {
        "openai_embeddings": {
            **base,
            "dimensions": 256,
            "user": "u1",
            "late_chunking": True,
            "encoding_format": "base64",
        },
        "openai_compatible_embeddings": {**base, "dimensions": 256, "user": "u1", "late_chunking": True},
        "voyage_embeddings": {**base, "output_dimension": 256, "input_type": "query", "encoding_format": "base64"},
        "jina_embeddings": {**base, "dimensions": 256, "task": "retrieval.query"},
        "mistral_embeddings": {**base, "output_dimension": 256},
    }
    own = EmbeddingsRequest(model="x", input="hi", input_type="text-matching")
    assert orjson.loads(JINA_EMBEDDINGS.encode_request(own, "m"))["task"] == "text-matching"


def test_token_arrays_go_only_where_they_are_taken() -> None:
    tokens = EmbeddingsRequest(model="x", input=[[1, 2, 3], [4]])
    assert orjson.loads(OPENAI_EMBEDDINGS.encode_request(tokens, "m"))["input"] == [[1, 2, 3], [4]]
    assert orjson.loads(COMPATIBLE_EMBEDDINGS.encode_request(tokens, "m"))["input"] == [[1, 2, 3], [4]]
    for wire in (VOYAGE_EMBEDDINGS, JINA_EMBEDDINGS, MISTRAL_EMBEDDINGS):
        with pytest.raises(CapabilityUnsupported):
            wire.encode_request(tokens, "m")


def test_an_answer_with_missing_or_extra_vectors_is_refused() -> None:
    (interaction,) = load_cassette(PYDANTIC_AI / "TestOpenAI.test_documents.yaml")
    with pytest.raises(ValueError, match="expected 3 embeddings"):
        OPENAI_EMBEDDINGS.decode_response(
            interaction.response.body, EmbeddingsRequest(model="m", input=["a", "b", "c"])
        )
    with pytest.raises(ValueError):
        OPENAI_EMBEDDINGS.decode_response(
            b'{"data": [{"index": 0, "embedding": "abc"}]}', EmbeddingsRequest(model="m", input="a")
        )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            load_cassette(PYDANTIC_AI / "TestOpenAI.test_embed_error.yaml")[0].response.body,
            VendorError(
                "The model `nonexistent` does not exist or you do not have access to it.",
                "invalid_request_error",
                "model_not_found",
            ),
        ),
        (
            load_cassette(DOCUMENTED / "azure_openai-deployment-not-found.yaml")[0].response.body,
            VendorError(
                "The API deployment for this resource does not exist. If you created the deployment within the "
                "last 5 minutes, please wait a moment and try again.",
                code="DeploymentNotFound",
            ),
        ),
        (
            load_cassette(DOCUMENTED / "mistral-unauthorized.yaml")[0].response.body,
            VendorError("Unauthorized", "invalid_request_error"),
        ),
        (
            b'{"detail": [{"loc": ["body", "input"], "msg": "field required", "type": "missing"}]}',
            VendorError("body.input: field required"),
        ),
        (b"<html>bad gateway</html>", None),
        (b'{"unrelated": true}', None),
    ],
)
def test_error_bodies(body: bytes, expected: VendorError | None) -> None:
    assert OPENAI_EMBEDDINGS.decode_error(body) == expected


def test_voyage_detail_error_is_read() -> None:
    (interaction,) = load_cassette(PYDANTIC_AI / "TestVoyageAI.test_embed_error.yaml")
    found = VOYAGE_EMBEDDINGS.decode_error(interaction.response.body)
    assert found is not None and found.message.startswith("Model nonexistent is not supported.")


def test_float_vectors_pass_through_as_the_vendor_wrote_them() -> None:
    answer = (
        b'{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [-0.035233447, 0.1]},'
        b'{"object":"embedding","index":1,"embedding":[2.5e-3,-1]}], "model": "m-1", "usage": {"prompt_tokens": 3}}'
    )
    request = EmbeddingsRequest(model="m", input=["a", "b"])
    result = COMPATIBLE_EMBEDDINGS.decode_response(answer, request)
    assert result.texts == [b"[-0.035233447, 0.1]", b"[2.5e-3,-1]"]
    assert (result.model, result.usage.input_tokens, result.estimated) == ("m-1", 3, False)
    assert result.vectors == [pack([-0.035233447, 0.1]), pack([2.5e-3, -1])]
    assert b'"embedding":[-0.035233447, 0.1]' in render(result, "float")


@pytest.mark.parametrize(
    "answer",
    [
        # out of order: sorted by index, written anew
        b'{"data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}],"model":"m"}',
        # another "embedding" key elsewhere: the arrays cannot be told apart by searching
        b'{"data":[{"index":0,"embedding":[1.0]},{"index":1,"embedding":[2.0]}],"x":{"embedding":[9]}}',
    ],
)
def test_unusual_float_answers_are_read_whole(answer: bytes) -> None:
    result = COMPATIBLE_EMBEDDINGS.decode_response(answer, EmbeddingsRequest(model="m", input=["a", "b"]))
    assert result.vectors == [pack([1.0]), pack([2.0])]
    assert orjson.loads(render(result, "float"))["data"][1]["embedding"] == [2.0]


def test_malformed_float_answers_are_still_refused() -> None:
    request = EmbeddingsRequest(model="m", input=["a"])
    for answer in (b'{"data":[{"embedding":["x"]}]}', b'{"data":[{"embedding":[1.0]}],"model":null}', b'{"data":[]}'):
        with pytest.raises(ValueError):
            COMPATIBLE_EMBEDDINGS.decode_response(answer, request)
