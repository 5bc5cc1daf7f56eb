"""Bedrock Converse <-> OpenAI: the request translation, answers, streams and errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from api_connector.core.chat import ChatRequest
from api_connector.errors import UnsupportedParameter, ValidationFailed
from api_connector.wire.aws_eventstream import EventStreamError, encode_event, encode_exception, encode_message
from api_connector.wire.bedrock_converse import BEDROCK_CONVERSE, ConverseStream
from api_connector.wire.bedrock_types import finish_reason
from tests.conformance.bedrock_cases import event_stream
from tests.recorded import RECORDED, load_cassette

VERCEL = RECORDED / "vercel-ai" / "amazon-bedrock"
PNG = "iVBORw0KGgo="


def _request(**fields: Any) -> ChatRequest:
    body = {"model": "bedrock/us.amazon.nova-micro-v1:0", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return ChatRequest.from_json_obj(body)


def _encode(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(BEDROCK_CONVERSE.encode_request(_request(**fields), "ignored"))
    return body


def _user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# -- requests ------------------------------------------------------------------------------------------


def test_system_messages_go_apart_and_turns_of_one_role_are_merged() -> None:
    body = _encode(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "system", "content": "   "},
        _user("Hello"),
        _user([{"type": "text", "text": "again"}, {"type": "text", "text": " "}]),
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "Bonjour"},
    ])
    assert body == {
        "system": [{"text": "Be brief."}, {"text": "Answer in French."}],
        "messages": [
            {"role": "user", "content": [{"text": "Hello"}, {"text": "again"}]},
            {"role": "assistant", "content": [{"text": "Bonjour"}]},
        ],
    }


def test_tool_calls_and_results_take_bedrocks_blocks() -> None:
    body = _encode(messages=[
        _user("Weather in Paris and Rome?"),
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "t2", "type": "function", "function": {"name": "weather", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "t1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "Rain"}]},
        _user("Thanks"),
    ], tools=[{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}])
    assert body["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "content": [
            {"text": "Looking."},
            {"toolUse": {"toolUseId": "t1", "name": "weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "t2", "name": "weather", "input": {}}},
        ]},
        # Tool results travel in a user turn, with the text that follows them.
        {"role": "user", "content": [
            {"toolResult": {"toolUseId": "t1", "content": [{"text": "Sunny"}]}},
            {"toolResult": {"toolUseId": "t2", "content": [{"text": "Rain"}]}},
            {"text": "Thanks"},
        ]},
    ]
    spec = {"name": "weather", "inputSchema": {"json": {"type": "object"}}}
    assert body["toolConfig"] == {"tools": [{"toolSpec": spec}]}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"auto": {}}),
    ("required", {"any": {}}),
    ({"type": "function", "function": {"name": "weather"}}, {"tool": {"name": "weather"}}),
])
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather.", "strict": True}}]
    config = _encode(tools=tools, tool_choice=choice)["toolConfig"]
    assert config["toolChoice"] == expected
    assert config["tools"] == [{"toolSpec": {
        "name": "weather", "description": "Weather.", "strict": True, "inputSchema": {"json": {"type": "object"}},
    }}]


def test_tool_choice_none_sends_no_tools_unless_the_conversation_holds_tool_calls() -> None:
    tools = [{"type": "function", "function": {"name": "weather"}}]
    assert "toolConfig" not in _encode(tools=tools, tool_choice="none")
    history = [
        _user("Weather?"),
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function",
                                              "function": {"name": "weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "Sunny"},
    ]
    with pytest.raises(ValidationFailed) as refused:
        _encode(messages=history, tools=tools, tool_choice="none")
    assert refused.value.param == "tool_choice"


def test_inference_config() -> None:
    body = _encode(max_tokens=10, max_completion_tokens=20, temperature=1.5, top_p=0.9, stop="END")
    # OpenAI's temperatures go to 2, Bedrock's models take up to 1.
    assert body["inferenceConfig"] == {"maxTokens": 20, "temperature": 1.0, "topP": 0.9, "stopSequences": ["END"]}
    assert "inferenceConfig" not in _encode()


def test_images_go_inline_by_format_or_by_s3_location() -> None:
    body = _encode(messages=[_user([
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "s3://bucket/cat.JPG"}},
    ])])
    assert body["messages"][0]["content"] == [
        {"text": "Compare"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"image": {"format": "jpeg", "source": {"bytes": PNG}}},
        {"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://bucket/cat.JPG"}}}},
    ]


@pytest.mark.parametrize(("url", "says"), [
    ("https://example.com/cat.png", "not by http(s) URL"),
    ("http://example.com/cat.png", "not by http(s) URL"),
    (f"data:image/bmp;base64,{PNG}", "not image/bmp"),
    ("data:image/png,raw", "data:<media type>;base64"),
    ("ftp://example.com/cat.png", "data:<media type>;base64"),
])
def test_images_bedrock_cannot_take_are_refused_naming_the_field(url: str, says: str) -> None:
    with pytest.raises(ValidationFailed, match=re.escape(says)) as refused:
        _encode(messages=[_user("hi"), _user([{"type": "text", "text": "Look"},
                                              {"type": "image_url", "image_url": {"url": url}}])])
    assert refused.value.code == "validation_error"
    assert refused.value.param == "messages[1].content[1].image_url.url"


def test_files_become_documents_with_names_bedrock_takes() -> None:
    pdf = "data:application/pdf;base64,JVBERi0="
    body = _encode(messages=[_user([
        {"type": "file", "file": {"filename": "Q3 report_v2.final.pdf", "file_data": pdf}},
        {"type": "file", "file": {"file_data": "data:text/markdown;base64,IyBIaQ=="}},
    ])])
    assert body["messages"][0]["content"] == [
        {"document": {"name": "Q3 report v2 final", "format": "pdf", "source": {"bytes": "JVBERi0="}}},
        {"document": {"name": "Document 2", "format": "md", "source": {"bytes": "IyBIaQ=="}}},
    ]
    with pytest.raises(ValidationFailed, match="only inline files"):
        _encode(messages=[_user([{"type": "file", "file": {"file_id": "file-1"}}])])
    with pytest.raises(ValidationFailed, match="application/zip"):
        _encode(messages=[_user([{"type": "file", "file": {"file_data": "data:application/zip;base64,UEs="}}])])


def test_requests_bedrock_cannot_express_are_refused() -> None:
    with pytest.raises(ValidationFailed, match="n must be 1"):
        _encode(n=2)
    with pytest.raises(ValidationFailed, match="input_audio"):
        _encode(messages=[_user([{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}])])
    with pytest.raises(ValidationFailed, match="JSON") as bad:
        _encode(messages=[_user("x"), {"role": "assistant", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]}])
    assert bad.value.param == "messages[1].tool_calls[0].function.arguments"


def test_a_json_schema_response_format_is_bedrocks_structured_output() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    body = _encode(response_format={"type": "json_schema", "json_schema": {"name": "City", "schema": schema}})
    structure = body["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert body["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert structure["name"] == "City" and orjson.loads(structure["schema"]) == schema
    # JSON without a schema has no Bedrock form: refused, not sent without it.
    with pytest.raises(UnsupportedParameter) as refused:
        _encode(response_format={"type": "json_object"})
    assert refused.value.param == "response_format" and "json_object" in refused.value.message


# -- answers -------------------------------------------------------------------------------------------


def test_a_recorded_answer_with_text_and_a_tool_call() -> None:
    recorded = load_cassette(RECORDED / "bedrock/crewai/test_bedrock_agent_kickoff_structured_output_with_tools.yaml")
    result = BEDROCK_CONVERSE.decode_response(recorded[0].response.body, _request())
    completion = orjson.loads(result.body)
    assert completion["id"].startswith("chatcmpl-") and completion["model"] == "bedrock/us.amazon.nova-micro-v1:0"
    (choice,) = completion["choices"]
    assert choice["finish_reason"] == "tool_calls" == result.finish_reason
    assert choice["message"]["content"] == "I'll calculate 15 + 27 right away using the `add_numbers` tool!"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "tooluse_CVmuFOrTItCY07vxuA84mU" and orjson.loads(call["function"]["arguments"]) == {
        "a": 15, "b": 27,
    }
    assert completion["usage"] == {"prompt_tokens": 645, "completion_tokens": 92, "total_tokens": 737}


def test_cache_tokens_count_in_the_prompt_and_bedrocks_own_tools_are_left_out() -> None:
    answer = {
        "output": {"message": {"role": "assistant", "content": [
            {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "x"}}},
            {"toolUse": {"toolUseId": "s1", "name": "nova_code_interpreter", "input": {}, "type": "server_tool_use"}},
            {"toolResult": {"toolUseId": "s1", "content": [{"json": {"stdOut": "4"}}]}},
            {"text": "4"},
        ]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 2, "outputTokens": 5, "cacheReadInputTokens": 1300, "cacheWriteInputTokens": 22},
    }
    result = BEDROCK_CONVERSE.decode_response(orjson.dumps(answer), _request())
    message = orjson.loads(result.body)["choices"][0]["message"]
    assert message["content"] == "4" and "tool_calls" not in message
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.cached_tokens) == (1324, 5, 1300)


@pytest.mark.parametrize(("stop", "finish"), [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
    ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
    ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"),
    ("malformed_model_output", "stop"), (None, None),
])
def test_stop_reasons(stop: str | None, finish: str | None) -> None:
    assert finish_reason(stop) == finish


def test_an_answer_that_is_not_converse_is_refused() -> None:
    with pytest.raises(ValueError):
        BEDROCK_CONVERSE.decode_response(b'{"message": "hi"}', _request())


# -- streams -------------------------------------------------------------------------------------------


def _stream(body: bytes, include_usage: bool = True, cut: int = 13) -> tuple[ConverseStream, list[dict[str, Any]]]:
    translator = BEDROCK_CONVERSE.stream_translator(
        _request(stream=True, stream_options={"include_usage": include_usage})
    )
    payloads = [p for at in range(0, len(body), cut) for p in translator.feed_bytes(body[at : at + cut])]
    payloads += translator.finish()
    return translator, [orjson.loads(p) for p in payloads]


def _deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [choice["delta"] for chunk in chunks for choice in chunk["choices"]]


def test_a_tool_call_streamed_without_arguments_gets_an_empty_object() -> None:
    translator, chunks = _stream(event_stream(VERCEL / "amazon-bedrock-tool-no-args.chunks.txt").body)
    assert _deltas(chunks) == [
        {"role": "assistant", "content": "I'll update the issue list for you."},
        {"tool_calls": [{"index": 0, "id": "tool-use-id", "type": "function",
                         "function": {"name": "updateIssueList", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1] == {**chunks[-1], "choices": [], "usage": {
        "prompt_tokens": 100, "completion_tokens": 25, "total_tokens": 125,
    }}
    assert len({chunk["id"] for chunk in chunks}) == 1 and translator.state.done


def test_reasoning_is_left_out_and_usage_comes_last_only_when_asked() -> None:
    body = event_stream(VERCEL / "amazon-bedrock-reasoning.chunks.txt").body
    translator, chunks = _stream(body, include_usage=False)
    text = "".join(delta.get("content") or "" for delta in _deltas(chunks))
    assert text.startswith("There are **3** r's") and "positions" not in text
    assert all("usage" not in chunk for chunk in chunks)
    assert (translator.state.usage.input_tokens, translator.state.usage.output_tokens) == (51, 94)


def test_an_exception_in_the_stream_is_the_vendors_error_with_its_documented_status() -> None:
    body = encode_event("messageStart", b'{"role":"assistant"}') + encode_exception(
        "modelStreamErrorException", b'{"message":"The model stream broke.","originalStatusCode":500}'
    ) + encode_event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"lost"}}')
    translator, chunks = _stream(body, cut=len(body))
    assert len(chunks) == 1, "nothing after the exception"
    error = translator.state.error
    assert error is not None
    assert (error.message, error.type, error.status) == ("The model stream broke.", "ModelStreamErrorException", 424)


def test_a_framing_error_message_and_a_malformed_event() -> None:
    error_message = encode_message({":message-type": "error", ":error-code": "InternalFailure",
                                    ":error-message": "Something broke."}, b"")
    translator, _ = _stream(error_message)
    assert translator.state.error is not None and translator.state.error.message == "Something broke."
    translator, _ = _stream(encode_event("contentBlockDelta", b"{not json"))
    assert translator.state.error is not None and "not valid JSON" in translator.state.error.message


def test_a_stream_that_ends_inside_a_message_is_refused() -> None:
    body = encode_event("messageStop", b'{"stopReason":"end_turn"}')
    translator = BEDROCK_CONVERSE.stream_translator(_request(stream=True))
    translator.feed_bytes(body[:-3])
    with pytest.raises(EventStreamError, match="ended inside a message"):
        translator.finish()


# -- errors --------------------------------------------------------------------------------------------


def test_errors_take_their_kind_from_the_header() -> None:
    headers = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    said = BEDROCK_CONVERSE.decode_error_answer(headers, b'{"message":"Too many requests."}')
    assert said is not None
    assert (said.message, said.type, said.status) == ("Too many requests.", "ThrottlingException", None)
    assert BEDROCK_CONVERSE.decode_error(b'{"Message":"Capitalised."}').message == "Capitalised."  # type: ignore[union-attr]
    said = BEDROCK_CONVERSE.decode_error_answer({"x-amzn-errortype": "ServiceUnavailableException"}, b"")
    assert said is not None and said.message == "upstream reported ServiceUnavailableException"
    assert BEDROCK_CONVERSE.decode_error_answer({}, b"<html>") is None


def test_the_vercel_fixtures_are_decoded_events(tmp_path: Path) -> None:
    """The framing helper of the conformance suite: every line one event, exceptions by their name."""
    events = tmp_path / "events.chunks.txt"
    events.write_text('{"messageStart":{"role":"assistant"}}\n{"throttlingException":{"message":"slow"}}\n')
    translator, chunks = _stream(event_stream(events).body)
    assert len(chunks) == 1 and translator.state.error is not None and translator.state.error.status == 429
