"""The OpenAI wire in a declared dialect, as Mistral speaks it, on recorded Mistral traffic (pydantic-ai,
vercel-ai) and on the error bodies Mistral is reported to answer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.providers.mistral import MISTRAL_CHAT
from api_connector.wire.openai_dialect import ChatDialect
from api_connector.wire.openai_drift import DriftingChatWire, decode_flat_error
from api_connector.wire.sse import SSEEvent
from tests.recorded import RECORDED, load_cassette, load_stream, sse_events

MISTRAL = RECORDED / "mistral"
VERCEL = RECORDED / "vercel-ai"


def request(body: dict[str, Any]) -> ChatRequest:
    return ChatRequest.from_json_obj(body)


def encoded(body: dict[str, Any], model: str = "mistral-small-latest") -> dict[str, Any]:
    sent: dict[str, Any] = orjson.loads(MISTRAL_CHAT.encode_request(request(body), model))
    return sent


@pytest.mark.parametrize(("name", "index"), [
    ("test_mistral_forwards_penalties.yaml", 0),
    ("test_mistral_history_uses_prompt_cache.yaml", 0),
    ("test_mistral_history_uses_prompt_cache.yaml", 1),
    ("test_mistral_model_thinking_part_iter.yaml", 0),
    ("test_text_document_as_binary_content_input.yaml", 0),
])
def test_recorded_mistral_requests_go_out_as_they_are(name: str, index: int) -> None:
    """Mistral's own request fields (prefix, prompt_cache_key, null penalties) are kept."""
    recorded = load_cassette(MISTRAL / name)[index].request.body
    assert encoded(dict(recorded), recorded["model"]) == recorded


def test_openai_fields_in_mistral_terms() -> None:
    caller = {
        "model": "route", "stream": True, "stream_options": {"include_usage": True}, "seed": 7,
        "max_completion_tokens": 50, "user": "u1", "store": True, "logprobs": True, "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f"}}], "safe_prompt": True,
        "messages": [
            {"role": "developer", "content": "Be brief.", "name": "ops"},
            {"role": "user", "content": "hi", "name": "bob", "tool_calls": None},
            {"role": "assistant", "content": None, "refusal": None, "reasoning_content": "\n",
             "tool_calls": [{"id": "call_Ab3xYz0123456789", "type": "function",
                             "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_Ab3xYz0123456789", "name": "f", "content": "ok"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "D681PevKs", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        ],
    }
    kept = copy.deepcopy(caller)
    chat = request(caller)
    sent = orjson.loads(MISTRAL_CHAT.encode_request(chat, "mistral-small-latest"))
    mapped = sent["messages"][2]["tool_calls"][0]["id"]
    assert len(mapped) == 9 and mapped.isalnum() and mapped == sent["messages"][3]["tool_call_id"]
    assert sent == {
        "model": "mistral-small-latest", "stream": True, "random_seed": 7, "max_tokens": 50, "tool_choice": "any",
        "tools": [{"type": "function", "function": {"name": "f"}}], "safe_prompt": True,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": mapped, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": mapped, "name": "f", "content": "ok"},
            # An id already in Mistral's form is kept.
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "D681PevKs", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        ],
    }
    # The same id maps the same way every time; the caller's request is untouched (cache key, dead letter).
    assert orjson.loads(MISTRAL_CHAT.encode_request(chat, "m"))["messages"][3]["tool_call_id"] == mapped
    assert chat.wire_dict() == kept


def test_a_dialect_that_takes_stream_options_gets_them() -> None:
    wire = DriftingChatWire(ChatDialect(), name="plain")
    body = orjson.loads(wire.encode_request(request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                     "stream": True}), "m"))
    assert body["stream_options"] == {"include_usage": True}


# -- answers -------------------------------------------------------------------------------------------


def decoded(body: bytes) -> tuple[ChatCompletion, Usage, str | None]:
    result = MISTRAL_CHAT.decode_response(body, request({"model": "m", "messages": [{"role": "user", "content": "x"}]}))
    return ChatCompletion.model_validate_json(result.body), result.usage, result.finish_reason


def test_answers_already_in_openai_shape_are_forwarded_as_they_came() -> None:
    (interaction,) = load_cassette(MISTRAL / "test_mistral_forwards_penalties.yaml")
    result = MISTRAL_CHAT.decode_response(interaction.response.body, request(interaction.request.body))
    assert result.body is interaction.response.body and result.usage == Usage(4, 36, 0)


def test_content_given_as_parts_is_its_text() -> None:
    completion, usage, finish = decoded((VERCEL / "mistral-reasoning.json").read_bytes())
    assert completion.choices[0].message.content == "2 + 2 = 4"
    assert usage == Usage(10, 46) and finish == "stop"


def test_tool_calls_without_a_type_get_one() -> None:
    completion, _, finish = decoded((VERCEL / "mistral-tool-call.json").read_bytes())
    calls = completion.choices[0].message.tool_calls
    assert calls is not None and (calls[0].id, calls[0].type) == ("gSIMJiOkT", "function") and finish == "tool_calls"


