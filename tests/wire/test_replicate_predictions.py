"""The Replicate predictions wire, both ways, on fixtures written from Replicate's documented examples
(nothing recorded against Replicate was available; see tests/data/documented/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from api_connector.core.chat import ChatRequest
from api_connector.core.exchange import Inbound
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.wire.base import ChatResult, Follow, VendorFailed
from api_connector.wire.replicate_predictions import POLL_SECONDS, REPLICATE_PREDICTIONS, ReplicateStream
from api_connector.wire.sse import SSEEvent
from tests.recorded import Interaction, load_cassette, sse_events

DOCUMENTED = Path(__file__).parents[1] / "data" / "documented" / "replicate"
MODEL = "meta/meta-llama-3.1-405b-instruct"
TINA = "Tina has one brother and one sister. How many sisters do Tina's siblings have?"


def cassette(name: str) -> list[Interaction]:
    return load_cassette(DOCUMENTED / name)


def request(messages: list[dict[str, Any]], **fields: Any) -> ChatRequest:
    return ChatRequest.from_json_obj({"model": "route", "messages": messages, **fields})


def tina(**fields: Any) -> ChatRequest:
    sampling = {"max_tokens": 1024, "temperature": 0.6, "top_p": 0.9, "min_tokens": 0, "presence_penalty": 0,
                "frequency_penalty": 0}
    messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": TINA}]
    return request(messages, **{**sampling, **fields})


def answer(interaction: Interaction) -> Inbound:
    return Inbound(interaction.response.status, interaction.response.headers, interaction.response.body)


# -- requests ------------------------------------------------------------------------------------------


def test_the_documented_input_is_the_translation_of_a_chat_request() -> None:
    first = cassette("prediction_wait.yaml")[0].request
    outbound = REPLICATE_PREDICTIONS.start(tina(), MODEL, f"/models/{MODEL}/predictions")
    assert outbound.path == f"/models/{MODEL}/predictions" and outbound.method == "POST"
    assert outbound.body is not None and orjson.loads(outbound.body) == first.body
    assert outbound.headers == {"content-type": "application/json", "prefer": "wait"}


def test_a_stream_is_asked_for_without_waiting() -> None:
    first = cassette("prediction_stream.yaml")[0].request
    outbound = REPLICATE_PREDICTIONS.start(tina(stream=True), MODEL, f"/models/{MODEL}/predictions")
    assert outbound.body is not None and orjson.loads(outbound.body) == first.body
    assert "prefer" not in outbound.headers


def test_a_version_is_named_in_the_body() -> None:
    chat = request([{"role": "user", "content": "hi"}])
    outbound = REPLICATE_PREDICTIONS.start(chat, "acme/llm:5c7d5dc6", "/models/acme/llm:5c7d5dc6/predictions")
    assert outbound.path == "/predictions"
    assert outbound.body is not None
    assert orjson.loads(outbound.body) == {"input": {"prompt": "hi"}, "version": "5c7d5dc6"}


def test_a_conversation_is_written_into_the_prompt() -> None:
    chat = request([
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "Name a colour."}]},
    ], stop=["\n\n", "END"], seed=3, top_k=40)
    body = orjson.loads(REPLICATE_PREDICTIONS.encode_request(chat, MODEL))
    assert body == {"input": {
        "prompt": "User: Hi\n\nAssistant: Hello!\n\nUser: Name a colour.", "system_prompt": "Be brief.",
        "stop_sequences": "\n\n,END", "seed": 3, "top_k": 40,
    }}


@pytest.mark.parametrize(("chat", "param"), [
    (request([{"role": "user", "content": "hi"}], tools=[{"type": "function", "function": {"name": "f"}}]), "tools"),
    (request([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]),
     "messages[0].content"),
    (request([{"role": "tool", "tool_call_id": "c", "content": "x"}]), "messages[0]"),
    (request([{"role": "user", "content": "hi"}], n=3), "n"),
])
def test_what_a_prompt_cannot_carry_is_refused(chat: ChatRequest, param: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        REPLICATE_PREDICTIONS.encode_request(chat, MODEL)
    assert refused.value.param == param


# -- answers -------------------------------------------------------------------------------------------


def test_a_prediction_that_succeeded_while_waited_for_is_the_answer() -> None:
    (created,) = cassette("prediction_wait.yaml")
    step = REPLICATE_PREDICTIONS.advance(tina(), answer(created))
    assert isinstance(step, ChatResult)
    completion = ChatCompletion.model_validate_json(step.body)
    assert (completion.id, completion.model) == ("zjq6szssxdrm20cgw0fsntgvbg", MODEL)
    assert completion.choices[0].message.content == "".join(created.response.json()["output"])
    assert completion.choices[0].finish_reason == "stop" and step.usage == Usage(26, 84)
    assert completion.created == 1721747061


def test_a_prediction_still_running_is_polled() -> None:
    created, running, done = cassette("prediction_poll.yaml")
    for interaction in (created, running):
        step = REPLICATE_PREDICTIONS.advance(tina(), answer(interaction))
        assert isinstance(step, Follow) and step.translator is None and step.wait == POLL_SECONDS
        assert (step.outbound.method, step.outbound.url, step.outbound.body) == ("GET", running.request.uri, None)
    assert isinstance(REPLICATE_PREDICTIONS.advance(tina(), answer(done)), ChatResult)


def test_a_streamed_prediction_is_read_from_its_stream_url() -> None:
    created, streamed, _ = cassette("prediction_stream.yaml")
    step = REPLICATE_PREDICTIONS.advance(tina(stream=True), answer(created))
    assert isinstance(step, Follow) and isinstance(step.translator, ReplicateStream)
    assert (step.outbound.method, step.outbound.url) == ("GET", streamed.request.uri)
    assert step.outbound.headers["accept"] == "text/event-stream"


def test_a_stream_asked_of_a_model_that_cannot_stream_polls_for_the_whole_answer() -> None:
    created = cassette("prediction_poll.yaml")[0].response.json()
    del created["urls"]["stream"]
    step = REPLICATE_PREDICTIONS.advance(tina(stream=True), Inbound(201, {}, orjson.dumps(created)))
    assert isinstance(step, Follow) and step.translator is None and step.outbound.url == created["urls"]["get"]


def test_a_failed_prediction_is_the_vendors_failure() -> None:
    failed, _ = cassette("prediction_failed_then_retried.yaml")
    with pytest.raises(VendorFailed) as raised:
        REPLICATE_PREDICTIONS.advance(tina(), answer(failed))
    assert raised.value.error.message == "Prediction interrupted; please retry (code: PA)"
    assert raised.value.error.type == "prediction_failed"
    with pytest.raises(VendorFailed):
        REPLICATE_PREDICTIONS.decode_response(failed.response.body, tina())


def test_output_that_reached_max_tokens_finished_on_length() -> None:
    (created,) = cassette("prediction_wait.yaml")
    step = REPLICATE_PREDICTIONS.advance(tina(max_tokens=84), answer(created))
    assert isinstance(step, ChatResult) and step.finish_reason == "length"


def test_a_body_that_is_not_a_prediction_is_an_error() -> None:
    with pytest.raises(ValueError):
        REPLICATE_PREDICTIONS.advance(tina(), Inbound(200, {}, b'{"detail": "nope"}'))
    with pytest.raises(ValueError):
        REPLICATE_PREDICTIONS.decode_response(cassette("prediction_poll.yaml")[0].response.body, tina())


# -- the stream ----------------------------------------------------------------------------------------


def streamed(include_usage: bool) -> tuple[list[dict[str, Any]], ReplicateStream, list[Interaction]]:
    interactions = cassette("prediction_stream.yaml")
    fields: dict[str, Any] = {"stream": True}
    if include_usage:
        fields["stream_options"] = {"include_usage": True}
    step = REPLICATE_PREDICTIONS.advance(tina(**fields), answer(interactions[0]))
    assert isinstance(step, Follow) and isinstance(step.translator, ReplicateStream)
    translator = step.translator
    payloads = [payload for event in sse_events(interactions[1].response.body) for payload in translator.feed(event)]
    payloads += translator.finish()
    follow_up = translator.follow_up()
    assert follow_up is not None and follow_up.url == interactions[2].request.uri
    payloads += translator.settle(answer(interactions[2]))
    for payload in payloads:
        ChatCompletionChunk.model_validate_json(payload)
    return [orjson.loads(payload) for payload in payloads], translator, interactions


@pytest.mark.parametrize("include_usage", [True, False])
def test_the_documented_stream_with_its_metrics(include_usage: bool) -> None:
    chunks, translator, interactions = streamed(include_usage)
    text = "".join(choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"])
    assert text == "".join(interactions[2].response.json()["output"])  # leading spaces of pieces kept
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishes = [chunk for chunk in chunks if chunk["choices"] and chunk["choices"][0]["finish_reason"]]
    assert [chunk["choices"][0]["finish_reason"] for chunk in finishes] == ["stop"]
    assert {chunk["id"] for chunk in chunks} == {"zjq6szssxdrm20cgw0fsntgvbg"}
    assert translator.state.usage == Usage(26, 84) and translator.state.done
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 110
    else:
        assert all("usage" not in chunk for chunk in chunks)


def test_a_stream_without_its_final_state_still_finishes() -> None:
    translator = ReplicateStream(tina(stream=True, stream_options={"include_usage": True}))
    translator.feed(SSEEvent("Hi", event="output"))
    translator.feed(SSEEvent("{}", event="done"))
    assert translator.follow_up() is None  # no URL to read it from
    (finish,) = translator.settle(None)  # no usage chunk: a usage of nothing would be false
    assert orjson.loads(finish)["choices"][0]["finish_reason"] == "stop" and translator.state.usage == Usage()


@pytest.mark.parametrize(("events", "message", "kind"), [
    ([SSEEvent('{"detail": "CUDA out of memory"}', event="error"), SSEEvent('{"reason": "error"}', event="done")],
     "CUDA out of memory", "prediction_failed"),
    ([SSEEvent('{"reason": "canceled"}', event="done")], "the prediction ended: canceled", "prediction_canceled"),
])
def test_error_and_cancel_events_break_the_stream(events: list[SSEEvent], message: str, kind: str) -> None:
    translator = ReplicateStream(tina(stream=True))
    for event in events:
        assert translator.feed(event) == []
    assert translator.state.error is not None and (translator.state.error.message, translator.state.error.type) == (
        message, kind,
    )
    assert not translator.state.done and translator.follow_up() is None


# -- errors --------------------------------------------------------------------------------------------


def test_problem_details() -> None:
    (invalid,) = cassette("error_invalid_input.yaml")
    said = REPLICATE_PREDICTIONS.decode_error(invalid.response.body)
    assert said is not None
    assert (said.message, said.type, said.param) == (
        "- input.min_tokens: Must be greater than or equal to 0", "Input validation failed", "input.min_tokens",
    )
    (unauthenticated,) = cassette("error_unauthenticated.yaml")
    said = REPLICATE_PREDICTIONS.decode_error(unauthenticated.response.body)
    assert said is not None and said.message == "You did not pass a valid authentication token"
    assert REPLICATE_PREDICTIONS.decode_error(b"<html>502</html>") is None
    assert REPLICATE_PREDICTIONS.decode_error(b'{"status": 500}') is None
