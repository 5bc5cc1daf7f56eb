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
def test_recorded_answers_pass_through_with_their_usage(path: Any, index: int, usage: Usage, finish: str) -> None:
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
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "The capital of the UK is London."
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


def _chunk(choices: list[Any], usage: Any = None, **extra: Any) -> bytes:
    """A chunk serialised compactly, fields in OpenAI's order."""
    body = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices}
    return orjson.dumps({**body, "usage": usage, **extra})


def _delta(content: str, finish: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": finish}


_USAGE = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8, "prompt_tokens_details": {"cached_tokens": 2}}


def _stream_translator(include_usage: bool) -> OpenAIChatStream:
    raw = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    raw["stream_options"] = {"include_usage": include_usage}
    return OPENAI_CHAT.stream_translator(ChatRequest.from_json_obj(raw))


def _one_by_one(translator: OpenAIChatStream, payloads: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for payload in payloads:
        out += translator.feed(SSEEvent(payload))
        if translator.state.error is not None:
            break
    return out


def _streams() -> list[list[bytes]]:
    recorded = [
        [e.raw for e in sse_events(load_cassette(OPENAI / name)[index].response.body)]
        for name, index in [
            ("test_openai_moderation_stream.yaml", 0),
            ("test_run_stream_sync_streams_real_model.yaml", 0),
            ("test_run_stream_sync_streams_real_model.yaml", 1),
        ]
    ]
    compact = [
        _chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}]),
        *(_chunk([_delta(word)]) for word in ["The", " capital", " is", " London."]),
        _chunk([_delta("", "stop")]),
        _chunk([], _USAGE),
        b"[DONE]",
    ]
    # OpenRouter and Mistral put usage on the chunk with the finish reason.
    usage_on_last = [*compact[:5], _chunk([_delta("", "length")], _USAGE), b"[DONE]"]
    return [*recorded, compact, usage_on_last]


@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("payloads", _streams(), ids=["moderation", "tools", "text", "compact", "usage-on-last"])
def test_a_whole_read_translates_as_its_events_one_by_one(payloads: list[bytes], include_usage: bool) -> None:
    batched, single = _stream_translator(include_usage), _stream_translator(include_usage)
    assert batched.feed_payloads(payloads) == _one_by_one(single, payloads)
    assert batched.state == single.state
    assert batched.state.done and batched.state.usage.total_tokens > 0 and batched.state.finish_reason


def test_a_whole_read_keeps_usage_only_for_callers_who_asked() -> None:
    payloads = _streams()[4]  # usage on the chunk that still has a choice
    hidden = _stream_translator(include_usage=False).feed_payloads(payloads)
    assert hidden[:-1] == payloads[:-2]  # the plain deltas are the upstream bytes themselves
    expected = orjson.loads(payloads[-2])
    del expected["usage"]
    assert orjson.loads(hidden[-1]) == expected
    shown = _stream_translator(include_usage=True).feed_payloads(payloads)
    assert shown == payloads[:-1]


def test_a_whole_read_stops_at_an_in_stream_error() -> None:
    error = b'{"error":{"message":"The server had an error","type":"server_error"}}'
    plain = _chunk([_delta("Hi")])
    translator = _stream_translator(include_usage=True)
    assert translator.feed_payloads([plain, error, plain, b"[DONE]"]) == [plain]
    assert translator.state.error is not None and translator.state.error.type == "server_error"
    assert not translator.state.done  # nothing after the error was read


def test_a_broken_event_in_a_whole_read_is_an_error() -> None:
    translator = _stream_translator(include_usage=True)
    assert translator.feed_payloads([_chunk([_delta("Hi")]), b"{not json"]) == [_chunk([_delta("Hi")])]
    assert translator.state.error is not None


