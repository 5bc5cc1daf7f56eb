"""The Gemini batchEmbedContents wire and Google's error body against recorded traffic (llm-gemini,
pydantic-ai, vercel-ai)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from api_connector.core.embeddings import EmbeddingsRequest
from api_connector.errors import CapabilityUnsupported
from api_connector.wire.base import VendorError
from api_connector.wire.gemini_embeddings import GEMINI_EMBEDDINGS
from api_connector.wire.google_errors import decode_google_error
from tests.embeddings_data import LLM_GEMINI, PYDANTIC_AI, VERCEL, recorded_vectors
from tests.recorded import load_cassette


@pytest.mark.parametrize(
    ("path", "input_type", "size", "tokens"),
    [
        (LLM_GEMINI / "test_embedding-gemini-embedding-001.yaml", None, 3072, None),
        (LLM_GEMINI / "test_embedding-gemini-embedding-001-768.yaml", None, 768, None),
        (LLM_GEMINI / "test_embedding-gemini-embedding-2.yaml", None, 3072, 4),
        (LLM_GEMINI / "test_embedding-gemini-embedding-2-768.yaml", None, 768, 4),
        (LLM_GEMINI / "test_embedding_batch.yaml", None, 768, 4),
        (PYDANTIC_AI / "TestGoogle.test_query_with_dimensions.yaml", "query", 768, None),
    ],
    ids=lambda v: v.stem if isinstance(v, Path) else None,
)
def test_recorded_exchanges(path: Path, input_type: str | None, size: int, tokens: int | None) -> None:
    (interaction,) = load_cassette(path)
    sent = interaction.request.body["requests"]
    texts = [entry["content"]["parts"][0]["text"] for entry in sent]
    dimensions = sent[0].get("outputDimensionality")
    request = EmbeddingsRequest(model="x", input=texts, dimensions=dimensions, input_type=input_type)
    model = sent[0]["model"].removeprefix("models/")
    assert orjson.loads(GEMINI_EMBEDDINGS.encode_request(request, model)) == interaction.request.body
    result = GEMINI_EMBEDDINGS.decode_response(interaction.response.body, request)
    assert result.vectors == recorded_vectors(interaction.response.json())
    assert {len(v) // 4 for v in result.vectors} == {size} and len(result.vectors) == len(texts)
    if tokens is None:  # the answer says nothing: estimated from the text, and marked so
        assert result.estimated and result.usage.input_tokens == sum(-(-len(t) // 4) for t in texts)
    else:
        assert not result.estimated and result.usage.input_tokens == tokens


def test_google_task_types_pass_as_they_are() -> None:
    request = EmbeddingsRequest(model="x", input="a", input_type="SEMANTIC_SIMILARITY")
    body = orjson.loads(GEMINI_EMBEDDINGS.encode_request(request, "gemini-embedding-001"))
    assert body["requests"][0]["taskType"] == "SEMANTIC_SIMILARITY"
    with pytest.raises(CapabilityUnsupported):
        GEMINI_EMBEDDINGS.encode_request(EmbeddingsRequest(model="x", input=[[1, 2]]), "gemini-embedding-001")


def test_recorded_not_found() -> None:
    (interaction,) = load_cassette(PYDANTIC_AI / "TestGoogle.test_embed_error.yaml")
    assert GEMINI_EMBEDDINGS.decode_error(interaction.response.body) == VendorError(
        "models/nonexistent-model is not found for API version v1beta, or is not supported for embedContent. "
        "Call ListModels to see the list of available models and their supported methods.",
        "NOT_FOUND",
    )


def test_retry_info_says_when_to_come_back() -> None:
    found = decode_google_error((VERCEL / "google-429-retry-info.json").read_bytes())
    assert found == VendorError(
        "You exceeded your current quota, please check your plan.", "RESOURCE_EXHAUSTED", retry_after=34.4
    )


def test_error_info_reason_and_list_wrapping() -> None:
    body = orjson.dumps(
        [
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                            "domain": "googleapis.com",
                        }
                    ],
                }
            }
        ]
    )
    assert decode_google_error(body) == VendorError("API key not valid.", "INVALID_ARGUMENT", "API_KEY_INVALID")
    assert decode_google_error(b"[]") is None and decode_google_error(b"not json") is None
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "soon"}
    odd = orjson.dumps({"error": {"message": "m", "details": [retry]}})
    assert decode_google_error(odd) == VendorError("m")
