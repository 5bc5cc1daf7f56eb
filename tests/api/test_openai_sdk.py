"""The official openai SDK against the running service, through the built-in sandbox."""

from __future__ import annotations

import json

import openai
import pytest
from tests.gateway import RunningGateway

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0)


def test_sync_completion(gateway: RunningGateway) -> None:
    answer = client(gateway).chat.completions.create(
        model="sandbox/sandbox-chat", messages=[{"role": "user", "content": "hello there"}]
    )
    assert answer.choices[0].message.content == "sandbox echo: hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


async def test_async_completion(gateway: RunningGateway) -> None:
    async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as aclient:
        answer = await aclient.chat.completions.create(
            model="sandbox/sandbox-chat",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "async works"}],
        )
    assert answer.choices[0].message.content == "sandbox echo: async works"


def test_streaming_with_usage(gateway: RunningGateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="sandbox/sandbox-chat",
        messages=[{"role": "user", "content": "stream these words please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "sandbox echo: stream these words please"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_streaming_without_usage_has_no_usage_chunk(gateway: RunningGateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="sandbox/sandbox-chat", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_tool_call_and_result(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    first = sdk.chat.completions.create(
        model="sandbox/sandbox-chat",
        messages=[{"role": "user", "content": "what is the weather in Paris?"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        tool_choice="required",
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "sandbox"}  # type: ignore[union-attr]
    second = sdk.chat.completions.create(
        model="sandbox/sandbox-chat",
        messages=[
            {"role": "user", "content": "what is the weather in Paris?"},
            first.choices[0].message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"},
        ],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
    )
    assert second.choices[0].message.content == "tool result: sunny, 21C"


def test_streamed_tool_call_deltas(gateway: RunningGateway) -> None:
    stream = client(gateway).chat.completions.create(
        model="sandbox/sandbox-chat",
        messages=[{"role": "user", "content": "call get_weather for Oslo"}],
        tools=[WEATHER_TOOL],  # type: ignore[list-item]
        stream=True,
    )
    name, arguments, finish = "", "", None
    for chunk in stream:
        for delta_call in chunk.choices[0].delta.tool_calls or []:
            name += (delta_call.function.name or "") if delta_call.function else ""
            arguments += (delta_call.function.arguments or "") if delta_call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert name == "get_weather" and json.loads(arguments) == {"city": "sandbox"} and finish == "tool_calls"


def test_models_list(gateway: RunningGateway) -> None:
    ids = [m.id for m in client(gateway).models.list()]
    assert "sandbox/sandbox-chat" in ids


def test_errors_reach_the_sdk_as_its_own_exceptions(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    with pytest.raises(openai.NotFoundError) as missing:
        sdk.chat.completions.create(model="nope-model", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gateway.v1, api_key="ack_wrong", max_retries=0).models.list()
    with pytest.raises(openai.RateLimitError) as limited:
        sdk.chat.completions.create(
            model="sandbox/sandbox-chat",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-sandbox-status": "429", "x-sandbox-retry-after": "1"},
        )
    assert limited.value.response.headers.get("retry-after") == "1"
