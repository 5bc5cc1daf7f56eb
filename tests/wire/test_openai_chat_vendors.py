"""The OpenAI chat wire as OpenAI-compatible vendors use it: their dialects (declared as data), Azure's
prompt-annotation chunk and content-filter errors, xAI's reasoning tokens."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.core.usage import Usage
from api_connector.errors import ContentFiltered
from api_connector.providers import REGISTRY
from api_connector.routing.classify import classify_status
from api_connector.wire.openai_chat import OPENAI_CHAT, OpenAIChatStream, OpenAIChatWire
from api_connector.wire.openai_dialect import ChatDialect
from api_connector.wire.sse import SSEEvent
from tests.recorded import RECORDED, load_cassette, sse_events

DOCUMENTED = RECORDED.parent / "documented"
AZURE_STREAM = RECORDED / "crewai" / "azure" / "test_azure_streaming_completion.yaml"


def _request(**fields: Any) -> ChatRequest:
    return ChatRequest.from_json_obj({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields})


def _encoded(wire: OpenAIChatWire, request: ChatRequest) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(wire.encode_request(request, "vendor-model"))
    return body


def _chat_wire(provider: str) -> OpenAIChatWire:
    wire = REGISTRY[provider].endpoints[Capability.CHAT].wire
    assert isinstance(wire, OpenAIChatWire)
    return wire


# -- dialects: only what a declaration names changes ----------------------------------------------------


def test_a_renamed_field_moves_under_the_vendors_name() -> None:
    wire = OpenAIChatWire(ChatDialect(renames={"max_completion_tokens": "max_tokens"}))
    assert _encoded(wire, _request(max_completion_tokens=50))["max_tokens"] == 50
    body = _encoded(wire, _request(max_completion_tokens=50, max_tokens=900))
    assert body["max_tokens"] == 50 and "max_completion_tokens" not in body, "OpenAI's newer field wins"
    assert _encoded(wire, _request(max_tokens=70))["max_tokens"] == 70


def test_a_refused_field_is_left_out_and_nothing_else() -> None:
    wire = OpenAIChatWire(ChatDialect(drops=frozenset({"presence_penalty", "service_tier"})))
    sent = {"presence_penalty": 0.5, "service_tier": "auto", "n": 2, "top_k": 40, "reasoning_effort": "low",
            "max_completion_tokens": 9}
    body = _encoded(wire, _request(**sent))
    assert "presence_penalty" not in body and "service_tier" not in body
    # Fields the dialect does not name reach the vendor as the caller sent them, known or not.
    assert {key: body[key] for key in ("n", "top_k", "reasoning_effort", "max_completion_tokens")} == {
        "n": 2, "top_k": 40, "reasoning_effort": "low", "max_completion_tokens": 9,
    }


def test_a_vendor_without_stream_options_gets_none() -> None:
    wire = OpenAIChatWire(ChatDialect(stream_usage=False))
    assert "stream_options" not in _encoded(wire, _request(stream=True))
    assert "stream_options" not in _encoded(wire, _request(stream=True, stream_options={"include_usage": True}))
    assert _encoded(OPENAI_CHAT, _request(stream=True))["stream_options"] == {"include_usage": True}


def test_openai_requests_are_not_reshaped() -> None:
    sent = {"max_completion_tokens": 5, "presence_penalty": 0.1, "n": 3}
    assert _encoded(OPENAI_CHAT, _request(**sent)) == {
        "model": "vendor-model", "messages": [{"role": "user", "content": "hi"}], **sent,
    }


@pytest.mark.parametrize(
    ("provider", "sent", "expected"),
    [
        ("deepseek", {"max_completion_tokens": 64}, {"max_tokens": 64}),
        ("ollama", {"max_completion_tokens": 64}, {"max_tokens": 64}),
        ("perplexity", {"max_completion_tokens": 64}, {"max_tokens": 64}),
        ("cerebras", {"presence_penalty": 1.0, "frequency_penalty": 1.0, "logit_bias": {"1": 2},
                      "parallel_tool_calls": False, "service_tier": "auto", "max_completion_tokens": 64},
         {"max_completion_tokens": 64}),
        ("xai", {"max_completion_tokens": 64, "presence_penalty": 1.0},
         {"max_completion_tokens": 64, "presence_penalty": 1.0}),
    ],
)
def test_declared_dialects(provider: str, sent: dict[str, Any], expected: dict[str, Any]) -> None:
    body = _encoded(_chat_wire(provider), _request(**sent))
    assert body == {"model": "vendor-model", "messages": [{"role": "user", "content": "hi"}], **expected}


# -- usage: xAI counts reasoning tokens apart ----------------------------------------------------------

# xAI's reasoning models: completion_tokens leaves the reasoning out, total_tokens has it.
XAI_USAGE = {"prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135,
             "prompt_tokens_details": {"text_tokens": 32, "cached_tokens": 6},
             "completion_tokens_details": {"reasoning_tokens": 94}}


def test_reasoning_counted_apart_is_metered_as_output() -> None:
    answer = {"id": "x", "object": "chat.completion", "model": "grok-4", "usage": XAI_USAGE,
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}]}
    body = orjson.dumps(answer)
    result = _chat_wire("xai").decode_response(body, _request())
    assert result.usage == Usage(32, 103, 6)
    assert result.body == body, "the vendor's own numbers reach the caller untouched"
    assert OPENAI_CHAT.decode_response(body, _request()).usage == Usage(32, 9, 6)
    stream = _chat_wire("xai").stream_translator(_request(stream=True))
    chunk = {"id": "x", "object": "chat.completion.chunk", "model": "grok-4", "choices": [], "usage": XAI_USAGE}
    stream.feed(SSEEvent(orjson.dumps(chunk).decode()))
    assert stream.state.usage == Usage(32, 103, 6)


# -- Azure: the prompt's annotations come before the answer has an id ----------------------------------


def _azure_payloads() -> list[bytes]:
    return [event.raw for event in sse_events(load_cassette(AZURE_STREAM)[0].response.body)]


def _translator(include_usage: bool) -> OpenAIChatStream:
    return OPENAI_CHAT.stream_translator(_request(stream=True, stream_options={"include_usage": include_usage}))


def test_the_prompt_annotation_chunk_takes_the_answers_id() -> None:
    payloads = _azure_payloads()
    first = orjson.loads(payloads[0])
    assert first["id"] == "" and first["choices"] == [] and "prompt_filter_results" in first
    translator = _translator(include_usage=True)
    out = [orjson.loads(p) for payload in payloads for p in translator.feed(SSEEvent(payload))]
    out += [orjson.loads(p) for p in translator.finish()]
    answer = orjson.loads(payloads[1])
    assert {chunk["id"] for chunk in out} == {answer["id"]}
    annotation = out[0]
    assert annotation["prompt_filter_results"] == first["prompt_filter_results"] and annotation["choices"] == []
    assert (annotation["model"], annotation["created"], annotation["object"]) == (
        answer["model"], answer["created"], "chat.completion.chunk",
    )
    assert out[1:] == [orjson.loads(p) for p in payloads[1:] if p != b"[DONE]"], "the rest as it came"
    assert translator.state.usage == Usage(9, 10) and translator.state.done


@pytest.mark.parametrize("cut", range(1, 5))
@pytest.mark.parametrize("include_usage", [True, False])
def test_reads_cut_anywhere_give_the_same_chunks(cut: int, include_usage: bool) -> None:
    payloads = _azure_payloads()
    one_by_one = _translator(include_usage)
    expected = [p for payload in payloads for p in one_by_one.feed(SSEEvent(payload))]
    batched = _translator(include_usage)
    got = batched.feed_payloads(payloads[:cut]) + batched.feed_payloads(payloads[cut:])
    assert got == expected
    assert batched.state == one_by_one.state


@pytest.mark.parametrize("cut", range(1, 6))
def test_annotations_in_a_row_each_take_the_answers_id(cut: int) -> None:
    payloads = _azure_payloads()
    again = orjson.loads(payloads[0])
    again["prompt_filter_results"] = [{"prompt_index": 1, "content_filter_results": {}}]
    payloads = [payloads[0], orjson.dumps(again), *payloads[1:]]
    one_by_one = _translator(include_usage=True)
    expected = [p for payload in payloads for p in one_by_one.feed(SSEEvent(payload))]
    batched = _translator(include_usage=True)
    assert batched.feed_payloads(payloads[:cut]) + batched.feed_payloads(payloads[cut:]) == expected
    chunks = [orjson.loads(p) for p in expected]
    assert [c["prompt_filter_results"][0]["prompt_index"] for c in chunks[:2]] == [0, 1]
    assert {c["id"] for c in chunks} == {orjson.loads(payloads[2])["id"]}


def test_an_annotation_with_no_answer_after_it_is_passed_on_as_it_came() -> None:
    annotation = orjson.loads(_azure_payloads()[0])
    translator = _translator(include_usage=False)
    assert translator.feed(SSEEvent(orjson.dumps(annotation).decode())) == []
    assert [orjson.loads(p) for p in translator.feed(SSEEvent("[DONE]"))] == [annotation]
    again = _translator(include_usage=False)
    again.feed(SSEEvent(orjson.dumps(annotation).decode()))
    assert [orjson.loads(p) for p in again.finish()] == [annotation]


# -- Azure content filters ------------------------------------------------------------------------------


def test_a_prompt_refused_by_azures_filters_is_content_filtered_with_the_verdicts() -> None:
    (interaction,) = load_cassette(DOCUMENTED / "azure_openai" / "content_filter_prompt.yaml")
    said = OPENAI_CHAT.decode_error(interaction.response.body)
    assert said is not None and (said.code, said.param) == ("content_filter", "prompt")
    failure = classify_status(400, said, {}, provider="azure")
    assert isinstance(failure, ContentFiltered) and failure.code == "content_filtered"
    assert failure.details == {
        "upstream_type": None,
        "upstream_code": "content_filter",
        "upstream_inner_code": "ResponsibleAIPolicyViolation",
        "content_filter_results": {
            "hate": {"filtered": True, "severity": "high"},
            "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"},
            "violence": {"filtered": True, "severity": "medium"},
        },
    }


def test_errors_without_innererror_have_no_extra_details() -> None:
    said = OPENAI_CHAT.decode_error(b'{"error": {"message": "m", "type": "invalid_request_error", "code": "x"}}')
    assert said is not None and said.details is None
