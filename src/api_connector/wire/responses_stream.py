"""Chat completion chunks -> the Responses API's streaming events, for providers without Responses.

The events OpenAI sends, in its order: ``response.created`` and ``response.in_progress`` first; for the
text, ``response.output_item.added`` (a ``message`` item), ``response.content_part.added``, one
``response.output_text.delta`` per chunk, then ``response.output_text.done``,
``response.content_part.done`` and ``response.output_item.done``; for each tool call a
``function_call`` item with ``response.function_call_arguments.delta`` / ``.done``; last
``response.completed`` (or ``response.incomplete`` when the answer was cut at its length or filtered)
with the whole response and its usage. Every event carries its ``sequence_number``; each piece is a
whole SSE frame (``wire.openai_responses.event_frame``). Text ends before the first tool call (chat
streams send text first); calls stay open until the answer ends, each its own output item.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from api_connector.core.responses import ResponsesRequest, new_id
from api_connector.core.usage import Usage
from api_connector.wire.openai_responses import event_frame
from api_connector.wire.responses_chat import (
    ChatUsage,
    call_item,
    ending,
    message_item,
    response_object,
    text_part,
    usage_json,
)

Json = dict[str, Any]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _DeltaFunction(_Lenient):
    name: str | None = None
    arguments: str | None = None


class _DeltaCall(_Lenient):
    index: int = 0
    id: str | None = None
    function: _DeltaFunction | None = None


class _Delta(_Lenient):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[_DeltaCall] | None = None


class _ChunkChoice(_Lenient):
    index: int = 0
    delta: _Delta = _Delta()
    finish_reason: str | None = None


class _Chunk(_Lenient):
    model: str = ""
    choices: list[_ChunkChoice] = []
    usage: ChatUsage | None = None


ChatChunk = _Chunk  # also what the request audit assembles chat streams from (wire/stream_assembly.py)


@dataclass(slots=True)
class _Message:
    """The open message item: its content parts as [kind ("output_text" | "refusal"), text] pairs."""

    index: int
    id: str
    parts: list[list[str]] = field(default_factory=list)


@dataclass(slots=True)
class _Call:
    index: int
    id: str
    call_id: str
    name: str
    arguments: str = ""


class ChatToResponsesEvents:
    """One streamed answer's translation; ``feed`` takes chat chunk payloads, gives SSE frames."""

    def __init__(self, request: ResponsesRequest, response_id: str, created: int | None = None) -> None:
        self._request = request
        self._id = response_id
        self._created = created if created is not None else int(time.time())
        self._model = request.model
        self._sequence = 0
        self._started = False
        self._items = 0  # output items opened so far: the next one's output_index
        self._done: dict[int, Json] = {}  # finished items by output_index
        self._message: _Message | None = None
        self._calls: dict[int, _Call] = {}  # open calls by the chat stream's tool call index
        self._finish: str | None = None
        self._reasoning_tokens = 0

    # -- input --------------------------------------------------------------------------------------

    def feed(self, payloads: list[bytes]) -> list[bytes]:
        frames: list[bytes] = []
        for payload in payloads:
            chunk = _Chunk.model_validate_json(payload)
            if not self._started:
                self._model = chunk.model or self._model
                frames += self._start()
            for choice in chunk.choices:
                if choice.index == 0:
                    frames += self._choice(choice)
            if chunk.usage is not None:
                self._reasoning_tokens = chunk.usage.reasoning_tokens
        return frames

    def finish(self, usage: Usage) -> list[bytes]:
        """The closing events once the chat stream ended cleanly, with what the answer used."""
        frames = [] if self._started else self._start()
        frames += self._close_message()
        for call in sorted(self._calls.values(), key=lambda open_call: open_call.index):
            frames += self._close_call(call)
        self._calls.clear()
        status, incomplete = ending(self._finish)
        output = [self._done[index] for index in sorted(self._done)]
        now = int(time.time())
        response = self._response(status, output, usage_json(usage, self._reasoning_tokens), incomplete, now)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*frames, self._event(kind, response=response)]

    # -- pieces of the answer -----------------------------------------------------------------------

    def _start(self) -> list[bytes]:
        self._started = True
        response = self._response("in_progress", [], None, None, None)
        created = self._event("response.created", response=response)
        return [created, self._event("response.in_progress", response=response)]

    def _choice(self, choice: _ChunkChoice) -> list[bytes]:
        frames: list[bytes] = []
        delta = choice.delta
        if delta.content:
            frames += self._text("output_text", delta.content)
        if delta.refusal:
            frames += self._text("refusal", delta.refusal)
        for call in delta.tool_calls or ():
            frames += self._call_delta(call)
        if choice.finish_reason:
            self._finish = choice.finish_reason
        return frames

    def _text(self, kind: str, text: str) -> list[bytes]:
        frames: list[bytes] = []
        message = self._message
        if message is None:
            message = self._message = _Message(self._open_index(), new_id("msg"))
            item = message_item(message.id, [], "in_progress")
            frames.append(self._event("response.output_item.added", output_index=message.index, item=item))
        if not message.parts or message.parts[-1][0] != kind:
            if message.parts:
                frames += self._close_part(message)
            message.parts.append([kind, ""])
            frames.append(self._part_event("response.content_part.added", message, _part(kind, "")))
        message.parts[-1][1] += text
        event = "response.output_text.delta" if kind == "output_text" else "response.refusal.delta"
        extra: Json = {"logprobs": []} if kind == "output_text" else {}
        frames.append(self._part_event(event, message, delta=text, **extra))
        return frames

    def _call_delta(self, delta: _DeltaCall) -> list[bytes]:
        frames = self._close_message()  # text comes before calls in a chat answer
        call = self._calls.get(delta.index)
        function = delta.function or _DeltaFunction()
        if call is None:
            call = _Call(self._open_index(), new_id("fc"), delta.id or new_id("call"), function.name or "")
            self._calls[delta.index] = call
            item = call_item(call.id, call.call_id, call.name, "", "in_progress")
            frames.append(self._event("response.output_item.added", output_index=call.index, item=item))
        if function.arguments:
            call.arguments += function.arguments
            frames.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=call.id,
                    output_index=call.index,
                    delta=function.arguments,
                )
            )
        return frames

    # -- closing items ------------------------------------------------------------------------------

    def _close_message(self) -> list[bytes]:
        message, self._message = self._message, None
        if message is None:
            return []
        frames = self._close_part(message)
        status, _ = ending(self._finish)
        item = message_item(message.id, [_part(kind, text) for kind, text in message.parts], status)
        self._done[message.index] = item
        frames.append(self._event("response.output_item.done", output_index=message.index, item=item))
        return frames

    def _close_part(self, message: _Message) -> list[bytes]:
        kind, text = message.parts[-1]
        if kind == "output_text":
            done = self._part_event("response.output_text.done", message, text=text, logprobs=[])
        else:
            done = self._part_event("response.refusal.done", message, refusal=text)
        return [done, self._part_event("response.content_part.done", message, _part(kind, text))]

    def _close_call(self, call: _Call) -> list[bytes]:
        item = call_item(call.id, call.call_id, call.name, call.arguments, "completed")
        self._done[call.index] = item
        return [
            self._event(
                "response.function_call_arguments.done",
                item_id=call.id,
                output_index=call.index,
                arguments=call.arguments,
            ),
            self._event("response.output_item.done", output_index=call.index, item=item),
        ]

    # -- framing ------------------------------------------------------------------------------------

    def _open_index(self) -> int:
        index = self._items
        self._items += 1
        return index

    def _response(
        self, status: str, output: list[Json], usage: Json | None, incomplete: Json | None, completed_at: int | None
    ) -> Json:
        return response_object(
            self._request,
            self._id,
            self._created,
            self._model,
            status=status,
            output=output,
            usage=usage,
            incomplete=incomplete,
            completed_at=completed_at,
        )

    def _part_event(self, kind: str, message: _Message, part: Json | None = None, **fields: Any) -> bytes:
        if part is not None:
            fields["part"] = part
        content_index = len(message.parts) - 1
        return self._event(kind, item_id=message.id, output_index=message.index, content_index=content_index, **fields)

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event_frame(kind, orjson.dumps(payload))


def _part(kind: str, text: str) -> Json:
    return text_part(text) if kind == "output_text" else {"type": "refusal", "refusal": text}
