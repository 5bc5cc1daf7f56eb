"""Responses API <-> chat: the translation for providers without the Responses API, both ways."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from api_connector.core.responses import ResponsesRequest
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.openai_responses import frame_payload
from api_connector.wire.responses_chat import chat_request, response_from_completion
from api_connector.wire.responses_stream import ChatToResponsesEvents
from tests.recorded import load_cassette, sse_events

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    "strict": True,
}
CHAT_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": WEATHER["parameters"],
        "strict": True,
    },
}
EVENTS: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


def request(**fields: Any) -> ResponsesRequest:
    return ResponsesRequest.from_json_obj({"model": "m", **fields})


def chat(**fields: Any) -> dict[str, Any]:
    return chat_request(request(**fields), stream=False).wire_dict()


def sdk_response(body: dict[str, Any]) -> Response:
    """``body`` validated by the SDK's own type. (Its usage details now require ``cache_write_tokens``,
    which OpenAI's recorded answers do not carry either: added here for the check only.)"""
    usage = body.get("usage")
    if usage is not None:
        usage = {**usage, "input_tokens_details": {"cache_write_tokens": 0, **usage["input_tokens_details"]}}
    return Response.model_validate({**body, "usage": usage})


# -- requests -----------------------------------------------------------------------------------------


def test_a_string_input_and_instructions() -> None:
    assert chat(input="hi", instructions="be brief") == {
        "model": "m",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }


def test_message_items_and_their_parts() -> None:
    image = "https://example.com/cat.png"
    pdf = "data:application/pdf;base64,JVBERi0="
    body = chat(input=[
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "what is "},
            {"type": "input_image", "image_url": image, "detail": "low"},
            {"type": "input_file", "file_data": pdf, "filename": "a.pdf"},
        ]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "a cat", "annotations": []}]},
        {"role": "user", "content": [{"type": "input_text", "text": "and "}, {"type": "input_text", "text": "then?"}]},
    ])
    assert body["messages"] == [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": [
            {"type": "text", "text": "what is "},
            {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            {"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}},
        ]},
        {"role": "assistant", "content": "a cat"},
        {"role": "user", "content": "and then?"},
    ]


def call_item(item_id: str, call_id: str, city: str) -> dict[str, Any]:
    arguments = f'{{"city":"{city}"}}'
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": "get_weather", "arguments": arguments}


def test_function_calls_and_their_outputs() -> None:
    body = chat(input=[
        {"role": "user", "content": "weather in Paris and Oslo?"},
        {"type": "reasoning", "id": "rs_1", "summary": []},  # no chat form: left out
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        call_item("fc_1", "call_1", "Paris"),
        call_item("fc_2", "call_2", "Oslo"),
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "rain"}]},
    ], tools=[WEATHER], tool_choice={"type": "function", "name": "get_weather"}, parallel_tool_calls=False)
    calls = [
        {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": f'{{"city":"{city}"}}'}}
        for call_id, city in (("call_1", "Paris"), ("call_2", "Oslo"))
    ]
    assert body["messages"] == [
        {"role": "user", "content": "weather in Paris and Oslo?"},
        {"role": "assistant", "content": "Checking.", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ]
    assert body["tools"] == [CHAT_WEATHER]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["parallel_tool_calls"] is False


def test_a_call_without_text_before_it_is_its_own_assistant_turn() -> None:
    body = chat(input=[
        {"role": "user", "content": "x"},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
    ])
    assert body["messages"][1] == {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }


def test_settings_take_their_chat_names() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    body = chat(
        input="x",
        max_output_tokens=64,
        temperature=0.2,
        top_p=0.9,
        user="u-1",
        metadata={"k": "v"},
        reasoning={"effort": "low", "summary": "auto"},
        text={"format": {"type": "json_schema", "name": "A", "schema": schema, "strict": True}},
        store=True,
        include=["reasoning.encrypted_content"],
        truncation="auto",
    )
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "max_tokens": 64,
        "temperature": 0.2,
        "top_p": 0.9,
        "user": "u-1",
        "response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": schema, "strict": True}},
        "reasoning_effort": "low",
    }
    assert chat(input="x", text={"format": {"type": "json_object"}})["response_format"] == {"type": "json_object"}
    assert "response_format" not in chat(input="x", text={"format": {"type": "text"}})
    # Without tools, neither tool_choice nor parallel_tool_calls reach a chat API (which would refuse them).
    assert chat(input="x", tool_choice="auto", parallel_tool_calls=True).keys() == {"model", "messages"}


