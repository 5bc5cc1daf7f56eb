"""What the conformance suite needs besides its table: calling the gateway with the official SDK and
reading what the client got back, plus an oracle for long recorded answers.

The client is always ``openai.AsyncOpenAI``: the replay upstream runs on the test's event loop, so a
blocking client would stall the very server the gateway is waiting on.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai
import orjson
from botocore.eventstream import EventStreamBuffer
from openai.resources.chat.completions import AsyncCompletions
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

from tests.recorded import RecordedResponse, sse_events

if TYPE_CHECKING:
    from tests.conformance.cases import Failure

# Request fields the SDK takes as keyword arguments; anything else a recording sent goes in extra_body.
_SDK_PARAMS = frozenset(inspect.signature(AsyncCompletions.create).parameters) - {
    "self", "extra_headers", "extra_query", "extra_body", "timeout",
}

UsageTuple = tuple[int, int, int, int]  # prompt, completion, total, cached


@dataclass
class Reply:
    """What the client received for one successful call, streamed or not, in one comparable form."""

    id: str
    model: str
    text: str
    tool_calls: list[tuple[str, str, str]]  # (id, name, raw JSON arguments), in index order
    finish_reason: str | None
    usage: UsageTuple | None
    # Every body and header value the gateway answered with, for the no-secret check.
    wire: list[str] = field(default_factory=list)
    # Streams only: how many chunks carried a finish reason / usage, and whether usage came after the finish.
    finish_chunks: int = 0
    usage_chunks: int = 0
    usage_after_finish: bool = True
    usage_chunk_has_choices: bool = False
    broken: openai.APIError | None = None  # streams: the error raised after the first chunks

    def as_message(self) -> dict[str, Any]:
        """The assistant turn as a client sends it back in the next request of a conversation."""
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in self.tool_calls
            ]
        return message


def sdk_arguments(request: dict[str, Any], model: str) -> dict[str, Any]:
    """``chat.completions.create`` keyword arguments sending exactly ``request`` (with ``model``)."""
    arguments = {key: value for key, value in request.items() if key in _SDK_PARAMS}
    extra = {key: value for key, value in request.items() if key not in _SDK_PARAMS}
    arguments["model"] = model
    if extra:
        arguments["extra_body"] = extra
    return arguments


def _usage(usage: CompletionUsage | None) -> UsageTuple | None:
    if usage is None:
        return None
    details = usage.prompt_tokens_details
    cached = details.cached_tokens if details is not None and details.cached_tokens is not None else 0
    return usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, cached


async def complete(client: openai.AsyncOpenAI, arguments: dict[str, Any]) -> Reply:
    """One non-streamed call; raises the SDK's APIStatusError subclass on an error answer."""
    raw = await client.chat.completions.with_raw_response.create(**arguments)
    completion: ChatCompletion = raw.parse()
    choice = completion.choices[0]
    calls = [
        (call.id, call.function.name, call.function.arguments)
        for call in choice.message.tool_calls or []
        if call.type == "function"
    ]
    return Reply(
        id=completion.id,
        model=completion.model,
        text=choice.message.content or "",
        tool_calls=calls,
        finish_reason=choice.finish_reason,
        usage=_usage(completion.usage),
        wire=[raw.http_response.text, *raw.headers.values()],
    )


async def stream(client: openai.AsyncOpenAI, arguments: dict[str, Any]) -> Reply:
    """One streamed call, its deltas assembled as a client does."""
    chunks = await client.chat.completions.create(**arguments)
    reply = Reply(id="", model="", text="", tool_calls=[], finish_reason=None, usage=None,
                  wire=list(chunks.response.headers.values()))
    text: list[str] = []
    calls: dict[int, list[str]] = {}
    ids: set[str] = set()
    try:
        async for chunk in chunks:
            _take_chunk(reply, chunk, text, calls)
            ids.add(chunk.id)
    except openai.APIError as error:  # the gateway's error event after bytes were sent
        reply.broken = error
        reply.wire += [error.message, json.dumps(error.body)]
    assert len(ids) == 1, f"every chunk of one answer carries the same id, got {ids}"
    reply.id = ids.pop()
    reply.text = "".join(text)
    reply.tool_calls = [(c[0], c[1], c[2]) for _, c in sorted(calls.items())]
    return reply


def _take_chunk(reply: Reply, chunk: ChatCompletionChunk, text: list[str], calls: dict[int, list[str]]) -> None:
    reply.wire.append(chunk.model_dump_json())
    reply.model = reply.model or chunk.model
    for choice in chunk.choices:
        if choice.finish_reason is not None:
            reply.finish_chunks += 1
            reply.finish_reason = choice.finish_reason
        delta = choice.delta
        if delta.content:
            text.append(delta.content)
        for call in delta.tool_calls or []:
            slot = calls.setdefault(call.index, ["", "", ""])
            if call.id:
                assert slot[0] in ("", call.id), f"tool call {call.index} changed its id"
                slot[0] = call.id
            if call.function is not None:
                if call.function.name:
                    assert slot[1] in ("", call.function.name), f"tool call {call.index} changed its name"
                    slot[1] = call.function.name
                slot[2] += call.function.arguments or ""
    # Read after the choices: a vendor may give the usage on the chunk with the finish reason (Perplexity).
    if chunk.usage is not None:
        reply.usage_chunks += 1
        reply.usage = _usage(chunk.usage)
        reply.usage_after_finish = reply.usage_after_finish and reply.finish_chunks > 0
        reply.usage_chunk_has_choices = reply.usage_chunk_has_choices or bool(chunk.choices)


