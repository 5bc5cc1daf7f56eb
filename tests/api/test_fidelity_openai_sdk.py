"""Pass-through fidelity, proven with the official ``openai`` SDK against the running gateway.

An OpenAI-shaped target receives every field the SDK sends, each equal in value to what the SDK put
on the wire (structured outputs, tool settings, ``n``, log probabilities, ``seed``, reasoning effort,
token limits, service tier, metadata, and vendor fields in ``extra_body``); the SDK's structured-output
``parse`` gets its JSON schema to the vendor unchanged and its parsed answer back. The upstream answers
are recorded OpenAI answers, replayed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from pydantic import BaseModel
from tests.recorded import RECORDED, Interaction, load_cassette
from tests.replayed_gateway import Replayed, replayed_gateway

INSTANCE = "openai-main"
PLAIN = RECORDED / "openai/test_openai_model_without_system_prompt.yaml"
NATIVE_OUTPUT = RECORDED / "openai/test_openai_native_output.yaml"


class Sent:
    """What the SDK put on the wire, request by request (read from its own HTTP client)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/chat/completions"):
            self.bodies.append(orjson.loads(request.content))


@asynccontextmanager
async def sdk_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interactions: list[Interaction]
) -> AsyncIterator[tuple[openai.AsyncOpenAI, Replayed, Sent]]:
    sent = Sent()
    instances = {INSTANCE: ("openai", "https://api.openai.com/v1")}
    async with replayed_gateway(tmp_path, monkeypatch, instances, interactions) as run:
        http = httpx.AsyncClient(event_hooks={"request": [sent]})
        client = openai.AsyncOpenAI(base_url=run.gateway.base_url + "/v1", api_key=run.gateway.admin_key,
                                    max_retries=0, http_client=http)
        async with client:
            yield client, run, sent


def as_sent_upstream(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The SDK's body as the vendor must receive it: the instance's prefix taken off the model."""
    return {**body, "model": model}


async def test_every_field_the_sdk_sends_reaches_an_openai_shaped_vendor_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
        "additionalProperties": False,
    }
    tool = {"type": "function", "function": {"name": "lookup", "description": "Look a city up",
                                             "parameters": {"type": "object", "properties": {}}, "strict": False}}
    fields: dict[str, Any] = {
        "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
        "tools": [tool],
        "parallel_tool_calls": False,
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "n": 2,
        "logprobs": True,
        "top_logprobs": 3,
        "seed": 1234,
        "reasoning_effort": "low",
        "max_completion_tokens": 321,
        "service_tier": "flex",
        "metadata": {"team": "search", "ticket": "T-9"},
        "store": True,
        "user": "end-user-7",
        "temperature": 0.25,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"1234": -100},
        "stop": ["\n\n", "END"],
    }
    vendor = {"prompt_cache_key": "fidelity", "safety_identifier": "hashed-user", "vendor_knob": {"depth": [1, 2]}}
    async with sdk_over(tmp_path, monkeypatch, load_cassette(PLAIN)) as (client, run, sent):
        answer = await client.chat.completions.create(
            model=f"{INSTANCE}/o3-mini", messages=[{"role": "user", "content": "Name a city."}],
            extra_body=vendor, **fields,
        )
        assert answer.choices[0].message.content.startswith("That's right")  # type: ignore[union-attr]
        (received,) = run.upstream.received
    (body,) = sent.bodies
    assert received.body == as_sent_upstream(body, "o3-mini")
    for name, value in {**fields, **vendor}.items():
        # Each field, in value and in its JSON form, as the caller gave it.
        assert orjson.dumps(received.body[name]) == orjson.dumps(value), name
    assert received.headers["authorization"] == f"Bearer {run.secret}"


class UserCountry(BaseModel):
    """Look up the user's country."""


class Result(BaseModel):
    city: str
    country: str


async def test_the_sdks_parse_sends_its_schema_unchanged_and_gets_the_parsed_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``parse`` with a pydantic model and a strict tool: a recorded tool call, then the recorded JSON."""
    question = {"role": "user", "content": "What is the largest city in the user country?"}
    async with sdk_over(tmp_path, monkeypatch, load_cassette(NATIVE_OUTPUT)) as (client, run, sent):
        first = await client.chat.completions.parse(
            model=f"{INSTANCE}/gpt-4o", messages=[question], response_format=Result,
            tools=[openai.pydantic_function_tool(UserCountry, name="get_user_country")],
        )
        (call,) = first.choices[0].message.tool_calls or []
        assert call.function.name == "get_user_country" and call.function.parsed_arguments == UserCountry()
        second = await client.chat.completions.parse(
            model=f"{INSTANCE}/gpt-4o", response_format=Result,
            tools=[openai.pydantic_function_tool(UserCountry, name="get_user_country")],
            messages=[question, first.choices[0].message.model_dump(exclude_none=True, exclude={"parsed"}),
                      {"role": "tool", "tool_call_id": call.id, "content": "Mexico"}],
        )
        assert second.choices[0].message.parsed == Result(city="Mexico City", country="Mexico")
        received = [request.body for request in run.upstream.received]
    assert received == [as_sent_upstream(body, "gpt-4o") for body in sent.bodies]
    schema = received[0]["response_format"]
    assert schema["type"] == "json_schema" and schema["json_schema"]["name"] == "Result"
    assert schema["json_schema"]["strict"] is True
    assert schema["json_schema"]["schema"]["required"] == ["city", "country"]
    assert received[1]["response_format"] == schema