def test_a_streamed_request_asks_for_the_usage() -> None:
    body = chat_request(request(input="x", stream=True), stream=True).wire_dict()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("fields", "param"), [
    ({"tools": [{"type": "web_search_preview"}]}, "tools[0]"),
    ({"tools": [WEATHER], "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}, "tool_choice"),
    ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0]"),
    ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input[0]"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}, "input[0].content[0]"),
    ({"conversation": "conv_1"}, "conversation"),
    ({"background": True}, "background"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
])
def test_what_has_no_chat_form_is_refused_by_name(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        chat(**{"input": "x", **fields})
    assert refused.value.param == param and "Responses API" in refused.value.message


@pytest.mark.parametrize(("fields", "param"), [
    ({"input": []}, "input"),
    ({"instructions": "only this"}, "input"),
    ({"input": [{"role": "narrator", "content": "x"}]}, "input[0].role"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}, "input[0]"),
    ({"input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x/y.png"}]}]},
     "input[0].content[0]"),
    ({"input": "x", "text": {"format": {"type": "json_schema"}}}, "text.format"),
])
def test_malformed_requests_are_refused(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        chat(**fields)
    assert refused.value.param == param


# -- answers ------------------------------------------------------------------------------------------


def completion(message: dict[str, Any], finish: str, usage: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m-2025",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": usage or {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    })


def answer(body: bytes, usage: Usage = Usage(10, 5, 2), **fields: Any) -> dict[str, Any]:
    asked = request(**{"input": "x", **fields})
    return response_from_completion(body, usage, asked, "resp_1", 1700000000)


def test_a_text_answer() -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
             "completion_tokens_details": {"reasoning_tokens": 3}}
    body = answer(completion({"content": "Paris."}, "stop", usage), instructions="brief", metadata={"k": "v"})
    response = sdk_response(body)
    assert response.id == "resp_1" and response.model == "m-2025" and response.status == "completed"
    assert response.output_text == "Paris." and response.incomplete_details is None
    assert response.instructions == "brief" and response.metadata == {"k": "v"} and response.store is False
    assert body["usage"] == {
        "input_tokens": 10, "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 3}, "total_tokens": 15,
    }
    (item,) = body["output"]
    assert item["type"] == "message" and item["id"].startswith("msg_") and item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "Paris.", "annotations": [], "logprobs": []}]


def test_tool_calls_become_function_call_items() -> None:
    calls = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    body = answer(completion({"content": None, "tool_calls": calls}, "tool_calls"), tools=[WEATHER])
    response = sdk_response(body)
    (item,) = response.output
    assert item.type == "function_call" and item.call_id == "call_1" and item.name == "get_weather"
    assert item.arguments == '{"city":"Oslo"}' and item.id is not None and item.id.startswith("fc_")
    assert response.status == "completed" and response.tools[0].type == "function"


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_an_answer_cut_short_is_incomplete(finish: str, reason: str) -> None:
    body = answer(completion({"content": "Par"}, finish), max_output_tokens=1)
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": reason}
    assert body["output"][0]["status"] == "incomplete" and body["max_output_tokens"] == 1


def test_a_refusal_is_a_refusal_part() -> None:
    body = answer(completion({"content": None, "refusal": "I can't help with that."}, "stop"))
    assert body["output"][0]["content"] == [{"type": "refusal", "refusal": "I can't help with that."}]


def test_what_was_asked_is_echoed() -> None:
    fmt = {"type": "json_schema", "name": "A", "schema": {"type": "object"}, "strict": True}
    asked = request(input="x", text={"format": fmt}, tool_choice="required", tools=[WEATHER], temperature=0.5,
                    top_p=0.5, user="u", reasoning={"effort": "high"}, parallel_tool_calls=False)
    asked.keep()
    body = response_from_completion(completion({"content": "{}"}, "stop"), Usage(1, 1), asked, "resp_1", 1)
    assert body["text"] == {"format": fmt} and body["tool_choice"] == "required" and body["tools"] == [WEATHER]
    assert (body["temperature"], body["top_p"], body["user"]) == (0.5, 0.5, "u")
    assert body["reasoning"] == {"effort": "high", "summary": None} and body["parallel_tool_calls"] is False
    assert body["store"] is True


def test_a_continued_request_names_what_it_continues() -> None:
    asked = request(input="next", previous_response_id="resp_0").continued([{"role": "user", "content": "first"}])
    assert asked.previous_response_id is None and asked.previous_id == "resp_0"
    own = {"type": "message", "role": "user", "content": "next"}
    assert asked.input_items() == [{"role": "user", "content": "first"}, own]
    body = response_from_completion(completion({"content": "ok"}, "stop"), Usage(1, 1), asked, "resp_1", 1)
    assert body["previous_response_id"] == "resp_0"


