"""OpenAI ``chat.completion.chunk`` payloads in, Anthropic Messages stream events out.

The event sequence is Anthropic's: ``message_start``; for each content block ``content_block_start``,
its deltas (``text_delta``, ``input_json_delta``, ``thinking_delta``, ``signature_delta``) and
``content_block_stop``; one ``ping`` after the first block opens, as Anthropic sends it;
``message_delta`` with the stop reason and the usage; ``message_stop``. Blocks follow each other as
the deltas change kind (reasoning, text, a new tool call), each closed before the next opens.

Usage comes from the stream as the gateway metered it (``AnswerStream.usage``), not from usage chunks:
``message_start`` carries what is known when the first chunk arrives (an Anthropic upstream has told
its input tokens by then, OpenAI-shaped ones tell nothing until the end), ``message_delta`` the final
counts. A chunk that names the matched stop sequence (vLLM's ``stop_reason``, which the Anthropic
wire writes too) makes the stop reason ``stop_sequence``.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from api_connector.core.usage import Usage
from api_connector.wire.anthropic_ingress import stop_reason, usage_json
from api_connector.wire.anthropic_ingress_types import Answer, AnswerMessage, ToolCall

JSON = dict[str, Any]
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def event_frame(name: str, data: JSON) -> bytes:
    """One SSE event: its name on the ``event:`` line (Anthropic's SDKs skip events without one)."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def error_frame(body: JSON) -> bytes:
    """An ``error`` event: the stream failed after it began (``body`` is the Anthropic error object)."""
    return event_frame("error", body)


class AnthropicEventStream:
    """Turns one answer's OpenAI chunks into Anthropic events; ``feed`` per batch, ``finish`` once."""

    __slots__ = (
        "_block",
        "_fallback_id",
        "_finish",
        "_index",
        "_matched",
        "_model",
        "_pinged",
        "_refused",
        "_started",
        "_stops",
        "_tools",
        "_used_tools",
    )

    def __init__(self, fallback_id: str, model: str, stop_sequences: list[str] | None) -> None:
        self._fallback_id = fallback_id  # when the upstream's chunks carry no id
        self._model = model
        self._stops = stop_sequences
        self._started = False
        self._pinged = False
        self._index = -1  # the last block opened
        self._block: str | None = None  # the open block's kind
        self._tools: dict[int, int] = {}  # OpenAI tool call index -> content block index
        self._used_tools = False
        self._refused = False
        self._finish: str | None = None
        self._matched: str | int | None = None

    def feed(self, payloads: list[bytes], usage: Usage) -> bytes:
        """The events for one batch of chunk payloads (``usage``: the stream's, so far)."""
        out: list[bytes] = []
        for payload in payloads:
            try:
                chunk = Answer.model_validate_json(payload)
            except ValidationError:
                continue  # not a chunk (the OpenAI wire lets only chunks through): nothing to say
            if not self._started:
                out.append(self._message_start(chunk, usage))
            choice = chunk.first()
            if choice is None:
                continue  # a usage chunk: usage is read from the stream at the end
            if choice.delta is not None:
                self._delta(choice.delta, out)
            if choice.finish_reason is not None:
                self._finish = choice.finish_reason
            if choice.stop_reason is not None:
                self._matched = choice.stop_reason
        return b"".join(out)

    def finish(self, usage: Usage) -> bytes:
        """The closing events once the answer ended cleanly (``usage``: final)."""
        out = [] if self._started else [self._message_start(Answer(), usage)]
        self._close(out)
        stop, sequence = stop_reason(
            self._finish, self._matched, self._stops, tool_use=self._used_tools, refused=self._refused
        )
        final = usage_json(usage)
        out.append(
            event_frame(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": sequence},
                    # Cumulative, as Anthropic's are; null cache writes are left as message_start had them.
                    "usage": {key: value for key, value in final.items() if value is not None},
                },
            )
        )
        out.append(event_frame("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def _message_start(self, chunk: Answer, usage: Usage) -> bytes:
        self._started = True
        self._model = chunk.model or self._model
        message: JSON = {
            "id": chunk.id or self._fallback_id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(usage),
        }
        return event_frame("message_start", {"type": "message_start", "message": message})

    def _delta(self, delta: AnswerMessage, out: list[bytes]) -> None:
        thinking = delta.thinking()
        if thinking:
            self._open("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            out.append(self._block_delta({"type": "thinking_delta", "thinking": thinking}))
        signature = delta.signature()
        if signature and self._block == "thinking":
            out.append(self._block_delta({"type": "signature_delta", "signature": signature}))
        text = delta.text() or delta.refusal or ""
        if delta.refusal:
            self._refused = True
        if text:
            self._open("text", {"type": "text", "text": ""}, out)
            out.append(self._block_delta({"type": "text_delta", "text": text}))
        for call in delta.tool_calls or ():
            self._tool_delta(call, out)

    def _tool_delta(self, call: ToolCall, out: list[bytes]) -> None:
        function = call.function
        arguments = function.arguments if function is not None else None
        index = self._tools.get(call.index)
        if index is None:
            name = function.name if function is not None and function.name else ""
            block = {"type": "tool_use", "id": call.id or f"{self._fallback_id}_tool_{call.index}", "name": name}
            self._open("tool_use", {**block, "input": {}}, out, force=True)
            index = self._tools[call.index] = self._index
            self._used_tools = True
            if arguments is None:
                return
        elif not arguments:
            return
        # A delta for a call that is no longer the open block (interleaved parallel calls, which OpenAI
        # does not send) still names its own block's index.
        out.append(self._block_delta({"type": "input_json_delta", "partial_json": arguments}, index))

    def _open(self, kind: str, block: JSON, out: list[bytes], *, force: bool = False) -> None:
        if self._block == kind and not force:
            return
        self._close(out)
        self._index += 1
        self._block = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        out.append(event_frame("content_block_start", start))
        if not self._pinged:
            self._pinged = True
            out.append(_PING)

    def _close(self, out: list[bytes]) -> None:
        if self._block is not None:
            out.append(event_frame("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._block = None

    def _block_delta(self, delta: JSON, index: int | None = None) -> bytes:
        at = self._index if index is None else index
        return event_frame("content_block_delta", {"type": "content_block_delta", "index": at, "delta": delta})
