"""The Anthropic ingress translation: Anthropic requests to the canonical chat request, OpenAI answers
to Anthropic messages; and both ways round through the Anthropic provider wire, with recorded traffic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.anthropic_ingress import chat_request, estimate_input_tokens, message_json
from api_connector.wire.anthropic_ingress_types import CountTokensRequest, MessagesRequest
from api_connector.wire.anthropic_messages import ANTHROPIC_MESSAGES, encode_messages_request
from api_connector.wire.openai_chat import OPENAI_CHAT
from tests.anthropic_shapes import without_default_is_error
from tests.conformance.cases import CONFORMANCE_DATA, DOCUMENTED_DATA
from tests.recorded import RECORDED, Interaction, load_cassette

PNG = "iVBORw0KGgo="
WEATHER = {"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object", "properties": {}}}


def messages_request(**fields: Any) -> MessagesRequest:
    return MessagesRequest.model_validate({"model": "route", "max_tokens": 100, **fields})


def canonical(**fields: Any) -> dict[str, Any]:
    return chat_request(messages_request(**fields)).wire_dict()


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


# -- requests --------------------------------------------------------------------------------------


def test_a_request_takes_the_openai_names_and_leaves_out_what_has_none() -> None:
    body = canonical(
        system="Be brief.", messages=[user("Hi")], temperature=0.5, top_p=0.9, top_k=40,
        stop_sequences=["END"], metadata={"user_id": "u-1"}, stream=True,
        thinking={"type": "enabled", "budget_tokens": 2048}, service_tier="auto",
    )
    assert body == {
        "model": "route",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "max_completion_tokens": 100, "stream": True, "temperature": 0.5, "top_p": 0.9, "stop": ["END"],
        "user": "u-1",
    }


def test_system_blocks_are_one_system_prompt() -> None:
    cached = {"type": "text", "text": "Two.", "cache_control": {"type": "ephemeral"}}
    blocks = [{"type": "text", "text": "One."}, cached]
    system = canonical(system=blocks, messages=[user("Hi")])["messages"][0]
    assert system == {"role": "system", "content": "One.\n\nTwo."}
    image = {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}}
    with pytest.raises(ValidationFailed) as refused:
        canonical(system=[image], messages=[user("Hi")])
    assert refused.value.param == "system.0.type"


def test_tool_results_come_first_as_tool_messages_then_the_rest_of_the_turn() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    turn = user([
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny", "is_error": False},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "chart:"}, image]},
        {"type": "text", "text": "And tomorrow?"},
    ])
    assert canonical(messages=[turn])["messages"] == [
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [
            {"type": "text", "text": "chart:"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ]},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]


def test_assistant_turns_keep_text_and_tool_calls_and_drop_thinking() -> None:
    turns = [
        user("Weather in Paris?"),
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "The user wants...", "signature": "sig"},
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        ]},
        {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xyz"}]},
    ]
    assert canonical(messages=turns)["messages"][1:] == [{
        "role": "assistant", "content": "Let me look.",
        "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
    }]


def test_images_and_documents_become_openai_parts() -> None:
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "document", "title": "a.pdf",
         "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "plain words"}},
    ]
    assert canonical(messages=[user(content)])["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "text", "text": "plain words"},
    ]


@pytest.mark.parametrize(("block", "param"), [
    ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, "messages.0.content.0"),
    ({"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}},
     "messages.0.content.0.source"),
    ({"type": "search_result", "source": "x", "title": "t", "content": []}, "messages.0.content.0"),
])
def test_content_without_an_openai_form_is_refused_naming_it(block: dict[str, Any], param: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        canonical(messages=[user([block])])
    assert refused.value.param == param


@pytest.mark.parametrize(("choice", "expected"), [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "tool", "name": "get_weather"},
     {"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    ({"type": "auto", "disable_parallel_tool_use": True}, {"tool_choice": "auto", "parallel_tool_calls": False}),
    (None, {}),
])
def test_tools_and_tool_choice(choice: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"messages": [user("Hi")], "tools": [WEATHER]}
    if choice is not None:
        fields["tool_choice"] = choice
    body = canonical(**fields)
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather.", "parameters": {"type": "object", "properties": {}},
    }}]
    assert {key: body[key] for key in ("tool_choice", "parallel_tool_calls") if key in body} == expected


def test_server_tools_are_refused() -> None:
    with pytest.raises(ValidationFailed) as refused:
        canonical(messages=[user("Hi")], tools=[{"type": "web_search_20250305", "name": "web_search"}])
    assert refused.value.param == "tools.0.type"
    with pytest.raises(ValidationFailed, match="input_schema"):
        canonical(messages=[user("Hi")], tools=[{"name": "no_schema"}])


def test_the_estimate_counts_messages_and_tool_definitions() -> None:
    plain = chat_request(CountTokensRequest.model_validate({"model": "m", "messages": [user("x" * 400)]}))
    with_tools = chat_request(CountTokensRequest.model_validate({"model": "m", "messages": [user("x" * 400)],
                                                                "tools": [WEATHER]}))
    assert estimate_input_tokens(plain) == 100 + 4 + 3
    assert estimate_input_tokens(with_tools) > estimate_input_tokens(plain)


# -- both ways round: the recorded Anthropic request comes out of the provider wire as it went in ------


def _recorded_requests() -> list[Any]:
    sources = {
        RECORDED / "anthropic/test_anthropic_model_instructions.yaml": (),
        RECORDED / "anthropic/test_anthropic_tool_output.yaml": (),
        RECORDED / "anthropic/test_image_url_input.yaml": (),
        RECORDED / "anthropic/test_multiple_parallel_tool_calls.yaml": (),
        RECORDED / "anthropic/test_anthropic_sampling_settings_reach_the_wire.yaml": ("top_k",),
        RECORDED / "anthropic/test_anthropic_cache_real_api.yaml": ("cache_control",),
        CONFORMANCE_DATA / "anthropic/test_document_binary_content_input.yaml": (),
        CONFORMANCE_DATA / "anthropic/test_extra_headers.yaml": (),
        DOCUMENTED_DATA / "anthropic/stop_sequence.yaml": (),
    }
    return [
        pytest.param(item, dropped, id=f"{path.stem}-{i}")
        for path, dropped in sources.items()
        for i, item in enumerate(load_cassette(path))
    ]


@pytest.mark.parametrize(("interaction", "dropped"), _recorded_requests())
def test_a_recorded_anthropic_request_survives_both_translations(
    interaction: Interaction, dropped: tuple[str, ...]
) -> None:
    recorded = interaction.request.body
    assert isinstance(recorded, dict) and set(dropped) <= recorded.keys()
    chat = chat_request(MessagesRequest.model_validate(recorded))
    again = encode_messages_request(chat, recorded["model"])
    expected = {key: value for key, value in without_default_is_error(recorded).items() if key not in dropped}
    assert again == expected


# -- answers ---------------------------------------------------------------------------------------


def _double(interaction: Interaction, stop_sequences: list[str] | None = None) -> dict[str, Any]:
    """An Anthropic answer through the provider wire (to OpenAI) and back through the ingress."""
    result = ANTHROPIC_MESSAGES.decode_response(interaction.response.body, chat_request(messages_request(
        messages=[user("Hi")])))
    return message_json(result.body, result.usage, stop_sequences)


def _answers(path: Path) -> list[Interaction]:
    return [item for item in load_cassette(path) if item.response.status == 200]


@pytest.mark.parametrize("source", [
    "anthropic/test_anthropic_model_instructions.yaml",
    "anthropic/test_anthropic_tool_output.yaml",
    "anthropic/test_multiple_parallel_tool_calls.yaml",
    "anthropic/test_image_url_input.yaml",
])
def test_a_recorded_anthropic_answer_survives_both_translations(source: str) -> None:
    for interaction in _answers(RECORDED / source):
        recorded = interaction.response.json()
        again = _double(interaction)
        for key in ("id", "type", "role", "model", "stop_reason", "stop_sequence"):
            assert again[key] == recorded[key]
        texts = [b for b in recorded["content"] if b["type"] == "text"]
        text = [{"type": "text", "text": "".join(b["text"] for b in texts)}] if texts else []
        tools = [b for b in recorded["content"] if b["type"] == "tool_use"]
        # Text blocks come first and as one: the OpenAI shape has one text per message.
        assert again["content"] == text + tools
        usage = recorded["usage"]
        assert again["usage"] == {
            "input_tokens": usage["input_tokens"] + usage["cache_creation_input_tokens"],
            "output_tokens": usage["output_tokens"],
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": usage["cache_read_input_tokens"],
        }


def test_cache_reads_survive_and_cache_writes_fold_into_input() -> None:
    second = _answers(RECORDED / "anthropic/test_anthropic_cache_real_api.yaml")[1]
    assert second.response.json()["usage"]["cache_creation_input_tokens"] == 418
    assert _double(second)["usage"] == {
        "input_tokens": 3 + 418, "output_tokens": 33, "cache_creation_input_tokens": None,
        "cache_read_input_tokens": 1111,
    }


def test_the_matched_stop_sequence_survives_both_translations() -> None:
    (interaction,) = load_cassette(DOCUMENTED_DATA / "anthropic/stop_sequence.yaml")
    again = _double(interaction, ["\n\nHuman:"])
    assert (again["stop_reason"], again["stop_sequence"]) == ("stop_sequence", "\n\nHuman:")
    # A sequence the caller did not ask for is not taken for one.
    assert _double(interaction, ["STOP"])["stop_reason"] == "end_turn"


def test_thinking_blocks_do_not_survive_the_openai_shape() -> None:
    first = _answers(RECORDED / "anthropic/test_anthropic_model_thinking_part.yaml")[0]
    recorded = first.response.json()
    assert [b["type"] for b in recorded["content"]] == ["thinking", "text"]
    assert [b["type"] for b in _double(first)["content"]] == ["text"]


def test_recorded_openai_answers_become_anthropic_messages() -> None:
    first, _ = load_cassette(RECORDED / "openai/test_openai_tool_output.yaml")
    result = OPENAI_CHAT.decode_response(first.response.body, chat_request(messages_request(messages=[user("Hi")])))
    message = message_json(result.body, result.usage, None)
    assert message["content"] == [{"type": "tool_use", "id": "call_iXFttys57ap0o16JSlC8yhYo",
                                   "name": "get_user_country", "input": {}}]
    assert (message["stop_reason"], message["usage"]["input_tokens"], message["usage"]["output_tokens"]) == (
        "tool_use", 68, 12)
    (text,) = load_cassette(RECORDED / "openai/test_openai_instructions.yaml")
    result = OPENAI_CHAT.decode_response(text.response.body, chat_request(messages_request(messages=[user("Hi")])))
    message = message_json(result.body, result.usage, None)
    assert message["content"] == [{"type": "text", "text": "The capital of France is Paris."}]
    assert message["stop_reason"] == "end_turn" and message["id"] == text.response.json()["id"]


def _completion(message: dict[str, Any], finish: str | None, **choice: Any) -> bytes:
    return orjson.dumps({"id": "c1", "model": "m", "choices": [
        {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}]})


@pytest.mark.parametrize(("message", "finish", "choice", "blocks", "stop"), [
    ({"content": "cut"}, "length", {}, [{"type": "text", "text": "cut"}], ("max_tokens", None)),
    ({"content": None, "refusal": "I can't help with that."}, "stop", {},
     [{"type": "text", "text": "I can't help with that."}], ("refusal", None)),
    ({"content": "x"}, "content_filter", {}, [{"type": "text", "text": "x"}], ("refusal", None)),
    # Some vendors end tool calls with "stop": the caller must still run them.
    ({"content": None, "tool_calls": [{"id": "t1", "type": "function",
                                       "function": {"name": "f", "arguments": '{"a": 1'}}]}, "stop", {},
     [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}], ("tool_use", None)),
    ({"content": "4", "reasoning_content": "2+2 is 4."}, "stop", {"stop_reason": "END"},
     [{"type": "thinking", "thinking": "2+2 is 4.", "signature": ""}, {"type": "text", "text": "4"}],
     ("stop_sequence", "END")),
])
def test_openai_answers_map_to_anthropic_blocks_and_stop_reasons(
    message: dict[str, Any], finish: str, choice: dict[str, Any], blocks: list[dict[str, Any]], stop: tuple[str, Any]
) -> None:
    answer = message_json(_completion(message, finish, **choice), Usage(10, 5, 4), ["END"])
    assert answer["content"] == blocks
    assert (answer["stop_reason"], answer["stop_sequence"]) == stop
    assert answer["usage"] == {"input_tokens": 6, "output_tokens": 5, "cache_creation_input_tokens": None,
                               "cache_read_input_tokens": 4}