# -- streams ------------------------------------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return orjson.dumps({"id": "c", "object": "chat.completion.chunk", "model": "m-2025", "choices": choices, **extra})


def events(payloads: list[bytes], usage: Usage = Usage(10, 5), **fields: Any) -> list[dict[str, Any]]:
    translator = ChatToResponsesEvents(request(**{"input": "x", **fields}), "resp_1", 1700000000)
    frames = translator.feed(payloads) + translator.finish(usage)
    parsed = []
    for frame in frames:
        kind, _, _ = frame.partition(b"\n")
        payload = orjson.loads(frame_payload(frame))
        assert kind == b"event: " + payload["type"].encode(), "each frame names its event"
        if payload["type"] not in ("response.completed", "response.incomplete"):
            EVENTS.validate_python(payload)  # the SDK's own event types
        parsed.append(payload)
    assert [event["sequence_number"] for event in parsed] == list(range(len(parsed)))
    return parsed


def test_text_chunks_become_text_events() -> None:
    got = events([chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}), chunk({"content": "lo"}),
                  chunk({}, "stop"), orjson.dumps({"id": "c", "choices": [], "usage": {"prompt_tokens": 10}})])
    assert [event["type"] for event in got] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed",
    ]
    assert got[0]["response"]["status"] == "in_progress" and got[0]["response"]["model"] == "m-2025"
    message_id = got[2]["item"]["id"]
    assert all(event.get("item_id", message_id) == message_id for event in got)
    assert got[6]["text"] == "Hello"
    final = sdk_response(got[-1]["response"])
    assert final.id == got[0]["response"]["id"] == "resp_1" and final.output_text == "Hello"
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (10, 5)


def test_text_then_tool_calls() -> None:
    got = events([
        chunk({"content": "Checking."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "get_time", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
        chunk({}, "tool_calls"),
    ])
    kinds = [event["type"] for event in got]
    # The text item ends before the first call starts; both calls end with the answer, in order.
    assert kinds.index("response.output_item.done") < kinds.index("response.function_call_arguments.delta")
    done = [event for event in got if event["type"] == "response.function_call_arguments.done"]
    assert [(event["output_index"], event["arguments"]) for event in done] == [(1, '{"city":"Oslo"}'), (2, "{}")]
    final = sdk_response(got[-1]["response"])
    assert [item.type for item in final.output] == ["message", "function_call", "function_call"]
    calls = [(item.call_id, item.name) for item in final.output[1:]]
    assert calls == [("call_1", "get_weather"), ("call_2", "get_time")]


def test_a_stream_cut_at_its_length_is_incomplete() -> None:
    got = events([chunk({"content": "Par"}), chunk({}, "length")], max_output_tokens=1)
    assert got[-1]["type"] == "response.incomplete"
    final = got[-1]["response"]
    assert final["status"] == "incomplete" and final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"


def test_a_refusal_streams_as_refusal_events() -> None:
    got = events([chunk({"refusal": "No."}), chunk({}, "stop")])
    kinds = [event["type"] for event in got]
    assert "response.refusal.delta" in kinds and "response.refusal.done" in kinds
    assert got[-1]["response"]["output"][0]["content"] == [{"type": "refusal", "refusal": "No."}]


def test_an_empty_stream_still_starts_and_completes() -> None:
    got = events([], Usage())
    assert [event["type"] for event in got] == ["response.created", "response.in_progress", "response.completed"]


def test_a_recorded_openai_chat_stream() -> None:
    """OpenAI's own chunks (pydantic-ai's recording): a tool call, then the text answer."""
    streams = [item.response.body for item in load_cassette("openai/test_run_stream_sync_streams_real_model.yaml")]
    first = [event.raw for event in sse_events(streams[0]) if event.raw and event.raw != b"[DONE]"]
    got = events(first, Usage(53, 15))
    (call,) = sdk_response(got[-1]["response"]).output
    assert call.type == "function_call" and call.call_id == "call_ZR5UUuTt3pf61kjwAJIYdVMj"
    assert call.name == "get_capital" and call.arguments == '{"country":"UK"}'
    second = [event.raw for event in sse_events(streams[1]) if event.raw and event.raw != b"[DONE]"]
    assert sdk_response(events(second)[-1]["response"]).output_text == "The capital of the UK is London."