def check_failure(failure: Failure, error: openai.APIStatusError, provider: str) -> None:
    """The client got the provider's failure as the SDK's own exception, with what the provider said."""
    assert type(error) is failure.error, f"{type(error).__name__}: {error}"
    assert error.status_code == failure.status
    body = error.body
    assert isinstance(body, dict)
    assert body["message"] == failure.message, "the provider's own message reaches the caller"
    assert failure.code is None or body.get("code") == failure.code
    assert body.get("provider") == provider
    assert error.param == failure.param
    details = body.get("details") or {}
    assert (details.get("upstream_type"), details.get("upstream_code")) == (
        failure.upstream_type, failure.upstream_code,
    )


# -- the oracle: what a recorded answer says, read straight from the vendor's JSON ---------------------


@dataclass(frozen=True)
class RecordedAnswer:
    id: str | None  # None (with the model): the vendor names neither, the gateway's own stand in
    model: str | None
    text: str


def recorded_answer(responses: list[RecordedResponse], wire: str) -> RecordedAnswer:
    """The id, model and visible text of a recorded answer (thinking is not text), for each wire.

    ``responses``: what one step consumed, the answer last (a job's creation, stream and final state
    for Replicate).
    """
    if wire == "replicate_predictions":
        return _replicate_answer(responses)
    response = responses[-1]
    if wire == "bedrock_converse":
        return _bedrock_answer(response)
    events = _events(response)
    if wire == "anthropic_messages":
        return _anthropic_answer(events, streamed=response.is_sse)
    if wire == "gemini_chat":
        return _gemini_answer(events)
    if wire == "cohere_chat":
        return _cohere_answer(events, streamed=response.is_sse)
    # The first chunk that names the answer: Azure annotates the prompt in a chunk without an id first.
    first = next((event for event in events if event.get("id")), events[0])
    if response.is_sse:
        text = "".join(_text(c["delta"].get("content")) for e in events for c in e["choices"])
    else:
        text = _text(first["choices"][0]["message"].get("content"))
    return RecordedAnswer(first["id"], first["model"], text)


def _events(response: RecordedResponse) -> list[dict[str, Any]]:
    if not response.is_sse:
        return [response.json()]
    return [orjson.loads(event.data) for event in sse_events(response.body) if event.data and event.data != "[DONE]"]


def _text(content: str | list[dict[str, Any]] | None) -> str:
    """Content as text; given as parts (Mistral's thinking models), the text parts only."""
    if isinstance(content, list):
        return "".join(part["text"] for part in content if part.get("type") == "text")
    return content or ""


def _cohere_answer(events: list[dict[str, Any]], *, streamed: bool) -> RecordedAnswer:
    """Cohere names no model: the gateway answers with the one the caller asked for."""
    if not streamed:
        (answer,) = events
        message = answer["message"]
        text = "".join(part["text"] for part in message.get("content", []) if part["type"] == "text")
        if message.get("tool_calls") and message.get("tool_plan"):
            text = message["tool_plan"] + text  # the assistant's words beside its tool calls
        return RecordedAnswer(answer["id"], None, text)
    start = next(event for event in events if event["type"] == "message-start")
    text = "".join(
        event["delta"]["message"]["content"].get("text", "") if event["type"] == "content-delta"
        else event["delta"]["message"]["tool_plan"]
        for event in events if event["type"] in ("content-delta", "tool-plan-delta")
    )
    return RecordedAnswer(start["id"], None, text)


def _replicate_answer(responses: list[RecordedResponse]) -> RecordedAnswer:
    prediction = responses[0].json() if responses[0].status < 300 else responses[-1].json()
    streamed = [response for response in responses if response.is_sse]
    if streamed:
        text = "".join(event.data for event in sse_events(streamed[0].body) if event.event == "output")
    else:
        prediction = responses[-1].json()
        output = prediction["output"]
        text = "".join(output) if isinstance(output, list) else output
    return RecordedAnswer(prediction["id"], prediction["model"], text)


def _anthropic_answer(events: list[dict[str, Any]], *, streamed: bool) -> RecordedAnswer:
    if not streamed:
        (message,) = events
        text = "".join(block["text"] for block in message["content"] if block["type"] == "text")
        return RecordedAnswer(message["id"], message["model"], text)
    start = next(event["message"] for event in events if event["type"] == "message_start")
    text = "".join(
        event["delta"]["text"] for event in events
        if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta"
    )
    return RecordedAnswer(start["id"], start["model"], text)


def _gemini_answer(events: list[dict[str, Any]]) -> RecordedAnswer:
    """A whole answer or the events of a stream alike: each a slice of the first candidate's parts."""
    text = "".join(
        part.get("text") or ""
        for event in events
        for candidate in event.get("candidates", [])
        if candidate.get("index", 0) == 0
        for part in (candidate.get("content") or {}).get("parts", [])
        if not part.get("thought") and "functionCall" not in part
    )
    return RecordedAnswer(events[0]["responseId"], events[0]["modelVersion"], text)
def _bedrock_answer(response: RecordedResponse) -> RecordedAnswer:
    """Converse's text blocks, or ConverseStream's text deltas read with botocore's own event-stream parser
    (not the gateway's decoder). Bedrock names no id and no model."""
    if not response.is_event_stream:
        blocks = response.json()["output"]["message"]["content"]
        return RecordedAnswer(None, None, "".join(block.get("text", "") for block in blocks))
    buffer = EventStreamBuffer()
    buffer.add_data(response.body)
    events = [
        orjson.loads(message.payload) for message in buffer if message.headers.get(":event-type") == "contentBlockDelta"
    ]
    return RecordedAnswer(None, None, "".join(event["delta"].get("text", "") for event in events))
