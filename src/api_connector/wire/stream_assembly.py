"""Streamed answers put back together as the whole answer they add up to (for the request audit).

A chat stream's chunks become one ``chat.completion``: each choice's text deltas joined, its tool calls'
argument pieces joined per call, and its finish reason (what it used is the usage row's). A Responses
stream's answer is the ``response`` object its last lifecycle event carries whole (``response.completed``,
``.incomplete`` or ``.failed``), or, for a stream cut before that, its text deltas joined. Pure: bytes in,
JSON data out; a piece that is not what it should be is passed over (the stream was already delivered).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from api_connector.wire.openai_responses import frame_payload
from api_connector.wire.responses_stream import ChatChunk

Json = dict[str, Any]


def assembled_chat(payloads: Iterable[bytes]) -> Json:
    """The ``chat.completion`` a stream of OpenAI chunk payloads adds up to."""
    head: Json = {"object": "chat.completion"}
    choices: dict[int, Json] = {}
    calls: dict[tuple[int, int], Json] = {}
    for payload in payloads:
        try:
            chunk = ChatChunk.model_validate_json(payload)
        except (ValidationError, ValueError):
            continue
        if chunk.model and "model" not in head:
            head["model"] = chunk.model
        for choice in chunk.choices:
            entry = choices.setdefault(
                choice.index,
                {"index": choice.index, "message": {"role": "assistant", "content": ""}, "finish_reason": None},
            )
            delta, message = choice.delta, entry["message"]
            message["content"] += delta.content or ""
            if delta.refusal:
                message["refusal"] = message.get("refusal", "") + delta.refusal
            for part in delta.tool_calls or ():
                call = calls.get((choice.index, part.index))
                if call is None:
                    call = calls[(choice.index, part.index)] = {"type": "function", "function": {"arguments": ""}}
                    message.setdefault("tool_calls", []).append(call)
                if part.id:
                    call["id"] = part.id
                if part.function is not None:
                    if part.function.name:
                        call["function"]["name"] = part.function.name
                    call["function"]["arguments"] += part.function.arguments or ""
            if choice.finish_reason:
                entry["finish_reason"] = choice.finish_reason
    return {**head, "choices": [choices[index] for index in sorted(choices)]}


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = ""
    delta: str | None = None
    response: dict[str, Any] | None = None


_ENDINGS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def assembled_responses(frames: Iterable[bytes]) -> Json:
    """The ``response`` a stream of Responses events ended with, or its text so far."""
    text: list[str] = []
    for frame in frames:
        try:
            event = _Event.model_validate_json(frame_payload(frame))
        except (ValidationError, ValueError):
            continue
        if event.type in _ENDINGS and event.response is not None:
            return event.response
        if event.type == "response.output_text.delta" and event.delta:
            text.append(event.delta)
    return {"object": "response", "status": "incomplete", "output_text": "".join(text)}
