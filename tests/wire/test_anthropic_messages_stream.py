"""The Anthropic Messages stream translator, fed with recorded Anthropic event streams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.wire.anthropic_messages import ANTHROPIC_MESSAGES, AnthropicMessagesStream
from api_connector.wire.sse import SSEEvent, SSEParser
from tests.recorded import RECORDED, load_cassette, load_stream, sse_events, stream_interaction
from tests.replay_upstream import replay_upstream
from tests.wire.openai_chunks import accumulate

ANTHROPIC = RECORDED / "anthropic"
SDK_STREAMS = sorted((ANTHROPIC / "sdk_streams").glob("*.txt"))
CASSETTE_STREAMS = [
    ANTHROPIC / "test_anthropic_model_thinking_part_stream.yaml",
    ANTHROPIC / "test_anthropic_model_thinking_part_redacted_stream.yaml",
    ANTHROPIC / "test_request_stream_fallback_for_high_max_tokens.yaml",
]


def request(messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return ChatRequest.from_json_obj({"model": "route", "messages": messages, **fields})


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def stream_body(path: Path) -> bytes:
    if path.suffix == ".txt":
        return load_stream(path)
    (interaction,) = load_cassette(path)
    assert interaction.response.is_sse
    return interaction.response.body


def translate(
    body: bytes, include_usage: bool = False
) -> tuple[list[dict[str, Any]], AnthropicMessagesStream]:
    fields: dict[str, Any] = {"stream": True}
    if include_usage:
        fields["stream_options"] = {"include_usage": True}
    translator = ANTHROPIC_MESSAGES.stream_translator(request([user("hi")], **fields))
    payloads = [payload for event in sse_events(body) for payload in translator.feed(event)]
    payloads += translator.finish()
    for payload in payloads:
        ChatCompletionChunk.model_validate_json(payload)  # every chunk is what the OpenAI SDK expects
    return [orjson.loads(payload) for payload in payloads], translator


@pytest.mark.parametrize("path", SDK_STREAMS + CASSETTE_STREAMS, ids=lambda p: p.stem)
def test_every_recorded_stream_translates_to_well_formed_chunks(path: Path) -> None:
    chunks, translator = translate(stream_body(path), include_usage=True)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] is not None and finishes.count(None) == len(finishes) - 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == translator.state.usage.as_openai()
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"].startswith("msg_")
    assert translator.state.done and translator.state.error is None


def test_text_stream() -> None:
    chunks, translator = translate(load_stream(ANTHROPIC / "sdk_streams" / "basic_response.txt"))
    completion = accumulate(chunks)
    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "claude-3-opus-latest"
    assert translator.state.usage == Usage(input_tokens=11, output_tokens=6)
    assert all(c["choices"] for c in chunks)  # the caller did not ask for the usage chunk


def test_tool_use_stream() -> None:
    chunks, translator = translate(load_stream(ANTHROPIC / "sdk_streams" / "tool_use_response.txt"), True)
    tool_deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in _delta(c)]
    assert tool_deltas[0] == {
        "index": 0,
        "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert all(set(d) == {"index", "function"} and d["index"] == 0 for d in tool_deltas[1:])
    completion = accumulate(chunks)
    message = completion.choices[0].message
    assert message.content == "I'll check the current weather in Paris for you."
    assert message.tool_calls is not None
    assert orjson.loads(message.tool_calls[0].function.arguments) == {"location": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert chunks[-1]["usage"] == {"prompt_tokens": 377, "completion_tokens": 65, "total_tokens": 442}
    assert translator.state.finish_reason == "tool_calls"


def _delta(chunk: dict[str, Any]) -> dict[str, Any]:
    return chunk["choices"][0]["delta"] if chunk["choices"] else {}


def test_refusal_stream_ends_with_content_filter() -> None:
    chunks, translator = translate(load_stream(ANTHROPIC / "sdk_streams" / "refusal_response.txt"))
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "content_filter"
    assert translator.state.finish_reason == "content_filter"
    assert accumulate(chunks).choices[0].message.content in ("", None)


def test_stream_cut_by_max_tokens_keeps_partial_arguments() -> None:
    chunks, translator = translate(
        load_stream(ANTHROPIC / "sdk_streams" / "incomplete_partial_json_response.txt")
    )
    arguments = "".join(
        _delta(c)["tool_calls"][0]["function"]["arguments"] for c in chunks if "tool_calls" in _delta(c)
    )
    assert arguments.startswith('{"filename": "taxes.txt", "lines_of_text": [')
    assert translator.state.finish_reason == "length"
    assert translator.state.usage == Usage(input_tokens=450, output_tokens=124)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "test_anthropic_model_thinking_part_stream.yaml",
            "Here are the basic steps for safely crossing the",
        ),
        ("test_anthropic_model_thinking_part_redacted_stream.yaml", "I notice that you've sent what appears"),
    ],
)
def test_thinking_is_left_out_of_streams(name: str, text: str) -> None:
    chunks, _ = translate(stream_body(ANTHROPIC / name))
    content = accumulate(chunks).choices[0].message.content or ""
    assert content.startswith(text)
    assert "straightforward question" not in content


def test_unknown_block_types_are_skipped() -> None:
    for name in ("compaction_response.txt", "fallback_response.txt", "fallback_credit_response.txt"):
        chunks, _ = translate(load_stream(ANTHROPIC / "sdk_streams" / name))
        assert accumulate(chunks).choices[0].message.content == "Hello there!"


def test_stream_usage_from_message_delta_overrides_message_start() -> None:
    _, translator = translate(stream_body(ANTHROPIC / "test_anthropic_model_thinking_part_stream.yaml"))
    assert translator.state.usage == Usage(input_tokens=43, output_tokens=282)


def test_usage_chunk_is_owed_when_the_stream_ends_early() -> None:
    events = [e for e in sse_events(load_stream(ANTHROPIC / "sdk_streams" / "basic_response.txt"))]
    translator = ANTHROPIC_MESSAGES.stream_translator(
        request([user("hi")], stream=True, stream_options={"include_usage": True})
    )
    for event in events[:-1]:  # no message_stop
        translator.feed(event)
    assert not translator.state.done
    (usage_chunk,) = translator.finish()
    assert orjson.loads(usage_chunk)["usage"]["completion_tokens"] == 6
    assert translator.finish() == []  # owed once


def test_error_event_and_garbage_set_the_stream_error() -> None:
    translator = ANTHROPIC_MESSAGES.stream_translator(request([user("hi")], stream=True))
    data = '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    assert translator.feed(SSEEvent(data=data, event="error")) == []
    assert translator.state.error is not None
    assert (translator.state.error.type, translator.state.error.message) == ("overloaded_error", "Overloaded")

    translator = ANTHROPIC_MESSAGES.stream_translator(
        request([user("hi")], stream=True, stream_options={"include_usage": True})
    )
    assert translator.feed(SSEEvent(data="{not json")) == []
    assert translator.state.error is not None
    assert translator.finish() == []  # nothing started, nothing owed


async def test_stream_replayed_over_http_in_pieces_translates_the_same() -> None:
    # The replay server cuts the body at arbitrary bytes; reading it line by line must not notice.
    path = ANTHROPIC / "sdk_streams" / "tool_use_response.txt"
    caller = request([user("weather?")], stream=True)
    sent = ANTHROPIC_MESSAGES.encode_request(caller, "claude-sonnet-4-0")
    recorded = stream_interaction(path, uri="https://api.anthropic.com/v1/messages")
    async with replay_upstream([recorded], sse_pieces=7) as server, aiohttp.ClientSession() as session:
        url = server.rebase("https://api.anthropic.com") + "/v1/messages"
        async with session.post(url, data=sent, headers={"content-type": "application/json"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            parser, translator = SSEParser(), ANTHROPIC_MESSAGES.stream_translator(caller)
            payloads = [p async for line in response.content for p in _feed_line(parser, translator, line)]
    last = parser.close()  # the recording ends without the blank line after message_stop
    payloads += translator.feed(last) if last is not None else []
    assert translator.state.done
    assert [_timeless(p) for p in payloads] == [_timeless(p) for p in translate(load_stream(path))[0]]
    (received,) = server.received
    assert (received.method, received.path, received.body["model"]) == (
        "POST",
        "/v1/messages",
        "claude-sonnet-4-0",
    )
    assert server.remaining == [] and server.unexpected == []


def _timeless(chunk: bytes | dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(chunk) if isinstance(chunk, bytes) else dict(chunk)
    parsed.pop("created")  # two translators, two clocks
    return parsed


def _feed_line(parser: SSEParser, translator: AnthropicMessagesStream, line: bytes) -> list[bytes]:
    event = parser.feed_line(line)
    return translator.feed(event) if event is not None else []
