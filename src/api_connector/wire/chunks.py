"""OpenAI ``chat.completion.chunk`` payloads, as the wires that translate a vendor's stream write them."""

from __future__ import annotations

from typing import Any

import orjson

from api_connector.core.usage import Usage


class ChunkWriter:
    """The chunks of one streamed answer: each carries the answer's id, creation time and model."""

    __slots__ = ("created", "id", "model")

    def __init__(self, id: str, model: str, created: int) -> None:
        self.id = id
        self.model = model
        self.created = created

    def delta(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        """A chunk of the one choice: a delta, and the finish reason on the last one."""
        return self._chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}])

    def usage(self, usage: Usage) -> bytes:
        """The usage chunk, as OpenAI sends it when asked: alone, after the finish, with no choices."""
        return self._chunk([], usage=usage.as_openai())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                 "choices": choices, **extra}
        return orjson.dumps(chunk)
