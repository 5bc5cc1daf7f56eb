"""Pieces of the OpenAI chat shape that every translating wire reads or writes: data URLs and tool call
arguments in the caller's request, ``chat.completion.chunk`` payloads in the streamed answer."""

from __future__ import annotations

from typing import Any

import orjson

from api_connector.core.chat import ToolCall
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
