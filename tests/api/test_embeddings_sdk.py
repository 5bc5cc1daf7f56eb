"""Clients of OpenAI embeddings against the running service, unchanged: the official ``openai`` SDK and
LangChain's ``OpenAIEmbeddings``, through the built-in sandbox; and the route's OpenAPI description."""

from __future__ import annotations

import struct

import httpx
import openai
import pytest
from langchain_openai import OpenAIEmbeddings
from tests.gateway import RunningGateway

from api_connector.sandbox.engine import EMBEDDING_DIMENSIONS, sandbox_vector

MODEL = "sandbox/sandbox-embed"


def as_float32(values: list[float]) -> list[float]:
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def expected(text: str, size: int = EMBEDDING_DIMENSIONS) -> list[float]:
    return as_float32(sandbox_vector(text, size))


def test_openai_sdk_every_input_shape_and_encoding(gateway: RunningGateway) -> None:
    sdk = openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)
    # Left to itself the SDK asks base64 and decodes it.
    plain = sdk.embeddings.create(model=MODEL, input=["first text", "second text"])
    assert [e.embedding for e in plain.data] == [expected("first text"), expected("second text")]
    assert plain.model == MODEL.split("/")[1] and plain.usage.prompt_tokens == plain.usage.total_tokens == 6
    floats = sdk.embeddings.create(model=MODEL, input="one text", encoding_format="float", dimensions=4)
    assert floats.data[0].embedding == expected("one text", 4)
    raw = sdk.embeddings.create(model=MODEL, input=[[1, 2, 3], [4]], encoding_format="base64")
    assert isinstance(raw.data[0].embedding, str) and raw.usage.prompt_tokens == 4
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.embeddings.create(model=MODEL, input=[])
    assert refused.value.param == "input"
    with pytest.raises(openai.NotFoundError):
        sdk.embeddings.create(model="no-such-embedding-model", input="x")


async def test_async_openai_sdk(gateway: RunningGateway) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as sdk:
        answer = await sdk.embeddings.create(model=MODEL, input="async text")
    assert answer.data[0].embedding == expected("async text")


def test_langchain_openai_embeddings(gateway: RunningGateway) -> None:
    # check_embedding_ctx_length=False: otherwise LangChain first tokenizes with tiktoken, whose
    # encodings are downloaded on first use (no network here), and sends token arrays.
    embeddings = OpenAIEmbeddings(
        model=MODEL, base_url=gateway.v1, api_key=gateway.admin_key, check_embedding_ctx_length=False, max_retries=0
    )
    documents = [f"document {i}" for i in range(5)]
    assert embeddings.embed_documents(documents) == [expected(text) for text in documents]
    assert embeddings.embed_query("a question") == expected("a question")


async def test_langchain_async(gateway: RunningGateway) -> None:
    embeddings = OpenAIEmbeddings(
        model=MODEL, base_url=gateway.v1, api_key=gateway.admin_key, check_embedding_ctx_length=False, max_retries=0
    )
    assert await embeddings.aembed_documents(["x", "y"]) == [expected("x"), expected("y")]


def test_the_route_is_described_in_openapi(gateway: RunningGateway) -> None:
    operation = httpx.get(gateway.base_url + "/openapi.json").json()["paths"]["/v1/embeddings"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["model", "input"]
    assert {"model", "input", "encoding_format", "dimensions", "user", "input_type"} <= schema["properties"].keys()
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["required"] == ["object", "data", "model", "usage"]
    assert "x-usage-estimated" in operation["responses"]["200"]["headers"]
    error = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"}  # OpenAI's error shape
