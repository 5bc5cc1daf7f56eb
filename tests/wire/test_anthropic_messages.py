"""The Anthropic Messages wire: OpenAI requests in, recorded Anthropic requests and answers compared."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.anthropic_messages import ANTHROPIC_MESSAGES
from api_connector.wire.anthropic_types import finish_reason
from tests.recorded import RECORDED, load_cassette

ANTHROPIC = RECORDED / "anthropic"


def request(messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return ChatRequest.from_json_obj({"model": "route", "messages": messages, **fields})


def encode(messages: list[dict[str, Any]], model: str = "claude-x", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(ANTHROPIC_MESSAGES.encode_request(request(messages, **fields), model))
    return body


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


# Requests: OpenAI in, what a real client successfully sent to Anthropic out.


def test_system_text_and_default_max_tokens_match_a_recorded_request() -> None:
    (interaction,) = load_cassette(ANTHROPIC / "test_anthropic_model_instructions.yaml")
    sent = interaction.request.body
    messages = [
        {"role": "system", "content": sent["system"]},
        user(sent["messages"][0]["content"][0]["text"]),
    ]
    assert encode(messages, model=sent["model"]) == sent


def test_recorded_openai_tool_conversation_becomes_the_recorded_anthropic_one() -> None:
    # The same agent run was recorded against both vendors; translating the OpenAI request must give the
    # Anthropic one, up to the ids the vendors minted and fields OpenAI has no equivalent for.
    openai_sent = load_cassette(RECORDED / "openai" / "test_openai_tool_output.yaml")[1].request.body
    anthropic_sent = copy.deepcopy(
        load_cassette(ANTHROPIC / "test_anthropic_tool_output.yaml")[1].request.body
    )
    body = encode(openai_sent["messages"], model=anthropic_sent["model"], **_tool_fields(openai_sent))
    anthropic_id = anthropic_sent["messages"][1]["content"][0]["id"]
    openai_id = openai_sent["messages"][1]["tool_calls"][0]["id"]
    anthropic_sent["messages"][1]["content"][0]["id"] = openai_id
    anthropic_sent["messages"][2]["content"][0]["tool_use_id"] = openai_id
    del anthropic_sent["messages"][2]["content"][0]["is_error"]  # OpenAI tool messages have no error flag
    # pydantic-ai titled the schema for Anthropic only.
    del anthropic_sent["tools"][1]["input_schema"]["title"]
    assert anthropic_id != openai_id
    assert body == anthropic_sent


def _tool_fields(sent: dict[str, Any]) -> dict[str, Any]:
    return {"tools": sent["tools"], "tool_choice": sent["tool_choice"]}


def test_parallel_tool_calls_and_merged_tool_results_match_a_recorded_request() -> None:
    sent = copy.deepcopy(load_cassette(ANTHROPIC / "test_multiple_parallel_tool_calls.yaml")[1].request.body)
    question, answer, results = sent["messages"]
    uses = [block for block in answer["content"] if block["type"] == "tool_use"]
    messages = [
        {"role": "system", "content": sent["system"]},
        user(question["content"][0]["text"]),
        {
            "role": "assistant",
            "content": answer["content"][0]["text"],
            "tool_calls": [
                {
                    "id": b["id"],
                    "type": "function",
                    "function": {"name": b["name"], "arguments": orjson.dumps(b["input"]).decode()},
                }
                for b in uses
            ],
        },
        *(
            {"role": "tool", "tool_call_id": r["tool_use_id"], "content": r["content"]}
            for r in results["content"]
        ),
    ]
    tools = [
        {
            "type": "function",
            "function": {"name": t["name"], "description": t["description"], "parameters": t["input_schema"]},
        }
        for t in sent["tools"]
    ]
    for block in results["content"]:
        del block["is_error"]
    assert encode(messages, model=sent["model"], tools=tools, tool_choice="auto") == sent


def test_image_url_and_temperature_match_recorded_requests() -> None:
    sent = load_cassette(ANTHROPIC / "test_image_url_input.yaml")[0].request.body
    text, image = sent["messages"][0]["content"]
    parts = [
        {"type": "text", "text": text["text"]},
        {"type": "image_url", "image_url": {"url": image["source"]["url"]}},
    ]
    assert encode([{"role": "user", "content": parts}], model=sent["model"]) == sent

    sampled = dict(
        load_cassette(ANTHROPIC / "test_anthropic_sampling_settings_reach_the_wire.yaml")[0].request.body
    )
    del sampled["top_k"]  # not an OpenAI parameter
    assert encode([user("hello")], model=sampled["model"], temperature=0.2) == sampled


def test_data_url_image_becomes_a_base64_source() -> None:
    parts = [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    (turn,) = encode([{"role": "user", "content": parts}])["messages"]
    source = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}
    assert turn["content"] == [{"type": "image", "source": source}]


def test_pdf_file_part_becomes_a_document() -> None:
    part = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
    }
    (turn,) = encode([{"role": "user", "content": [part]}])["messages"]
    source = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}
    assert turn["content"] == [{"type": "document", "source": source}]


@pytest.mark.parametrize(
    "content",
    [
        [{"type": "image_url", "image_url": {"url": "data:image/png,not-base64"}}],
        [{"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}],
        [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}],
        [{"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}],
        [{"type": "file", "file": {"file_id": "file-123"}}],
    ],
)
def test_content_anthropic_cannot_take_is_refused(content: list[dict[str, Any]]) -> None:
    with pytest.raises(ValidationFailed) as info:
        encode([{"role": "user", "content": content}])
    assert info.value.param is not None and info.value.param.startswith("messages[0].content[0]")


def test_system_and_developer_messages_join_and_turns_alternate() -> None:
    body = encode(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            user("Bonjour"),
            user("Ça va ?"),
            {"role": "assistant", "content": None},  # empty: dropped, so the users around it merge
            user("   "),
            user("Alors ?"),
        ]
    )
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Bonjour"},
                {"type": "text", "text": "Ça va ?"},
                {"type": "text", "text": "Alors ?"},
            ],
        }
    ]


def test_tool_results_and_a_following_user_message_share_one_user_turn() -> None:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": "f", "arguments": args}}
        for i, args in enumerate(['{"a": 1}', ""])
    ]
    body = encode(
        [
            user("go"),
            {"role": "assistant", "content": "", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_0", "content": "one"},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "two"}]},
            user("and?"),
        ]
    )
    assert [turn["role"] for turn in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_0", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {}},
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_0", "content": "one"},
        {"type": "tool_result", "tool_use_id": "call_1", "content": [{"type": "text", "text": "two"}]},
        {"type": "text", "text": "and?"},
    ]


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]"])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(ValidationFailed) as info:
        encode([user("go"), {"role": "assistant", "tool_calls": [call]}])
    assert info.value.param == "messages[1].tool_calls[0].function.arguments"


TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, None),
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        (
            {"tool_choice": {"type": "function", "function": {"name": "lookup"}}},
            {"type": "tool", "name": "lookup"},
        ),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"tool_choice": "required", "parallel_tool_calls": False},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        ({"tool_choice": "auto", "parallel_tool_calls": True}, {"type": "auto"}),
    ],
)
def test_tool_choice_forms(fields: dict[str, Any], expected: dict[str, Any] | None) -> None:
    body = encode([user("hi")], tools=TOOLS, **fields)
    assert body.get("tool_choice") == expected
    assert body["tools"] == [{"name": "lookup", "input_schema": {"type": "object"}}]


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    tools = [{"type": "function", "function": {"name": "now", "description": "The time."}}]
    (tool,) = encode([user("hi")], tools=tools)["tools"]
    assert tool == {
        "name": "now",
        "description": "The time.",
        "input_schema": {"type": "object", "properties": {}},
    }


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function"}])
def test_unknown_tool_choice_is_refused(choice: Any) -> None:
    with pytest.raises(ValidationFailed):
        encode([user("hi")], tools=TOOLS, tool_choice=choice)


def test_sampling_limits_and_metadata() -> None:
    body = encode(
        [user("hi")],
        max_tokens=100,
        max_completion_tokens=50,
        temperature=1.7,
        top_p=0.9,
        stop="END",
        user="user-42",
        stream=True,
        stream_options={"include_usage": True},
        frequency_penalty=0,  # none asked for: what Anthropic does anyway
    )
    assert body == {
        "model": "claude-x",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 1.0,  # OpenAI's range goes to 2, Anthropic's to 1
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
        "stream": True,
    }
    assert encode([user("hi")], stop=["a", "b"], max_tokens=10)["stop_sequences"] == ["a", "b"]
    assert encode([user("hi")], max_tokens=10)["max_tokens"] == 10


def test_more_than_one_choice_is_refused() -> None:
    with pytest.raises(ValidationFailed) as info:
        encode([user("hi")], n=2)
    assert info.value.param == "n"


def test_function_role_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        encode([user("hi"), {"role": "function", "name": "f", "content": "x"}])


# Answers: recorded Anthropic messages out as OpenAI chat completions.


def decode(path: Path, index: int = 0) -> tuple[ChatCompletion, Usage, str | None]:
    interaction = load_cassette(path)[index]
    result = ANTHROPIC_MESSAGES.decode_response(interaction.response.body, request([user("hi")]))
    return ChatCompletion.model_validate_json(result.body), result.usage, result.finish_reason


def test_text_answer() -> None:
    completion, usage, finish = decode(ANTHROPIC / "test_anthropic_model_instructions.yaml")
    assert completion.object == "chat.completion"
    assert completion.id == "msg_01Fg1JVgvCYUHWsxrj9GkpEv"
    assert completion.model == "claude-3-opus-20240229"
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "The capital of France is Paris."
    assert choice.message.tool_calls is None
    assert finish == choice.finish_reason == "stop"
    assert usage == Usage(input_tokens=20, output_tokens=10)
    assert completion.usage is not None and completion.usage.total_tokens == 30


def test_parallel_tool_use_answer() -> None:
    completion, usage, finish = decode(ANTHROPIC / "test_multiple_parallel_tool_calls.yaml")
    message = completion.choices[0].message
    assert message.content is not None and message.content.startswith("I'll help you find out")
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, orjson.loads(c.function.arguments)) for c in message.tool_calls]  # type: ignore[union-attr]
    assert calls == [
        ("toolu_0167cfEnoQaPviGdVXA95zcu", "retrieve_entity_info", {"name": "Alice"}),
        ("toolu_01EEe2V5HD1Ac4rKiUR4HD2T", "retrieve_entity_info", {"name": "Bob"}),
        ("toolu_01XFyAjstT3966qvRynZyVPo", "retrieve_entity_info", {"name": "Charlie"}),
        ("toolu_013mnQZbgtK2oe3Mo3XKJsx3", "retrieve_entity_info", {"name": "Daisy"}),
    ]
    assert finish == "tool_calls"
    assert usage == Usage(input_tokens=423, output_tokens=202)


def test_tool_use_only_answer_has_null_content() -> None:
    completion, _, finish = decode(ANTHROPIC / "test_anthropic_tool_output.yaml")
    message = completion.choices[0].message
    assert message.content is None
    assert message.tool_calls is not None and message.tool_calls[0].function.arguments == "{}"  # type: ignore[union-attr]
    assert finish == "tool_calls"


def test_thinking_is_left_out_of_the_answer() -> None:
    completion, usage, _ = decode(ANTHROPIC / "test_anthropic_model_thinking_part.yaml")
    content = completion.choices[0].message.content
    assert content is not None and content.startswith("Here's how to cross the street safely")
    assert "straightforward question" not in content
    assert usage == Usage(input_tokens=43, output_tokens=321)


def test_cache_reads_and_writes_count_as_prompt_tokens() -> None:
    path = ANTHROPIC / "test_anthropic_cache_real_api.yaml"
    completion, usage, _ = decode(path, 0)
    assert usage == Usage(input_tokens=3 + 1111, output_tokens=406, cached_tokens=1111)
    assert completion.usage is not None and completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 1111
    _, usage, _ = decode(path, 1)
    assert usage == Usage(input_tokens=3 + 1111 + 418, output_tokens=33, cached_tokens=1111)


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, None),
    ],
)
def test_finish_reasons(stop_reason: str | None, expected: str | None) -> None:
    assert finish_reason(stop_reason) == expected


def test_recorded_errors_decode() -> None:
    bad_request = load_cassette(
        ANTHROPIC / "test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml"
    )[0]
    assert bad_request.response.status == 400
    error = ANTHROPIC_MESSAGES.decode_error(bad_request.response.body)
    assert error is not None
    assert error.type == "invalid_request_error"
    assert error.message.startswith("This model does not support effort level 'xhigh'")

    not_found = load_cassette(ANTHROPIC / "test_anthropic_count_tokens_error.yaml")[0]
    error = ANTHROPIC_MESSAGES.decode_error(not_found.response.body)
    assert error is not None and (error.type, error.message) == (
        "not_found_error",
        "model: claude-does-not-exist",
    )


@pytest.mark.parametrize(
    "body", [b"<html>502 Bad Gateway</html>", b"{}", b'{"type": "message", "content": []}']
)
def test_other_bodies_are_not_vendor_errors(body: bytes) -> None:
    assert ANTHROPIC_MESSAGES.decode_error(body) is None
