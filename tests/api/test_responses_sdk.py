"""The official openai SDK's Responses API against the running service, through a route to the sandbox
(which speaks chat only: every request here is translated to chat and back)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import Response
from pydantic import BaseModel
from tests.gateway import RunningGateway, run_gateway
from tests.recorded import Interaction, RecordedRequest, RecordedResponse
from tests.replay_upstream import replay_upstream

ROUTE = "assistant"
CONFIG = {"routes": {ROUTE: {"targets": [{"provider": "sandbox", "model": "sandbox-chat"}]}}}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 5,  # "sandbox echo: stream these words"
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with run_gateway(tmp_path_factory.mktemp("responses"), CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)


def test_plain_text(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(model=ROUTE, input="hello there", metadata={"ticket": "42"})
    assert response.output_text == "sandbox echo: hello there"
    assert response.object == "response" and response.status == "completed" and response.id.startswith("resp_")
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert response.model == "sandbox-chat" and response.metadata == {"ticket": "42"} and response.store is False
    usage = response.usage
    assert usage is not None and usage.input_tokens > 0 and usage.output_tokens > 0
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0


def test_instructions_are_the_system_turn(sdk: openai.OpenAI) -> None:
    plain = sdk.responses.create(model=ROUTE, input="hello there")
    instructed = sdk.responses.create(model=ROUTE, input="hello there", instructions="Answer in French, briefly.")
    assert instructed.output_text == "sandbox echo: hello there"
    assert instructed.instructions == "Answer in French, briefly."
    # The instructions reached the model as one more (system) message: 7 tokens of text, 4 of overhead.
    assert plain.usage is not None and instructed.usage is not None
    assert instructed.usage.input_tokens == plain.usage.input_tokens + 7 + 4


def test_input_items_with_parts(sdk: openai.OpenAI) -> None:
    response = sdk.responses.create(
        model=ROUTE,
        input=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": [{"type": "input_text", "text": t} for t in ("first ", "part")]},
        ],
    )
    assert response.output_text == "sandbox echo: first part"


def test_function_tool_round_trip(sdk: openai.OpenAI) -> None:
    question = {"role": "user", "content": "what is the weather in Paris?"}
    first = sdk.responses.create(model=ROUTE, input=[question], tools=[WEATHER], tool_choice="required")  # type: ignore[list-item]
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.id and call.id.startswith("fc_")
    assert json.loads(call.arguments) == {"city": "sandbox"} and call.call_id.startswith("call_")
    assert first.status == "completed" and first.output_text == ""
    second = sdk.responses.create(
        model=ROUTE,
        input=[question, *first.output, {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],  # type: ignore[list-item]
        tools=[WEATHER],  # type: ignore[list-item]
    )
    assert second.output_text == "tool result: sunny"


class Weather(BaseModel):
    city: str
    celsius: float
    sunny: bool


def test_structured_output_through_text_format(sdk: openai.OpenAI) -> None:
    parsed = sdk.responses.parse(model=ROUTE, input="the weather in Oslo", text_format=Weather)
    assert parsed.output_parsed == Weather(city="sandbox", celsius=1.5, sunny=True)
    assert parsed.text is not None and parsed.text.format.type == "json_schema"


def test_stream_events(sdk: openai.OpenAI) -> None:
    events = list(sdk.responses.create(model=ROUTE, input="stream these words", stream=True))
    assert [event.type for event in events] == TEXT_EVENTS
    assert [event.sequence_number for event in events] == list(range(len(events)))
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text == "sandbox echo: stream these words"
    created, completed = events[0], events[-1]
    assert created.type == "response.created" and completed.type == "response.completed"
    assert created.response.id == completed.response.id and created.response.status == "in_progress"
    final = completed.response
    assert final.status == "completed" and final.output_text == text
    assert final.usage is not None and final.usage.output_tokens > 0
    item_ids = {getattr(event, "item_id", None) for event in events} - {None}
    assert item_ids == {final.output[0].id}


def test_stream_helper_with_a_tool_call(sdk: openai.OpenAI) -> None:
    with sdk.responses.stream(model=ROUTE, input="call get_weather for Oslo", tools=[WEATHER]) as stream:  # type: ignore[list-item]
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[-1] == "response.completed" and "response.function_call_arguments.delta" in kinds
    assert "response.function_call_arguments.done" in kinds
    (call,) = final.output
    assert call.type == "function_call" and json.loads(call.arguments) == {"city": "sandbox"}


def test_async_client(gateway: RunningGateway) -> None:
    import asyncio

    async def ask() -> Response:
        async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
            return await client.responses.create(model=ROUTE, input="async works")

    assert asyncio.run(ask()).output_text == "sandbox echo: async works"


def test_a_stream_that_breaks_ends_with_the_failure_events(sdk: openai.OpenAI) -> None:
    events = list(
        sdk.responses.create(
            model=ROUTE,
            input="a stream that will be cut half way through",
            stream=True,
            extra_headers={"x-sandbox-fault": "truncate"},
        )
    )
    kinds = [event.type for event in events]
    assert kinds[0] == "response.created" and kinds[-2:] == ["error", "response.failed"]
    error, failed = events[-2], events[-1]
    assert error.type == "error" and error.code == "protocol_error"
    assert failed.type == "response.failed" and failed.response.status == "failed"
    assert failed.response.id == events[0].response.id  # type: ignore[union-attr]
    assert failed.response.error is not None and failed.response.error.code == "server_error"
    assert [event.sequence_number for event in events] == list(range(len(events)))


def test_errors_reach_the_sdk_as_its_own_exceptions(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.create(model="no-such-route", input="x")
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.responses.create(model=ROUTE, input="x", extra_headers={"x-sandbox-status": "429", "x-retries": "0"})
    assert limited.value.status_code == 429 and limited.value.code == "rate_limited"
    with pytest.raises(openai.BadRequestError) as hosted:
        sdk.responses.create(model=ROUTE, input="x", tools=[{"type": "web_search_preview"}])
    assert hosted.value.param == "tools[0]" and "Responses API" in str(hosted.value.message)
    with pytest.raises(openai.BadRequestError) as unknown_role:
        sdk.responses.create(model=ROUTE, input=[{"role": "narrator", "content": "x"}])  # type: ignore[list-item]
    assert unknown_role.value.param == "input[0].role"


def test_nothing_is_kept_by_default(gateway: RunningGateway, sdk: openai.OpenAI) -> None:
    assert gateway.services.responses is None  # no store at all: the request path touches no storage
    response = sdk.responses.create(model=ROUTE, input="remember me", store=True)
    assert response.store is False  # the operator keeps nothing
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.responses.create(model=ROUTE, input="and then?", previous_response_id=response.id)
    assert refused.value.param == "previous_response_id" and "RESPONSES_STORE" in refused.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.responses.retrieve(response.id)
    assert "RESPONSES_STORE" in missing.value.message
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(response.id)


async def test_a_route_fails_over_from_a_responses_provider_to_a_translated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenAI (passed through) answers 503: the same request is translated for the sandbox, next in line."""
    monkeypatch.setenv("RESPONSES_TEST_OPENAI_KEY", "sk-test-0123456789")
    down = RecordedResponse(503, b'{"error": {"message": "overloaded", "type": "server_error"}}', {})
    interactions = [Interaction(RecordedRequest("POST", "https://api.openai.com/v1/responses"), down)]
    async with replay_upstream(interactions) as upstream:
        config: dict[str, Any] = {
            "providers": {"openai-main": {"type": "openai", "base_url": upstream.rebase("https://api.openai.com/v1"),
                                          "credential": "env:RESPONSES_TEST_OPENAI_KEY"}},
            "routes": {"mixed": {"targets": [{"provider": "openai-main", "model": "gpt-4o-mini"},
                                             {"provider": "sandbox", "model": "sandbox-chat"}]}},
            "resilience": {"retry": {"max_retries": 0}},
        }
        with run_gateway(tmp_path, config) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                response = await client.responses.create(model="mixed", input="hello", instructions="be kind")
        (received,) = upstream.received
    assert received.path == "/v1/responses"
    assert received.body == {"model": "gpt-4o-mini", "input": "hello", "instructions": "be kind"}
    assert response.output_text == "sandbox echo: hello" and response.model == "sandbox-chat"
