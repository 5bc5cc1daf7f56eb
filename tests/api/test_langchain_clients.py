"""LangChain's ``ChatOpenAI`` and ``ChatAnthropic``, unchanged, against the running gateway.

``ChatOpenAI`` on ``/v1/chat/completions`` (an OpenAI upstream): invoke, stream, tools with the tool
call answered, and structured output; what LangChain sends reaches the vendor as sent. ``ChatAnthropic``
on the Anthropic Messages ingress (an Anthropic upstream): invoke, stream and tools. Every upstream
answer is a recorded one, replayed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from tests.recorded import RECORDED, Interaction, load_cassette, stream_interaction
from tests.replayed_gateway import Replayed, replayed_gateway

OPENAI = {"openai-main": ("openai", "https://api.openai.com/v1")}
ANTHROPIC = {"anthropic-main": ("anthropic", "https://api.anthropic.com")}
ANTHROPIC_MESSAGES = "https://api.anthropic.com/v1/messages"


class Sent:
    """The bodies LangChain put on the wire (read from the HTTP client it was given)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, request: httpx.Request) -> None:
        self.bodies.append(orjson.loads(request.content))


@asynccontextmanager
async def chat_openai(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interactions: list[Interaction], model: str
) -> AsyncIterator[tuple[ChatOpenAI, Replayed, Sent]]:
    sent = Sent()
    async with (
        replayed_gateway(tmp_path, monkeypatch, OPENAI, interactions) as run,
        httpx.AsyncClient(event_hooks={"request": [sent]}) as http,
    ):
        llm = ChatOpenAI(model=f"openai-main/{model}", base_url=run.gateway.base_url + "/v1",
                         api_key=run.gateway.admin_key, max_retries=0, http_async_client=http)  # type: ignore[arg-type]
        yield llm, run, sent


