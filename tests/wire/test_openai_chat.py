"""The OpenAI Chat Completions wire against recorded OpenAI and Groq traffic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletionChunk

from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.wire.openai_chat import OPENAI_CHAT, OpenAIChatStream
from api_connector.wire.sse import SSEEvent
from tests.recorded import RECORDED, Interaction, load_cassette, sse_events

OPENAI = RECORDED / "openai"
GROQ = RECORDED / "groq"


def replayed_request(interaction: Interaction) -> ChatRequest:
    return ChatRequest.from_json_obj(interaction.request.body)


@pytest.mark.parametrize(
    ("path", "index", "usage", "finish"),
    [
        (OPENAI / "test_openai_instructions.yaml", 0, Usage(24, 8), "stop"),
        (OPENAI / "test_openai_model_without_system_prompt.yaml", 0, Usage(11, 809), "stop"),
        (OPENAI / "test_openai_tool_output.yaml", 0, Usage(68, 12), "tool_calls"),
        (GROQ / "test_groq_model_instructions.yaml", 0, Usage(48, 8), "stop"),
        (GROQ / "test_tool_use_failed_error.yaml", 1, Usage(301, 52), "tool_calls"),
        (GROQ / "test_tool_use_failed_error.yaml", 2, Usage(336, 96, cached_tokens=256), "stop"),
    ],
    ids=lambda v: v.stem if hasattr(v, "stem") else None,
)
def test_recorded_answers_pass_through_with_their_usage(
    path: Any, index: int, usage: Usage, finish: str
) -> None:
    interaction = load_cassette(path)[index]
    assert interaction.response.status == 200
    result = OPENAI_CHAT.decode_response(interaction.response.body, replayed_request(interaction))
    assert result.body == interaction.response.body  # forwarded untouched
    assert result.usage == usage
    assert result.finish_reason == finish


def test_encoding_keeps_the_callers_fields_and_sets_the_upstream_model() -> None:
    interaction = load_cassette(OPENAI / "test_openai_tool_output.yaml")[1]
    body = orjson.loads(OPENAI_CHAT.encode_request(replayed_request(interaction), "gpt-4o-2024-08-06"))
    assert body == {**interaction.request.body, "model": "gpt-4o-2024-08-06"}


def test_streams_always_ask_upstream_for_usage() -> None:
    caller = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    body = orjson.loads(OPENAI_CHAT.encode_request(ChatRequest.from_json_obj(caller), "m"))
    assert body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in caller  # the caller's own dict is left alone


def translate(interaction: Interaction, include_usage: bool) -> tuple[list[bytes], OpenAIChatStream]:
    raw = dict(interaction.request.body)
    raw["stream_options"] = {"include_usage": include_usage}
    translator = OPENAI_CHAT.stream_translator(ChatRequest.from_json_obj(raw))
    payloads = [p for event in sse_events(interaction.response.body) for p in translator.feed(event)]
    payloads += translator.finish()
    for payload in payloads:
        ChatCompletionChunk.model_validate_json(payload)
    return payloads, translator


def test_tool_call_stream_with_usage_chunk() -> None:
    interaction = load_cassette(OPENAI / "test_run_stream_sync_streams_real_model.yaml")[0]
    payloads, translator = translate(interaction, include_usage=True)
    upstream = [e.data.encode() for e in sse_events(interaction.response.body) if e.data != "[DONE]"]
    assert payloads == upstream  # every chunk forwarded byte for byte
    assert orjson.loads(payloads[-1])["choices"] == []
    assert translator.state.usage == Usage(53, 15)
    assert translator.state.finish_reason == "tool_calls"
    assert translator.state.done and translator.state.error is None


def test_usage_chunk_is_hidden_from_callers_who_did_not_ask() -> None:
    interaction = load_cassette(OPENAI / "test_run_stream_sync_streams_real_model.yaml")[1]
    payloads, translator = translate(interaction, include_usage=False)
    chunks = [orjson.loads(p) for p in payloads]
    assert all(chunk["choices"] for chunk in chunks)
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        == "The capital of the UK is London."
    )
    assert translator.state.usage == Usage(78, 9)  # still accounted for
    assert translator.state.finish_reason == "stop"


def test_stream_with_trailing_moderation_chunk() -> None:
    interaction = load_cassette(OPENAI / "test_openai_moderation_stream.yaml")[0]
    _, translator = translate(interaction, include_usage=False)
    assert translator.state.usage == Usage(13, 11)
    assert translator.state.finish_reason == "stop"
    assert translator.state.done


@pytest.mark.parametrize(
    ("path", "status", "expected"),
    [
        (
            OPENAI / "test_openai_o1_mini_system_role_developer.yaml",
            400,
            ("invalid_request_error", "unsupported_value", "messages[0].role"),
        ),
        (
            OPENAI / "test_openai_web_search_tool_model_not_supported.yaml",
            400,
            ("invalid_request_error", None, "web_search_options"),
        ),
        (GROQ / "test_tool_use_failed_error.yaml", 400, ("invalid_request_error", "tool_use_failed", None)),
        (GROQ / "test_tool_regular_error.yaml", 404, ("invalid_request_error", "model_not_found", None)),
    ],
    ids=lambda v: v.stem if hasattr(v, "stem") else None,
)
def test_recorded_errors_decode(path: Any, status: int, expected: tuple[str, str | None, str | None]) -> None:
    response = load_cassette(path)[0].response
    assert response.status == status
    error = OPENAI_CHAT.decode_error(response.body)
    assert error is not None
    assert (error.type, error.code, error.param) == expected
    assert error.message == response.json()["error"]["message"]


def test_string_errors_and_non_errors() -> None:
    error = OPENAI_CHAT.decode_error(b'{"error": "Internal server error"}')
    assert error is not None and error.message == "Internal server error"
    assert OPENAI_CHAT.decode_error(b"upstream connect error") is None
    ok = load_cassette(OPENAI / "test_openai_instructions.yaml")[0].response.body
    assert OPENAI_CHAT.decode_error(ok) is None


def test_in_stream_error_is_noted() -> None:
    raw = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    translator = OPENAI_CHAT.stream_translator(ChatRequest.from_json_obj(raw))
    data = '{"error": {"message": "The server had an error", "type": "server_error"}}'
    assert translator.feed(SSEEvent(data=data)) == []
    assert translator.state.error is not None and translator.state.error.type == "server_error"
