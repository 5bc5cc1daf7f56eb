"""The Cohere chat v2 wire, both ways, on recorded Cohere traffic (langchain-cohere, pydantic-ai, vercel-ai)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState, ParsedChatCompletionSnapshot
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.base import VendorFailed
from api_connector.wire.cohere_chat import COHERE_CHAT, encode_chat_request
from api_connector.wire.sse import SSEEvent
from tests.recorded import RECORDED, load_cassette, load_stream, sse_events

COHERE = RECORDED / "cohere"
# Recorded requests that are, as JSON, also the OpenAI request whose translation they are.
SAME_AS_OPENAI = [
    "test_invoke.yaml",
    "test_stream.yaml",
    "test_invoke_tool_calls.yaml",
    "test_streaming_tool_call.yaml",
    "test_documents.yaml",
    "test_invoke_with_vision_url.yaml",
    "test_invoke_with_vision_base64.yaml",
    "test_astream_with_vision.yaml",
    "test_command_a_reasoning_with_tool_call.yaml",
    "test_invoke_with_text_only_list.yaml",
    "test_cohere_with_structured_output_json_mode.yaml",
    "pydantic-ai/test_cohere_model_instructions.yaml",
]
STREAMS = [
    COHERE / "test_stream.yaml",
    COHERE / "test_streaming_tool_call.yaml",
    COHERE / "test_astream_with_vision.yaml",
    *sorted((RECORDED / "vercel-ai").glob("cohere-*.chunks.txt")),
]


def request(messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return ChatRequest.from_json_obj({"model": "route", "messages": messages, **fields})


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def encoded(chat: ChatRequest, model: str = "command-a-03-2025") -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(COHERE_CHAT.encode_request(chat, model))
    return body


def decoded(body: bytes, model: str = "command-r") -> tuple[ChatCompletion, Usage, str | None]:
    result = COHERE_CHAT.decode_response(body, request([user("hi")], model=model))
    return ChatCompletion.model_validate_json(result.body), result.usage, result.finish_reason


# -- requests ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SAME_AS_OPENAI)
def test_recorded_requests_are_the_translation_of_the_same_openai_request(name: str) -> None:
    recorded = load_cassette(COHERE / name)[0].request.body
    assert encode_chat_request(ChatRequest.from_json_obj(dict(recorded)), recorded["model"]) == recorded


def test_json_schema_becomes_a_json_object_with_its_schema() -> None:
    recorded = load_cassette(COHERE / "test_cohere_with_structured_output_json_schema.yaml")[0].request.body
    schema = recorded["response_format"]["schema"]
    chat = request(recorded["messages"], response_format={
        "type": "json_schema", "json_schema": {"name": "Person", "schema": schema, "strict": True},
    })
    assert encode_chat_request(chat, "command-r") == recorded


def test_a_tool_conversation_becomes_the_recorded_one() -> None:
    """Assistant text beside tool calls is Cohere's tool_plan; Cohere's document parts pass as tool results."""
    first, second = load_cassette(COHERE / "test_langchain_tool_calling_agent.yaml")
    expected = second.request.body
    call = expected["messages"][2]["tool_calls"][0]
    chat = request([
        *expected["messages"][:2],
        {"role": "assistant", "content": expected["messages"][2]["tool_plan"], "tool_calls": [call]},
        expected["messages"][3],
    ], tools=first.request.body["tools"])
    assert encode_chat_request(chat, "command-a-03-2025") == expected


def test_roles_and_turns() -> None:
    body = encoded(request([
        {"role": "developer", "content": "Be brief."},
        user("hi"),
        {"role": "assistant", "content": ""},  # an empty turn is left out: Cohere refuses it
        {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42"}]},
    ]))
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "42"}]},
    ]


@pytest.mark.parametrize(("choice", "expected", "tools"), [
    (None, None, ["a", "b"]),
    ("auto", None, ["a", "b"]),
    ("none", "NONE", ["a", "b"]),
    ("required", "REQUIRED", ["a", "b"]),
    # Cohere cannot name a function: the named one is sent alone, and required.
    ({"type": "function", "function": {"name": "b"}}, "REQUIRED", ["b"]),
])
def test_tool_choice(choice: Any, expected: str | None, tools: list[str]) -> None:
    declared = [{"type": "function", "function": {"name": name, "description": name}} for name in ("a", "b")]
    body = encoded(request([user("hi")], tools=declared, tool_choice=choice))
    assert body.get("tool_choice") == expected
    assert [tool["function"]["name"] for tool in body["tools"]] == tools
    # A function without parameters gets an empty object schema.
    assert body["tools"][0]["function"]["parameters"] == {"type": "object", "properties": {}}


def test_sampling_fields_and_cohere_only_fields() -> None:
    body = encoded(request(
        [user("hi")], temperature=1.5, top_p=1.0, max_completion_tokens=20, stop="END", seed=7,
        frequency_penalty=0.2, presence_penalty=0.1, documents=[{"id": "d", "data": {"text": "t"}}],
        safety_mode="STRICT", stream=True, stream_options={"include_usage": True},
    ))
    assert body == {
        "model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}],
        "temperature": 1.0, "p": 0.99, "max_tokens": 20, "stop_sequences": ["END"], "seed": 7,
        "frequency_penalty": 0.2, "presence_penalty": 0.1, "documents": [{"id": "d", "data": {"text": "t"}}],
        "safety_mode": "STRICT", "stream": True,
    }


@pytest.mark.parametrize(("chat", "param"), [
    (request([user("hi")], n=2), "n"),
    (request([user([{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}])]),
     "messages[0].content[0]"),
    (request([{"role": "function", "name": "f", "content": "x"}]), "messages[0]"),
    (request([{"role": "tool", "content": "x"}]), "messages[0]"),
    (request([user("hi")], tools=[{"type": "function", "function": {"name": "a"}}], tool_choice="any"), "tool_choice"),
    (request([user("hi")], tools=[{"type": "function", "function": {"name": "a"}}],
             tool_choice={"type": "function", "function": {"name": "b"}}), "tool_choice"),
    (request([user("hi")], response_format={"type": "xml"}), "response_format"),
])
def test_what_cohere_cannot_take_is_refused(chat: ChatRequest, param: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        COHERE_CHAT.encode_request(chat, "command-a-03-2025")
    assert refused.value.param == param


# -- answers -------------------------------------------------------------------------------------------


def test_text_answer_with_billed_usage() -> None:
    (interaction,) = load_cassette(COHERE / "test_invoke.yaml")
    completion, usage, finish = decoded(interaction.response.body)
    assert completion.id == "57bc5def-08e2-43c1-9fb6-d554900ccb36" and completion.model == "command-r"
    assert completion.choices[0].message.content is not None
    assert completion.choices[0].message.content.startswith("Hi there! You're Pickle Rick?")
    # billed_units (4 in, 28 out), not Cohere's own token count (70 in, with its preamble).
    assert usage == Usage(4, 28) and finish == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 32


def test_billed_units_leave_the_internal_cache_share_out() -> None:
    (interaction,) = load_cassette(COHERE / "pydantic-ai" / "test_request_usage_with_cached_tokens.yaml")
    _, usage, _ = decoded(interaction.response.body)
    assert usage == Usage(2406, 2, 0)


def test_without_billed_units_the_token_count_and_its_cache_share_are_used() -> None:
    usage = {"tokens": {"input_tokens": 500.0, "output_tokens": 3.0}, "cached_tokens": 900}
    message = {"content": [{"type": "text", "text": "hi"}]}
    body = orjson.dumps({"id": "x", "message": message, "finish_reason": "COMPLETE", "usage": usage})
    _, usage, _ = decoded(body)
    assert usage == Usage(500, 3, 500)  # more cached than input is not believed


def test_tool_plan_is_the_text_beside_the_tool_calls() -> None:
    (interaction,) = load_cassette(COHERE / "test_invoke_tool_calls.yaml")
    completion, usage, finish = decoded(interaction.response.body)
    message = completion.choices[0].message
    assert message.content is not None and message.content.startswith("I will use the Person tool")
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ("Person_zh3gneaxfh7q", "function", "Person")
    assert orjson.loads(call.function.arguments) == {"age": 27, "name": "Erick"}
    assert finish == "tool_calls" and usage == Usage(23, 41)


def test_thinking_is_left_out_and_a_call_alone_has_null_content() -> None:
    (interaction,) = load_cassette(COHERE / "test_command_a_reasoning_with_tool_call.yaml")
    completion, _, finish = decoded(interaction.response.body)
    assert completion.choices[0].message.content is None and finish == "tool_calls"


def test_null_arguments_become_an_empty_object_and_max_tokens_is_length() -> None:
    completion, _, _ = decoded((RECORDED / "vercel-ai" / "cohere-null-args.json").read_bytes())
    assert completion.choices[0].message.tool_calls is not None
    assert completion.choices[0].message.tool_calls[0].function.arguments == "{}"
    completion, usage, finish = decoded((RECORDED / "vercel-ai" / "cohere-max-tokens.json").read_bytes())
    assert finish == "length" and completion.choices[0].finish_reason == "length" and usage == Usage(11, 4)


@pytest.mark.parametrize(("reason", "kind"), [("ERROR", "server_error"), ("TIMEOUT", "timeout")])
def test_a_finish_that_is_a_failure_is_raised(reason: str, kind: str) -> None:
    body = orjson.dumps({"id": "x", "message": {"content": []}, "finish_reason": reason})
    with pytest.raises(VendorFailed) as failed:
        decoded(body)
    assert failed.value.error.type == kind


def test_error_bodies() -> None:
    said = COHERE_CHAT.decode_error(
        b'{"id": "abc", "message": "invalid request: prompt must be at least 1 token long."}'
    )
    assert said is not None and said.message == "invalid request: prompt must be at least 1 token long."
    assert COHERE_CHAT.decode_error(b"<html>bad gateway</html>") is None


# -- streams -------------------------------------------------------------------------------------------


def _stream_body(path: Path) -> bytes:
    if path.suffix == ".txt":
        return load_stream(path)
    (interaction,) = load_cassette(path)
    return interaction.response.body


def translate(body: bytes, include_usage: bool = True) -> tuple[list[dict[str, Any]], Any]:
    fields: dict[str, Any] = {"stream": True}
    if include_usage:
        fields["stream_options"] = {"include_usage": True}
    translator = COHERE_CHAT.stream_translator(request([user("hi")], **{"model": "command-r", **fields}))
    payloads = [payload for event in sse_events(body) for payload in translator.feed(event)]
    payloads += translator.finish()
    for payload in payloads:
        ChatCompletionChunk.model_validate_json(payload)
    return [orjson.loads(payload) for payload in payloads], translator


def accumulate(chunks: list[dict[str, Any]]) -> ParsedChatCompletionSnapshot:
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return state.current_completion_snapshot


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.name)
def test_every_recorded_stream_translates_to_well_formed_chunks(path: Path) -> None:
    chunks, translator = translate(_stream_body(path))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] is not None and finishes.count(None) == len(finishes) - 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == translator.state.usage.as_openai()
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["model"] == "command-r"
    assert translator.state.done and translator.state.error is None
    without, _ = translate(_stream_body(path), include_usage=False)
    assert all("usage" not in chunk for chunk in without)


def test_text_stream() -> None:
    chunks, translator = translate(load_stream(RECORDED / "vercel-ai" / "cohere-text.chunks.txt"))
    snapshot = accumulate(chunks)
    assert snapshot.choices[0].message.content == "The capital of France is Paris."
    assert translator.state.usage == Usage(12, 7) and translator.state.finish_reason == "stop"


def test_tool_call_stream_plan_then_two_calls() -> None:
    chunks, translator = translate(load_stream(RECORDED / "vercel-ai" / "cohere-tool-call.chunks.txt"))
    message = accumulate(chunks).choices[0].message
    assert message.content is not None and message.content.startswith("I will use the weather tool")
    assert message.tool_calls is not None
    assert [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("weather_e8p4pn45zt0t", "weather", {"location": "San Francisco"}),
        ("cityAttractions_pyxssbwnq9fq", "cityAttractions", {"city": "San Francisco"}),
    ]
    assert translator.state.finish_reason == "tool_calls" and translator.state.usage == Usage(119, 44)


def test_a_streamed_call_without_arguments_gets_an_empty_object() -> None:
    chunks, _ = translate(load_stream(RECORDED / "vercel-ai" / "cohere-empty-tool-call.chunks.txt"))
    calls = accumulate(chunks).choices[0].message.tool_calls
    assert calls is not None and calls[0].function.arguments == "{}"


def test_streamed_thinking_is_left_out() -> None:
    chunks, _ = translate(load_stream(RECORDED / "vercel-ai" / "cohere-reasoning.chunks.txt"))
    text = accumulate(chunks).choices[0].message.content
    assert text is not None and text.startswith("The answer to 2 + 2 is") and "user is asking" not in text


def test_an_error_finish_and_a_broken_event_stop_the_stream() -> None:
    translator = COHERE_CHAT.stream_translator(request([user("hi")], stream=True, model="m"))
    end = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal error"}}
    assert translator.feed(SSEEvent(orjson.dumps(end))) == []
    assert translator.state.error is not None and translator.state.error.message == "internal error"
    translator = COHERE_CHAT.stream_translator(request([user("hi")], stream=True, model="m"))
    translator.feed(SSEEvent(b"{not json"))
    assert translator.state.error is not None and not translator.state.done