def as_sent(body: dict[str, Any], model: str) -> dict[str, Any]:
    """LangChain's body as the vendor must get it: the instance's prefix off the model, and on a
    stream the usage asked for (the gateway always meters streams; the caller sees the usage chunk
    only if it asked)."""
    expected = {**body, "model": model}
    if body.get("stream"):
        expected["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return expected


def assert_received_as_sent(run: Replayed, sent: Sent, model: str) -> None:
    assert [request.body for request in run.upstream.received] == [as_sent(body, model) for body in sent.bodies]


@tool
def get_capital(country: str) -> str:
    """The capital of a country."""
    return "London"


@tool
def get_user_country() -> str:
    """The user's country."""
    return "Mexico"


class Result(BaseModel):
    city: str
    country: str


async def test_chat_openai_invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interactions = load_cassette(RECORDED / "openai/test_openai_model_without_system_prompt.yaml")
    async with chat_openai(tmp_path, monkeypatch, interactions, "o3-mini") as (llm, run, sent):
        # ``metadata`` is LangChain's own keyword: the vendor's goes in extra_body.
        tuned = llm.bind(seed=3, service_tier="flex", extra_body={"metadata": {"run": "r1"}})
        answer = await tuned.ainvoke("You are a potato.")
        assert isinstance(answer.content, str) and answer.content.startswith("That's right")
        assert answer.response_metadata["model_name"] == "o3-mini-2025-01-31"
        assert_received_as_sent(run, sent, "o3-mini")
    (received,) = run.upstream.received
    assert (received.body["seed"], received.body["metadata"], received.body["service_tier"]) == (
        3, {"run": "r1"}, "flex")


async def test_chat_openai_streams_a_tool_call_then_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interactions = load_cassette(RECORDED / "openai/test_run_stream_sync_streams_real_model.yaml")
    async with chat_openai(tmp_path, monkeypatch, interactions, "gpt-4o-mini") as (llm, run, sent):
        with_tools = llm.bind_tools([get_capital], strict=True, parallel_tool_calls=False)
        question = HumanMessage("What is the capital of the UK? Use the tool, then answer.")
        called: AIMessageChunk | None = None
        async for chunk in with_tools.astream([question]):
            called = chunk if called is None else called + chunk  # type: ignore[assignment]
        assert called is not None
        (call,) = called.tool_calls
        assert (call["name"], call["args"]) == ("get_capital", {"country": "UK"})
        history: list[BaseMessage] = [question, called, ToolMessage("London", tool_call_id=call["id"] or "")]
        text = "".join([str(chunk.content) async for chunk in with_tools.astream(history)])
        assert text == "The capital of the UK is London."
        assert_received_as_sent(run, sent, "gpt-4o-mini")
    first = run.upstream.received[0].body
    assert first["parallel_tool_calls"] is False and first["tools"][0]["function"]["strict"] is True


async def test_chat_openai_tools_with_the_call_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interactions = load_cassette(RECORDED / "openai/test_openai_native_output.yaml")
    async with chat_openai(tmp_path, monkeypatch, interactions, "gpt-4o") as (llm, run, sent):
        with_tools = llm.bind_tools([get_user_country], tool_choice="auto")
        question = HumanMessage("What is the largest city in the user country?")
        called = await with_tools.ainvoke([question])
        assert isinstance(called, AIMessage)
        (call,) = called.tool_calls
        assert (call["name"], call["id"]) == ("get_user_country", "call_PkRGedQNRFUzJp2R7dO7avWR")
        answered = await with_tools.ainvoke([question, called, ToolMessage("Mexico", tool_call_id=call["id"] or "")])
        assert answered.content == '{"city":"Mexico City","country":"Mexico"}'
        assert_received_as_sent(run, sent, "gpt-4o")
    assert run.upstream.received[1].body["messages"][2] == {
        "content": "Mexico", "role": "tool", "tool_call_id": "call_PkRGedQNRFUzJp2R7dO7avWR"}


async def test_chat_openai_structured_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``with_structured_output`` (JSON schema): the schema reaches the vendor as sent; the answer is parsed."""
    interactions = load_cassette(RECORDED / "openai/test_openai_native_output.yaml")[1:]
    async with chat_openai(tmp_path, monkeypatch, interactions, "gpt-4o") as (llm, run, sent):
        structured = llm.with_structured_output(Result, method="json_schema", strict=True)
        result = await structured.ainvoke("What is the largest city in Mexico?")
        assert result == Result(city="Mexico City", country="Mexico")
        assert_received_as_sent(run, sent, "gpt-4o")
    form = run.upstream.received[0].body["response_format"]
    assert form["type"] == "json_schema" and form["json_schema"]["name"] == "Result"
    assert form["json_schema"]["strict"] is True and form["json_schema"]["schema"]["required"] == ["city", "country"]


# -- ChatAnthropic on the Anthropic Messages ingress ---------------------------------------------------


@asynccontextmanager
async def chat_anthropic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interactions: list[Interaction], model: str
) -> AsyncIterator[tuple[ChatAnthropic, Replayed]]:
    async with replayed_gateway(tmp_path, monkeypatch, ANTHROPIC, interactions) as run:
        llm = ChatAnthropic(model_name=f"anthropic-main/{model}", base_url=run.gateway.base_url,  # type: ignore[call-arg]
                            api_key=run.gateway.admin_key, max_retries=0, max_tokens=4096)  # type: ignore[arg-type]
        yield llm, run


async def test_chat_anthropic_invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interactions = load_cassette(RECORDED / "anthropic/test_anthropic_model_instructions.yaml")
    async with chat_anthropic(tmp_path, monkeypatch, interactions, "claude-sonnet-4-5") as (llm, run):
        answer = await llm.ainvoke([HumanMessage("What is the capital of France?")], temperature=0.5)
        assert answer.content == "The capital of France is Paris."
        (received,) = run.upstream.received
    assert received.body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]
    assert (received.body["max_tokens"], received.body["temperature"]) == (4096, 0.5)


async def test_chat_anthropic_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interactions = [stream_interaction(RECORDED / "anthropic/sdk_streams/basic_response.txt", uri=ANTHROPIC_MESSAGES)]
    async with chat_anthropic(tmp_path, monkeypatch, interactions, "claude-3-opus-latest") as (llm, run):
        text = "".join([str(chunk.content) async for chunk in llm.astream("Hello")])
        (received,) = run.upstream.received
    assert text == "Hello there!"
    assert received.body["stream"] is True


async def test_chat_anthropic_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    interactions = load_cassette(RECORDED / "anthropic/test_anthropic_tool_output.yaml")
    async with chat_anthropic(tmp_path, monkeypatch, interactions, "claude-sonnet-4-5") as (llm, run):
        with_tools = llm.bind_tools([get_user_country, Result], tool_choice="any")
        question = HumanMessage("What is the largest city in the user country?")
        called = await with_tools.ainvoke([question])
        (call,) = called.tool_calls  # type: ignore[attr-defined]
        assert (call["name"], call["args"], call["id"]) == ("get_user_country", {}, "toolu_01X9wcHKKAZD9tBC711xipPa")
        final = await with_tools.ainvoke([question, called, ToolMessage("Mexico", tool_call_id=call["id"])])
        (result,) = final.tool_calls  # type: ignore[attr-defined]
        assert (result["name"], result["args"]) == ("final_result", {"city": "Mexico City", "country": "Mexico"})
        first, second = (request.body for request in run.upstream.received)
    assert first["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in first["tools"]] == ["get_user_country", "Result"]
    assert second["messages"][2]["content"][0] == {
        "type": "tool_result", "tool_use_id": "toolu_01X9wcHKKAZD9tBC711xipPa", "content": "Mexico"}
