"""Embeddings test data: where it lives, and the vectors a recorded answer holds, read straight from the
vendor's JSON (an oracle independent of the wires under test)."""

from __future__ import annotations

import base64
import struct
from pathlib import Path
from typing import Any

import orjson

from tests.recorded import RECORDED, Interaction, RecordedRequest, RecordedResponse

EMBEDDINGS = RECORDED / "embeddings"
PYDANTIC_AI = EMBEDDINGS / "pydantic-ai"
LLM_GEMINI = EMBEDDINGS / "llm-gemini"
LANGCHAIN_COHERE = EMBEDDINGS / "langchain-cohere"
VERCEL = EMBEDDINGS / "vercel-ai"
DOCUMENTED = Path(__file__).parent / "conformance" / "data" / "embeddings"


def float32(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def recorded_vectors(answer: Any) -> list[bytes]:
    """Each vector of an OpenAI-shaped, Cohere or Gemini answer as little-endian float32 bytes."""
    if "data" in answer:
        ordered = sorted(answer["data"], key=lambda entry: entry["index"])
        return [
            base64.b64decode(e["embedding"]) if isinstance(e["embedding"], str) else float32(e["embedding"])
            for e in ordered
        ]
    embeddings = answer["embeddings"]
    if isinstance(embeddings, dict):  # Cohere, by type
        return [float32(values) for values in embeddings["float"]]
    return [float32(entry["values"]) for entry in embeddings]  # Gemini


def answer_only(path: Path, uri: str) -> Interaction:
    """A recorded answer body without its request (vercel-ai's fixtures) as a 200 on ``uri``."""
    body = orjson.dumps(orjson.loads(path.read_bytes()))
    status = orjson.loads(body).get("error", {}).get("code", 200) if b'"error"' in body else 200
    response = RecordedResponse(status=status, body=body, headers={"content-type": "application/json"})
    return Interaction(RecordedRequest("POST", uri), response)
