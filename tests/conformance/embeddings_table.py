"""The embeddings conformance table: recorded (or documented) embeddings answers, the OpenAI request a
client sends for each, what the upstream must receive, and what the client must get.

``source`` is a path below ``tests/data/recorded/embeddings`` (recordings) or, with the ``documented/``
prefix, below ``tests/conformance/data/embeddings`` (answers written from vendor documentation). A
``.json`` source is an answer body recorded without its request (vercel-ai): it is served on the
endpoint's path and ``sent`` says what the upstream must receive. Otherwise the upstream must receive
the recorded request, less its null fields and the ``unsent`` ones (vendor options the gateway leaves
at their defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openai import AuthenticationError, BadRequestError, NotFoundError, RateLimitError

from tests.conformance.cases import Failure
from tests.embeddings_data import DOCUMENTED, EMBEDDINGS


@dataclass(frozen=True)
class Vectors:
    count: int
    dimensions: int
    tokens: int  # prompt_tokens (= total_tokens) the client is told
    model: str
    estimated: bool = False  # the vendor said nothing: the gateway's estimate, flagged x-usage-estimated


@dataclass(frozen=True)
class EmbedCase:
    id: str
    provider: str  # a key of REGISTRY
    source: str
    request: dict[str, Any]  # the client's request; ``model`` without the instance prefix
    outcome: Vectors | Failure
    sent: dict[str, Any] | None = None
    unsent: tuple[str, ...] = ()
    base_url: str | None = None  # the vendor's real base URL when the provider type has none
    retry_after: str | None = None  # failures: the Retry-After the client must get
    upstream_calls: int = 1  # per client call

    @property
    def path(self) -> Path:
        if self.source.startswith("documented/"):
            return DOCUMENTED / self.source.removeprefix("documented/")
        return EMBEDDINGS / self.source


HELLO = ["Hello, world!"]
BEACH = ["sunny day at the beach", "rainy day in the city"]
COHERE_DEFAULTS = {"input_type": "search_document", "embedding_types": ["float"]}
SMALL = "text-embedding-3-small"
NOT_FOUND = "The model `nonexistent` does not exist or you do not have access to it."
GEMINI_NOT_FOUND = (
    "models/nonexistent-model is not found for API version v1beta, or is not supported for embedContent. "
    "Call ListModels to see the list of available models and their supported methods."
)
VOYAGE_UNKNOWN = (
    "Model nonexistent is not supported. Supported models are ['g2-20250421-0156pm-voyage-2-series-preloading', "
    "'voyage-large-2-instruct', 'voyage-law-2', 'voyage-code-2', 'voyage-02', 'voyage-2', 'voyage-01', "
    "'voyage-lite-01', 'voyage-lite-01-instruct', 'voyage-lite-02-instruct', 'voyage-multilingual-2', "
    "'voyage-large-2']."
)
AZURE_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
    "minutes, please wait a moment and try again."
)

OPENAI = (
    # A single text is sent as a list of one, which is what the recording's client sent.
    EmbedCase("openai-query", "openai", "pydantic-ai/TestOpenAI.test_query.yaml",
              {"model": SMALL, "input": "Hello, world!"}, Vectors(1, 1536, 4, SMALL)),
    EmbedCase("openai-documents", "openai", "pydantic-ai/TestOpenAI.test_documents.yaml",
              {"model": SMALL, "input": ["hello", "world"]}, Vectors(2, 1536, 2, SMALL)),
    EmbedCase("openai-dimensions", "openai", "pydantic-ai/TestOpenAI.test_instrumentation.yaml",
              {"model": SMALL, "input": HELLO, "dimensions": 128}, Vectors(1, 128, 4, SMALL)),
    EmbedCase("openai-model-not-found", "openai", "pydantic-ai/TestOpenAI.test_embed_error.yaml",
              {"model": "nonexistent", "input": HELLO},
              Failure(NotFoundError, 404, NOT_FOUND, "invalid_request_error", "model_not_found")),
    EmbedCase("openai-float-answer", "openai", "vercel-ai/openai-embedding.json",
              {"model": SMALL, "input": BEACH}, Vectors(2, 5, 12, SMALL),
              sent={"model": SMALL, "input": BEACH, "encoding_format": "base64"}),
)

AZURE = (
    # The answer names no model: the deployment the gateway asked is the model the client is told.
    EmbedCase("azure-openai-embeddings", "azure_openai", "documented/azure_openai-embeddings.yaml",
              {"model": "embeddings-prod", "input": "this is a test"}, Vectors(1, 5, 4, "embeddings-prod"),
              sent={"model": "embeddings-prod", "input": ["this is a test"], "encoding_format": "base64"},
              base_url="https://fake-resource.openai.azure.com"),
    EmbedCase("azure-openai-deployment-not-found", "azure_openai", "documented/azure_openai-deployment-not-found.yaml",
              {"model": "no-such-deployment", "input": "this is a test"},
              Failure(NotFoundError, 404, AZURE_NOT_FOUND, None, "DeploymentNotFound"),
              sent={"model": "no-such-deployment", "input": ["this is a test"], "encoding_format": "base64"},
              base_url="https://fake-resource.openai.azure.com"),
    # The same resource reached as a service principal: an Entra ID token instead of the key.
    EmbedCase("azure-openai-entra-embeddings", "azure_openai_entra", "documented/azure_openai-embeddings.yaml",
              {"model": "embeddings-prod", "input": "this is a test"}, Vectors(1, 5, 4, "embeddings-prod"),
              sent={"model": "embeddings-prod", "input": ["this is a test"], "encoding_format": "base64"},
              base_url="https://fake-resource.openai.azure.com"),
)

COHERE = (
    EmbedCase("cohere-query", "cohere", "pydantic-ai/TestCohere.test_query.yaml",
              {"model": "embed-v4.0", "input": HELLO, "input_type": "query"}, Vectors(1, 1536, 4, "embed-v4.0"),
              unsent=("truncate",)),
    EmbedCase("cohere-model-not-found", "cohere", "pydantic-ai/TestCohere.test_embed_error.yaml",
              {"model": "nonexistent", "input": HELLO, "input_type": "query"},
              Failure(NotFoundError, 404, "model 'nonexistent' not found, make sure the correct model ID was used "
                      "and that you have access to the model."),
              unsent=("truncate",)),
    # Recorded on /v1/embed, whose answer (with embedding_types) is /v2/embed's: served on /v2/embed.
    EmbedCase("cohere-document-by-default", "cohere", "langchain-cohere/test_langchain_cohere_embedding_documents.yaml",
              {"model": "embed-english-light-v3.0", "input": ["foo bar"]},
              Vectors(1, 384, 2, "embed-english-light-v3.0")),
    EmbedCase("cohere-documents", "cohere",
              "langchain-cohere/test_langchain_cohere_embedding_multiple_documents.yaml",
              {"model": "embed-english-light-v3.0", "input": ["foo bar", "bar foo"], "input_type": "document"},
              Vectors(2, 384, 4, "embed-english-light-v3.0")),
    EmbedCase("cohere-own-input-type", "cohere", "langchain-cohere/test_langchain_cohere_embedding_query.yaml",
              {"model": "embed-english-light-v3.0", "input": ["foo bar"], "input_type": "search_query"},
              Vectors(1, 384, 2, "embed-english-light-v3.0")),
    EmbedCase("cohere-float-answer", "cohere", "vercel-ai/cohere-embedding.json",
              {"model": "embed-v4.0", "input": BEACH}, Vectors(2, 5, 10, "embed-v4.0"),
              sent={"model": "embed-v4.0", "texts": BEACH, **COHERE_DEFAULTS}),
)

VOYAGE = (
    EmbedCase("voyage-query", "voyage", "pydantic-ai/TestVoyageAI.test_query.yaml",
              {"model": "voyage-3.5", "input": HELLO, "input_type": "query"}, Vectors(1, 1024, 3, "voyage-3.5"),
              unsent=("truncation",)),
    EmbedCase("voyage-documents", "voyage", "pydantic-ai/TestVoyageAI.test_documents.yaml",
              {"model": "voyage-3.5", "input": ["hello", "world"], "input_type": "document"},
              Vectors(2, 1024, 0, "voyage-3.5"), unsent=("truncation",)),
    EmbedCase("voyage-4", "voyage", "pydantic-ai/TestVoyageAI.test_query_voyage_4.yaml",
              {"model": "voyage-4", "input": HELLO, "input_type": "query"}, Vectors(1, 1024, 3, "voyage-4"),
              unsent=("truncation",)),
    EmbedCase("voyage-no-input-type", "voyage", "pydantic-ai/TestVoyageAI.test_query_with_voyageai_input_type.yaml",
              {"model": "voyage-3.5", "input": HELLO}, Vectors(1, 1024, 4, "voyage-3.5"), unsent=("truncation",)),
    EmbedCase("voyage-unknown-model", "voyage", "pydantic-ai/TestVoyageAI.test_embed_error.yaml",
              {"model": "nonexistent", "input": HELLO, "input_type": "query"},
              Failure(BadRequestError, 400, VOYAGE_UNKNOWN), unsent=("truncation",)),
    EmbedCase("voyage-float-answer", "voyage", "vercel-ai/voyage-embedding.json",
              {"model": "voyage-3.5", "input": BEACH}, Vectors(2, 5, 12, "voyage-3.5"),
              sent={"model": "voyage-3.5", "input": BEACH, "encoding_format": "base64"}),
)

GEMINI_TEXT = "Some text goes here"
GEMINI_CONTENT = {"parts": [{"text": GEMINI_TEXT}]}
GEMINI = (
    # No usage in the answer: estimated (13 characters, about 4 tokens), and the client is told so.
    EmbedCase("gemini-query-dimensions", "gemini", "pydantic-ai/TestGoogle.test_query_with_dimensions.yaml",
              {"model": "gemini-embedding-2-preview", "input": HELLO, "dimensions": 768, "input_type": "query"},
              Vectors(1, 768, 4, "gemini-embedding-2-preview", estimated=True)),
    EmbedCase("gemini-model-not-found", "gemini", "pydantic-ai/TestGoogle.test_embed_error.yaml",
              {"model": "nonexistent-model", "input": HELLO, "input_type": "query"},
              Failure(NotFoundError, 404, GEMINI_NOT_FOUND, "NOT_FOUND")),
    EmbedCase("gemini-001", "gemini", "llm-gemini/test_embedding-gemini-embedding-001.yaml",
              {"model": "gemini-embedding-001", "input": GEMINI_TEXT},
              Vectors(1, 3072, 5, "gemini-embedding-001", estimated=True)),
    EmbedCase("gemini-001-768", "gemini", "llm-gemini/test_embedding-gemini-embedding-001-768.yaml",
              {"model": "gemini-embedding-001", "input": GEMINI_TEXT, "dimensions": 768},
              Vectors(1, 768, 5, "gemini-embedding-001", estimated=True)),
    EmbedCase("gemini-2", "gemini", "llm-gemini/test_embedding-gemini-embedding-2.yaml",
              {"model": "gemini-embedding-2", "input": GEMINI_TEXT}, Vectors(1, 3072, 4, "gemini-embedding-2")),
    EmbedCase("gemini-2-768", "gemini", "llm-gemini/test_embedding-gemini-embedding-2-768.yaml",
              {"model": "gemini-embedding-2", "input": GEMINI_TEXT, "dimensions": 768},
              Vectors(1, 768, 4, "gemini-embedding-2")),
    EmbedCase("gemini-batch", "gemini", "llm-gemini/test_embedding_batch.yaml",
              {"model": "gemini-embedding-2", "input": ["First text", "Second text"], "dimensions": 768},
              Vectors(2, 768, 4, "gemini-embedding-2")),
    # RetryInfo's 34.4 s is past the longest wait for a retry (30 s): no retry, the client is told when.
    EmbedCase("gemini-rate-limited-retry-info", "gemini", "vercel-ai/google-429-retry-info.json",
              {"model": "gemini-embedding-001", "input": GEMINI_TEXT},
              Failure(RateLimitError, 429, "You exceeded your current quota, please check your plan.",
                      "RESOURCE_EXHAUSTED"),
              sent={"requests": [{"model": "models/gemini-embedding-001", "content": GEMINI_CONTENT}]},
              retry_after="35"),
)

DOCUMENTED_ONLY = (
    EmbedCase("jina-retrieval-query", "jina", "documented/jina-embeddings.yaml",
              {"model": "jina-embeddings-v3", "input_type": "query",
               "input": ["Organic skincare for sensitive skin with aloe vera and chamomile",
                         "Bio-Hautpflege für empfindliche Haut mit Aloe Vera und Kamille"]},
              Vectors(2, 5, 28, "jina-embeddings-v3")),
    EmbedCase("mistral-embeddings", "mistral", "documented/mistral-embeddings.yaml",
              {"model": "mistral-embed", "input": ["Embed this sentence.", "As well as this one."]},
              Vectors(2, 5, 15, "mistral-embed")),
    EmbedCase("mistral-unauthorized", "mistral", "documented/mistral-unauthorized.yaml",
              {"model": "mistral-embed", "input": "Embed this sentence."},
              Failure(AuthenticationError, 401, "Unauthorized", "invalid_request_error")),
    EmbedCase("ollama-embeddings", "ollama", "documented/ollama-embeddings.yaml",
              {"model": "all-minilm", "input": ["why is the sky blue?", "why is the grass green?"]},
              Vectors(2, 5, 14, "all-minilm")),
    # No usage in Together's answer: 65 characters, about 17 tokens, flagged as an estimate.
    EmbedCase("together-embeddings", "together", "documented/together-embeddings.yaml",
              {"model": "togethercomputer/m2-bert-80M-8k-retrieval",
               "input": "Our solar system orbits the Milky Way galaxy at about 515,000 mph"},
              Vectors(1, 5, 17, "togethercomputer/m2-bert-80M-8k-retrieval", estimated=True)),
    # Any OpenAI-compatible server (here a vLLM-like one on loopback), replaying a real OpenAI answer.
    EmbedCase("openai-compatible-embeddings", "openai_compatible", "vercel-ai/openai-embedding.json",
              {"model": SMALL, "input": BEACH}, Vectors(2, 5, 12, SMALL),
              sent={"model": SMALL, "input": BEACH}, base_url="http://127.0.0.1:8000/v1"),
)

EMBED_CASES: tuple[EmbedCase, ...] = (*OPENAI, *AZURE, *COHERE, *VOYAGE, *GEMINI, *DOCUMENTED_ONLY)