def translate(body: bytes, include_usage: bool) -> tuple[list[dict[str, Any]], Any]:
    fields: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": True}
    if include_usage:
        fields["stream_options"] = {"include_usage": True}
    translator = MISTRAL_CHAT.stream_translator(request(fields))
    events = sse_events(body)
    # Half event by event, half in one batch: both entries of the translator.
    half = len(events) // 2
    payloads = [payload for event in events[:half] for payload in translator.feed(event)]
    payloads += translator.feed_payloads([event.raw for event in events[half:]])
    for payload in payloads:
        ChatCompletionChunk.model_validate_json(payload)
    return [orjson.loads(payload) for payload in payloads], translator


STREAMS = [
    load_cassette(MISTRAL / "test_mistral_model_thinking_part_iter.yaml")[0].response.body,
    load_stream(VERCEL / "mistral-text.chunks.txt"),
    load_stream(VERCEL / "mistral-tool-call.chunks.txt"),
    load_stream(VERCEL / "mistral-incremental-tool-call.chunks.txt"),
]


@pytest.mark.parametrize("body", STREAMS, ids=["thinking", "text", "tool-call", "incremental-tool-call"])
@pytest.mark.parametrize("include_usage", [True, False])
def test_streams_come_out_in_openai_shape(body: bytes, include_usage: bool) -> None:
    chunks, translator = translate(body, include_usage)
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))  # the SDK's accumulator takes them all
    finishes = [chunk for chunk in chunks if chunk["choices"] and chunk["choices"][0]["finish_reason"]]
    assert len(finishes) == 1 and "usage" not in finishes[0]
    usage_chunks = [chunk for chunk in chunks if chunk.get("usage")]
    if include_usage:
        # Mistral's usage rides on the finish chunk; OpenAI's comes alone, after it, with no choices.
        assert usage_chunks == [chunks[-1]] and chunks[-1]["choices"] == []
    else:
        assert usage_chunks == []
    assert translator.state.done and translator.state.usage.input_tokens > 0
    for chunk in chunks:
        for choice in chunk["choices"]:
            assert not isinstance(choice["delta"].get("content"), list)


def test_streamed_tool_calls_get_their_index_and_type() -> None:
    chunks, _ = translate(load_stream(VERCEL / "mistral-tool-call.chunks.txt"), True)
    deltas = [choice["delta"] for chunk in chunks for choice in chunk["choices"]]
    calls = [call for delta in deltas for call in delta.get("tool_calls") or []]
    assert calls == [{"id": "gSIMJiOkT", "function": {"name": "weather", "arguments": '{"location": "San Francisco"}'},
                      "type": "function", "index": 0}]


def test_two_calls_in_one_stream_are_numbered_apart() -> None:
    translator = MISTRAL_CHAT.stream_translator(request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                                         "stream": True}))
    calls = [{"id": "aaaaaaaaa", "function": {"name": "f", "arguments": "{}"}},
             {"id": "bbbbbbbbb", "function": {"name": "g", "arguments": "{}"}}]
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}]}
    (out,) = translator.feed(SSEEvent(orjson.dumps(chunk)))
    numbered = orjson.loads(out)["choices"][0]["delta"]["tool_calls"]
    assert [(call["id"], call["index"]) for call in numbered] == [("aaaaaaaaa", 0), ("bbbbbbbbb", 1)]


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "message", "kind", "code", "param"), [
    (b'{"object":"error","message":"Invalid model: foo","type":"invalid_model","param":null,"code":"1500"}',
     "Invalid model: foo", "invalid_model", "1500", None),
    (b'{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","stream_options","include_usage"],'
     b'"msg":"Extra inputs are not permitted","input":true}]},"type":"invalid_request_error","param":null,"code":null}',
     "stream_options.include_usage: Extra inputs are not permitted", "invalid_request_error", None,
     "stream_options.include_usage"),
    (b'{"object":"Error","detail":[{"type":"extra_forbidden","loc":["body","tools"],"msg":"Extra inputs are not '
     b'permitted","input":[]}],"message":[{"type":"extra_forbidden","loc":["body","tools"],"msg":"Extra inputs are '
     b'not permitted","input":[]}],"type":"invalid_request_error","code":3001}',
     "tools: Extra inputs are not permitted", "invalid_request_error", "3001", "tools"),
    (b'{"message":"Unauthorized","request_id":"abc"}', "Unauthorized", None, None, None),
    (b'{"error":{"message":"Rate limit exceeded","type":"rate_limited"}}', "Rate limit exceeded", "rate_limited",
     None, None),
])
def test_error_bodies(body: bytes, message: str, kind: str | None, code: str | None, param: str | None) -> None:
    said = decode_flat_error(body)
    assert said is not None
    assert (said.message, said.type, said.code, said.param) == (message, kind, code, param)
    assert MISTRAL_CHAT.decode_error(body) == said


def test_a_body_that_is_no_error_shape_says_nothing() -> None:
    assert decode_flat_error(b"upstream connect error") is None
    assert decode_flat_error(b'{"object": "error"}') is None


def test_documented_fixtures_are_what_the_decoder_reads() -> None:
    path = Path(__file__).parents[1] / "data" / "documented" / "mistral" / "chat_extra_forbidden.yaml"
    (interaction,) = load_cassette(path)
    said = MISTRAL_CHAT.decode_error(interaction.response.body)
    assert said is not None and said.param == "top_k"
