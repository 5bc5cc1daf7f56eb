"""The Anthropic ingress stream: OpenAI chunks in, Anthropic events out, fed with recorded streams.

Recorded Anthropic streams go through the Anthropic provider wire (to OpenAI chunks) and back: the
events must be the recording's, type for type, and the official SDK must assemble the same message
from both. Recorded OpenAI-shaped streams must come out with the event sequence a real Anthropic
stream has for the same content.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.wire.anthropic_ingress import chat_request
from api_connector.wire.anthropic_ingress_stream import AnthropicEventStream, error_frame
from api_connector.wire.anthropic_ingress_types import MessagesRequest
from api_connector.wire.anthropic_messages import ANTHROPIC_MESSAGES
from api_connector.wire.base import ChatWire
from api_connector.wire.openai_chat import OPENAI_CHAT
from tests.anthropic_shapes import Event, assemble, blocks, collapsed, parse, shape
from tests.conformance.cases import CONFORMANCE_DATA
from tests.recorded import RECORDED, load_cassette, load_stream, sse_events

SDK_STREAMS = RECORDED / "anthropic" / "sdk_streams"


def streamed_request(stop_sequences: list[str] | None = None) -> ChatRequest:
    return chat_request(MessagesRequest.model_validate({
        "model": "route", "max_tokens": 100, "stream": True, "stop_sequences": stop_sequences,
        "messages": [{"role": "user", "content": "Hello"}],
    }))


def relay(body: bytes, wire: ChatWire) -> list[Event]:
    """A recorded stream through ``wire``'s translator (vendor events to OpenAI chunks), then through
    the ingress, one upstream event at a time as the gateway reads them; the events a client gets."""
    request = streamed_request()
    translator = wire.stream_translator(request)
    events = AnthropicEventStream("msg_fallback", "route", None)
    out = b""
    for event in sse_events(body):
        out += events.feed(translator.feed(event), translator.state.usage)
    out += events.feed(translator.finish(), translator.state.usage)
    out += events.finish(translator.state.usage)
    return parse(out)


def recorded_events(name: str) -> list[Event]:
    return parse(load_stream(SDK_STREAMS / name))


# -- Anthropic upstream: translated twice -----------------------------------------------------------


@pytest.mark.parametrize("name", ["basic_response.txt", "tool_use_response.txt"])
def test_the_event_sequence_is_the_recorded_one(name: str) -> None:
    recorded = recorded_events(name)
    mine = relay(load_stream(SDK_STREAMS / name), ANTHROPIC_MESSAGES)
    assert shape(mine) == shape(recorded)
    assert [e.get("index") for e in mine] == [e.get("index") for e in recorded]


@pytest.mark.parametrize("name", sorted(path.name for path in SDK_STREAMS.glob("*.txt")))
def test_the_sdk_assembles_the_recorded_message(name: str) -> None:
    recorded = assemble(recorded_events(name))
    mine = assemble(relay(load_stream(SDK_STREAMS / name), ANTHROPIC_MESSAGES))
    assert (mine.id, mine.model, mine.stop_reason, mine.stop_sequence) == (
        recorded.id, recorded.model, recorded.stop_reason, recorded.stop_sequence)
    assert (mine.usage.input_tokens, mine.usage.output_tokens) == (
        recorded.usage.input_tokens, recorded.usage.output_tokens)
    # Blocks the OpenAI shape has no room for are lost (fallback and compaction markers, an empty
    # text block before a refusal); text and tool use are not.
    expected = [b for b in blocks(recorded) if not (b["type"] == "text" and not b["text"])]
    assert blocks(mine) == expected


def test_message_start_carries_the_input_tokens_an_anthropic_upstream_told() -> None:
    mine = relay(load_stream(SDK_STREAMS / "tool_use_response.txt"), ANTHROPIC_MESSAGES)
    assert mine[0]["message"]["usage"]["input_tokens"] == 377
    assert mine[-2]["usage"] == {"input_tokens": 377, "output_tokens": 65, "cache_read_input_tokens": 0}


def test_thinking_blocks_are_lost_on_the_way_and_the_rest_is_kept() -> None:
    (interaction,) = load_cassette(RECORDED / "anthropic/test_anthropic_model_thinking_part_stream.yaml")
    recorded = assemble(parse(interaction.response.body))
    mine = assemble(relay(interaction.response.body, ANTHROPIC_MESSAGES))
    assert [b["type"] for b in blocks(recorded)] == ["thinking", "text"]
    assert blocks(mine) == blocks(recorded)[1:]
    assert mine.stop_reason == recorded.stop_reason


# -- OpenAI-shaped upstreams -----------------------------------------------------------------------


def test_an_openai_text_stream_has_the_event_sequence_of_an_anthropic_one() -> None:
    _, text = load_cassette(RECORDED / "openai/test_run_stream_sync_streams_real_model.yaml")
    mine = relay(text.response.body, OPENAI_CHAT)
    assert collapsed(mine) == collapsed(recorded_events("basic_response.txt"))
    message = assemble(mine)
    assert blocks(message) == [{"type": "text", "text": "The capital of the UK is London."}]
    assert (message.stop_reason, message.usage.input_tokens, message.usage.output_tokens) == ("end_turn", 78, 9)


def test_an_openai_tool_call_stream_has_the_events_of_an_anthropic_tool_use_block() -> None:
    tool_call, _ = load_cassette(RECORDED / "openai/test_run_stream_sync_streams_real_model.yaml")
    mine = relay(tool_call.response.body, OPENAI_CHAT)
    recorded = recorded_events("tool_use_response.txt")
    # The recorded stream has a text block before its tool use; the OpenAI answer only the tool call.
    tool_block = next(i for i, e in enumerate(recorded) if e.get("content_block", {}).get("type") == "tool_use")
    expected = [("message_start", None), ("content_block_start", "tool_use"), ("ping", None)]
    assert collapsed(mine) == expected + collapsed(recorded[tool_block + 1:])
    message = assemble(mine)
    assert blocks(message) == [{"type": "tool_use", "id": "call_ZR5UUuTt3pf61kjwAJIYdVMj", "name": "get_capital",
                                "input": {"country": "UK"}}]
    assert message.stop_reason == "tool_use"


def test_reasoning_of_an_openai_compatible_vendor_becomes_a_thinking_block() -> None:
    (interaction,) = load_cassette(CONFORMANCE_DATA / "openai_compatible/test_openrouter_streaming_reasoning.yaml")
    chunks = [orjson.loads(e.raw) for e in sse_events(interaction.response.body) if e.raw and e.raw != b"[DONE]"]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = "".join(d.get("reasoning") or "" for d in deltas)
    signature = "".join(r.get("signature") or "" for d in deltas for r in d.get("reasoning_details") or [])
    mine = relay(interaction.response.body, OPENAI_CHAT)
    assert collapsed(mine) == [
        ("message_start", None), ("content_block_start", "thinking"), ("ping", None),
        ("content_block_delta", "thinking_delta"), ("content_block_delta", "signature_delta"),
        ("content_block_stop", None), ("content_block_start", "text"), ("content_block_delta", "text_delta"),
        ("content_block_stop", None), ("message_delta", None), ("message_stop", None),
    ]
    assert blocks(assemble(mine)) == [
        {"type": "thinking", "thinking": reasoning, "signature": signature},
        {"type": "text", "text": "2 + 2 = 4"},
    ]


# -- the edges -------------------------------------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, **choice: Any) -> bytes:
    return orjson.dumps({"id": "c1", "model": "m", "choices": [
        {"index": 0, "delta": delta, "finish_reason": finish, **choice}]})


def test_a_matched_stop_sequence_and_the_usage_close_the_stream() -> None:
    events = AnthropicEventStream("msg_x", "route", ["END"])
    out = events.feed([_chunk({"role": "assistant", "content": "Hi"}), _chunk({}, "stop", stop_reason="END")],
                      Usage())
    out += events.finish(Usage(12, 3, 10))
    parsed = parse(out)
    assert parsed[0]["message"]["usage"]["input_tokens"] == 0  # nothing known yet from an OpenAI upstream
    assert parsed[-2] == {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "END"},
                          "usage": {"input_tokens": 2, "output_tokens": 3, "cache_read_input_tokens": 10}}


def test_an_empty_answer_still_starts_and_ends_a_message() -> None:
    events = AnthropicEventStream("msg_x", "route", None)
    parsed = parse(events.finish(Usage(5, 0)))
    assert shape(parsed) == [("message_start", None), ("message_delta", None), ("message_stop", None)]
    assert (parsed[0]["message"]["id"], parsed[0]["message"]["model"]) == ("msg_x", "route")


def test_parallel_tool_calls_are_blocks_one_after_another() -> None:
    events = AnthropicEventStream("msg_x", "route", None)
    calls = [
        _chunk({"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
        _chunk({"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": '{"y": 2}'}}]}),
        _chunk({}, "tool_calls"),
    ]
    message = assemble(parse(events.feed(calls, Usage()) + events.finish(Usage())))
    assert blocks(message) == [{"type": "tool_use", "id": "a", "name": "f", "input": {"x": 1}},
                               {"type": "tool_use", "id": "b", "name": "g", "input": {"y": 2}}]
    assert message.stop_reason == "tool_use"


def test_an_error_is_an_error_event() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert error_frame(body) == b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"



def test_a_streamed_stop_sequence_survives_both_translations() -> None:
    """The documented basic stream's events, ended by a stop sequence (no recording shows one)."""
    events = [
        {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5",
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 25, "output_tokens": 1},
        }},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "\n\nHuman:"},
         "usage": {"output_tokens": 15}},
        {"type": "message_stop"},
    ]
    body = b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)
    translator = ANTHROPIC_MESSAGES.stream_translator(streamed_request(["\n\nHuman:"]))
    ingress = AnthropicEventStream("msg_fallback", "route", ["\n\nHuman:"])
    out = b"".join(ingress.feed(translator.feed(e), translator.state.usage) for e in sse_events(body))
    message = assemble(parse(out + ingress.finish(translator.state.usage)))
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "\n\nHuman:")
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25, 15)
