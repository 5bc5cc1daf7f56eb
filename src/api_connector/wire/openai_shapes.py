"""Pieces of the OpenAI chat shape that every translating wire reads or writes: data URLs and tool call
arguments in the caller's request, ``chat.completion.chunk`` payloads in the streamed answer."""

from __future__ import annotations

from typing import Any

import orjson

from api_connector.core.chat import ToolCall
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed


def data_url(url: str, param: str) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    header, comma, data = url.partition(",")
    params = header.removeprefix("data:").split(";")
    if not comma or params[-1] != "base64" or not params[0]:
        raise ValidationFailed("data URLs must look like data:<media type>;base64,<data>", param=param)
    return params[0], data


def tool_arguments(call: ToolCall, param: str) -> dict[str, Any]:
    """A tool call's arguments (JSON text) as the object vendors take; empty text is no arguments."""
    raw = call.function.arguments
    try:
        arguments = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        raise ValidationFailed("tool call arguments must be a JSON object", param=param)
    return arguments


def delta_choice(index: int, delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}


def chunk_payload(answer_id: str, created: int, model: str, choices: list[dict[str, Any]], **extra: Any) -> bytes:
    """One ``chat.completion.chunk`` of a streamed answer (``extra``: its ``usage``)."""
    chunk = {
        "id": answer_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }
    return orjson.dumps(chunk)


class ChunkWriter:
    """The chunks of one streamed answer of one choice: each carries the answer's id, creation time
    and model (for wires that write a stream from events of another shape, or from a whole answer)."""

    __slots__ = ("created", "id", "model")

    def __init__(self, id: str, model: str, created: int) -> None:
        self.id = id
        self.model = model
        self.created = created

    def delta(self, delta: dict[str, Any], reason: str | None = None) -> bytes:
        """A chunk of the one choice: a delta, and the finish reason on the last one."""
        return chunk_payload(self.id, self.created, self.model, [delta_choice(0, delta, reason)])

    def usage(self, usage: Usage) -> bytes:
        """The usage chunk, as OpenAI sends it when asked: alone, after the finish, with no choices."""
        return chunk_payload(self.id, self.created, self.model, [], usage=usage.as_openai())