def test_plain_chunks_are_forwarded_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deltas with nothing to account for (OpenAI's padded ones too) never reach the JSON parser."""
    padded = _chunk([_delta("Hi")], None, obfuscation="a1B2c3")
    payloads = [_chunk([_delta("Hi")]), padded, _chunk([_delta("Hi")])[: -len(b',"usage":null}')] + b"}"]
    translator = _stream_translator(include_usage=True)

    def refuse(_: bytes) -> object:
        raise AssertionError("a plain chunk was parsed")

    monkeypatch.setattr(orjson, "loads", refuse)
    assert translator.feed_payloads(payloads) == payloads
    assert [p for payload in payloads for p in translator.feed(SSEEvent(payload))] == payloads


@pytest.mark.parametrize(
    "payload",
    [
        _chunk([_delta("", "stop")], None, obfuscation="a1B2"),  # a finish reason
        _chunk([], _USAGE, obfuscation="a1B2"),  # usage
        _chunk([_delta("Hi")], None, obfuscation="a-b"),  # padding of another shape
        _chunk([_delta("Hi")], None, obfuscation=""),
        _chunk([_delta("Hi")], None, obfuscation="ab", error={"message": "late"}),
        # Fields after the padding are not the padding's: here a second usage, which JSON readers keep.
        _chunk([_delta("Hi")], None, obfuscation="ab")[:-1] + b',"usage":{"prompt_tokens":4},"note":"n"}',
    ],
)
def test_padded_chunks_that_carry_something_are_read(payload: bytes) -> None:
    batched, single = _stream_translator(include_usage=False), _stream_translator(include_usage=False)
    assert batched.feed_payloads([payload]) == _one_by_one(single, [payload])
    assert batched.state == single.state
    untouched = _stream_translator(include_usage=False).state
    carries = b'"stop"' in payload or b'"usage":{' in payload or b'"error"' in payload
    assert (batched.state != untouched) == carries


@pytest.mark.parametrize("reason", ["stop", "length", "tool_calls", "content_filter", "function_call"])
def test_a_finish_chunk_is_forwarded_unread_with_its_reason(reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk that only ends a choice is read from its ending: the reason noted, the bytes as they came."""
    payload = _chunk([_delta("", reason)])
    translator = _stream_translator(include_usage=False)

    def refuse(_: bytes) -> object:
        raise AssertionError("a finish chunk was parsed")

    monkeypatch.setattr(orjson, "loads", refuse)
    assert translator.feed_payloads([_chunk([_delta("Hi")]), payload]) == [_chunk([_delta("Hi")]), payload]
    assert translator.state.finish_reason == reason


@pytest.mark.parametrize(
    "payload",
    [
        _chunk([_delta("", "end_turn")]),  # a reason OpenAI does not document: parsed, kept as it came
        _chunk([_delta("", 'stop"ped')]),  # one with an escaped quote: the parser unescapes it
        _chunk([_delta("", "stop")], _USAGE),  # usage on the same chunk
        _chunk([_delta("", "stop")], system_fingerprint="fp_1"),  # a field after the usage
        orjson.dumps({"choices": [_delta("", "stop")], "usage": None}, option=orjson.OPT_INDENT_2),  # spacing
        # The key quoted inside a string, escaped as JSON must: the real reason is "length".
        _chunk([{**_delta('"finish_reason":"stop'), "finish_reason": "length"}]),
    ],
)
def test_finish_chunks_written_otherwise_are_read(payload: bytes) -> None:
    batched, single = _stream_translator(include_usage=True), _stream_translator(include_usage=True)
    assert batched.feed_payloads([payload]) == _one_by_one(single, [payload])
    assert batched.state == single.state
    assert batched.state.finish_reason == orjson.loads(payload)["choices"][0]["finish_reason"]


def test_a_finish_chunk_after_held_annotations_names_them() -> None:
    """Held chunks wait for the next chunk's id: a finish chunk after them is read, not forwarded unread."""
    annotation = orjson.dumps({"id": "", "choices": [], "prompt_filter_results": [{"prompt_index": 0}]})
    translator = _stream_translator(include_usage=False)
    out = translator.feed_payloads([annotation, _chunk([_delta("", "stop")])])
    assert [orjson.loads(p)["id"] for p in out] == ["chatcmpl-1", "chatcmpl-1"]
    assert translator.state.finish_reason == "stop"
