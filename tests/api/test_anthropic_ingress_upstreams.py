"""The official ``anthropic`` SDK against the gateway's Anthropic Messages API, with recorded upstreams
replayed: an Anthropic one (the answer translated twice, Anthropic -> OpenAI -> Anthropic), and
OpenAI-shaped ones (OpenAI, and an OpenAI-compatible vendor that shows its reasoning).

Each test checks what the upstream received (for Anthropic: the recorded request, as the caller wrote
it) and what the SDK built from the answer, against the recording.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest
from tests.anthropic_shapes import assemble, blocks, collapsed, parse, shape, without_default_is_error
from tests.conformance.cases import CONFORMANCE_DATA, DOCUMENTED_DATA
from tests.conformance.providers import check_credential
from tests.gateway import RunningGateway, run_gateway
from tests.recorded import RECORDED, Interaction, RecordedRequest, load_cassette, load_stream, stream_interaction
from tests.replay_upstream import ReceivedRequest, ReplayServer, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "INGRESS_UPSTREAM_KEY"
ANTHROPIC_MESSAGES = "https://api.anthropic.com/v1/messages"
SDK_STREAMS = RECORDED / "anthropic" / "sdk_streams"


@dataclass
class Replayed:
    gateway: RunningGateway
    upstream: ReplayServer
    sdk: anthropic.AsyncAnthropic
    secret: str

    def received(self) -> ReceivedRequest:
        return self.upstream.received[-1]

    async def raw_stream(self, body: dict[str, Any], **headers: str) -> bytes:
        """A streamed message as the bytes the gateway sent (the SDK hides pings and event names)."""
        sent = {"x-api-key": self.gateway.admin_key, "anthropic-version": "2023-06-01", **headers}
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.post(self.gateway.base_url + "/v1/messages", json={**body, "stream": True},
                                       headers=sent)
        assert answer.status_code == 200, answer.text
        return answer.content


@asynccontextmanager
async def replayed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, interactions: list[Interaction],
    base_url: str | None = None,
) -> AsyncIterator[Replayed]:
    """The gateway with one instance of ``provider`` whose upstream answers ``interactions``."""
    secret = f"ingress-{provider}-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    async with replay_upstream(interactions) as upstream:
        real = base_url or {"anthropic": "https://api.anthropic.com", "openai": "https://api.openai.com/v1"}[provider]
        config = {"providers": {INSTANCE: {"type": provider, "base_url": upstream.rebase(real),
                                           "credential": f"env:{KEY_ENV}"}}}
        with run_gateway(tmp_path, config) as gateway:
            async with anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key=gateway.admin_key,
                                                max_retries=0) as sdk:
                yield Replayed(gateway, upstream, sdk, secret)
            logs = gateway.logs.lines()
        assert not upstream.unexpected
    assert not [line for line in logs if secret in line], "the upstream credential leaked into a log line"


def model(name: str) -> str:
    return f"{INSTANCE}/{name}"


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def sdk_arguments(recorded: dict[str, Any], *dropped: str) -> dict[str, Any]:
    """``messages.create`` arguments sending a recorded Anthropic request as it was (model prefixed)."""
    arguments = {k: v for k, v in recorded.items() if k not in ("stream", *dropped)}
    arguments["model"] = model(recorded["model"])
    return arguments


def assert_is_recorded_message(message: anthropic.types.Message, recorded: dict[str, Any]) -> None:
    assert (message.id, message.model, message.stop_reason, message.stop_sequence) == (
        recorded["id"], recorded["model"], recorded["stop_reason"], recorded["stop_sequence"])
    assert [block.model_dump(include={"type", "text", "id", "name", "input"}) for block in message.content] == [
        {k: v for k, v in block.items() if k in {"type", "text", "id", "name", "input"}}
        for block in recorded["content"]
    ]
    usage = recorded["usage"]
    assert (message.usage.output_tokens, message.usage.cache_read_input_tokens or 0) == (
        usage["output_tokens"], usage.get("cache_read_input_tokens") or 0)


# -- (b) an Anthropic upstream ---------------------------------------------------------------------


async def test_a_message_with_system_reaches_anthropic_as_the_caller_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (interaction,) = load_cassette(RECORDED / "anthropic/test_anthropic_model_instructions.yaml")
    recorded = interaction.request.body
    async with replayed(tmp_path, monkeypatch, "anthropic", [interaction]) as run:
        message = await run.sdk.messages.create(
            **sdk_arguments(recorded),
            extra_headers={"anthropic-version": "2099-01-01", "anthropic-beta": "context-1m-2025-08-07"},
        )
        received = run.received()
        assert received.body == recorded
        check_credential("anthropic", received, run.secret, run.gateway.admin_key)
        # The provider's API version, not the caller's; the caller's beta flags as sent.
        assert received.headers["anthropic-version"] == "2023-06-01"
        assert received.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert_is_recorded_message(message, interaction.response.json())
    assert message.usage.input_tokens == 20


async def test_tool_use_and_tool_results_go_both_ways(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = load_cassette(RECORDED / "anthropic/test_anthropic_tool_output.yaml")
    async with replayed(tmp_path, monkeypatch, "anthropic", [first, second]) as run:
        called = await run.sdk.messages.create(**sdk_arguments(first.request.body))
        assert run.received().body == first.request.body
        assert_is_recorded_message(called, first.response.json())
        (tool_use,) = called.content
        # The next turn as the SDK's own users write it: the answer's blocks, then the tool's result.
        follow_up = sdk_arguments(second.request.body)
        follow_up["messages"] = [
            follow_up["messages"][0],
            {"role": "assistant", "content": called.content},
            user([{"type": "tool_result", "tool_use_id": tool_use.id, "content": "Mexico"}]),  # type: ignore[union-attr]
        ]
        answer = await run.sdk.messages.create(**follow_up)
        assert run.received().body == without_default_is_error(second.request.body)
    assert_is_recorded_message(answer, second.response.json())
    assert answer.stop_reason == "tool_use"


async def test_an_image_by_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (interaction,) = load_cassette(RECORDED / "anthropic/test_image_url_input.yaml")
    async with replayed(tmp_path, monkeypatch, "anthropic", [interaction]) as run:
        message = await run.sdk.messages.create(**sdk_arguments(interaction.request.body))
        assert run.received().body == interaction.request.body
    assert_is_recorded_message(message, interaction.response.json())


async def test_cache_reads_survive_and_writes_count_as_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = load_cassette(RECORDED / "anthropic/test_anthropic_cache_real_api.yaml")
    async with replayed(tmp_path, monkeypatch, "anthropic", [first, second]) as run:
        for interaction in (first, second):
            # The top-level cache_control of the recorded request has no place in the canonical one.
            arguments = sdk_arguments(interaction.request.body, "cache_control")
            message = await run.sdk.messages.create(**arguments)
            expected = {k: v for k, v in interaction.request.body.items() if k != "cache_control"}
            assert run.received().body == expected
            usage = interaction.response.json()["usage"]
            assert message.usage.cache_read_input_tokens == usage["cache_read_input_tokens"] == 1111
            assert message.usage.input_tokens == usage["input_tokens"] + usage["cache_creation_input_tokens"]
            assert message.usage.cache_creation_input_tokens is None


@pytest.mark.parametrize(("name", "stop_reason"), [
    ("basic_response.txt", "end_turn"),
    ("tool_use_response.txt", "tool_use"),
    ("incomplete_partial_json_response.txt", "max_tokens"),
    ("refusal_response.txt", "refusal"),
])
async def test_a_streamed_message_is_the_recorded_stream(
    name: str, stop_reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = parse(load_stream(SDK_STREAMS / name))
    interactions = [stream_interaction(SDK_STREAMS / name, uri=ANTHROPIC_MESSAGES) for _ in range(2)]
    body = {"model": model("claude-sonnet-4-5"), "max_tokens": 1024, "messages": [user("Hello")]}
    async with replayed(tmp_path, monkeypatch, "anthropic", interactions) as run:
        async with run.sdk.messages.stream(**body) as stream:
            final = await stream.get_final_message()
        events = parse(await run.raw_stream(body))
    assert final.stop_reason == stop_reason
    expected = assemble(recorded)
    assert (final.id, final.model, final.usage.input_tokens, final.usage.output_tokens) == (
        expected.id, expected.model, expected.usage.input_tokens, expected.usage.output_tokens)
    # An empty text block before a refusal has no OpenAI form; the rest is all there.
    assert blocks(final) == [b for b in blocks(expected) if b != {"type": "text", "text": ""}]
    if name in ("basic_response.txt", "tool_use_response.txt"):
        assert shape(events) == shape(recorded), "the same events, in the same order"


async def test_a_token_count_then_the_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count, create = load_cassette(RECORDED / "anthropic/test_anthropic_model_usage_limit_not_exceeded.yaml")
    async with replayed(tmp_path, monkeypatch, "anthropic", [count, create]) as run:
        raw = await run.sdk.messages.with_raw_response.count_tokens(**sdk_arguments(count.request.body))
        assert (await raw.parse()).input_tokens == 19 and raw.headers["x-token-count-source"] == "provider"
        counted = run.received()
        assert (counted.path, counted.body) == ("/v1/messages/count_tokens", count.request.body)
        check_credential("anthropic", counted, run.secret, run.gateway.admin_key)
        message = await run.sdk.messages.create(**sdk_arguments(create.request.body))
        assert run.received().body == create.request.body
    assert_is_recorded_message(message, create.response.json())


async def test_a_stop_sequence_survives_both_translations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (interaction,) = load_cassette(DOCUMENTED_DATA / "anthropic/stop_sequence.yaml")
    async with replayed(tmp_path, monkeypatch, "anthropic", [interaction]) as run:
        message = await run.sdk.messages.create(**sdk_arguments(interaction.request.body))
        assert run.received().body == interaction.request.body
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "\n\nHuman:")


async def test_anthropics_own_refusal_reaches_the_caller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = RECORDED / "anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml"
    (interaction,) = load_cassette(source)
    async with replayed(tmp_path, monkeypatch, "anthropic", [interaction]) as run:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await run.sdk.messages.create(**sdk_arguments(interaction.request.body, "output_config"))
    error = refused.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == interaction.response.json()["error"]["message"]
    assert error["details"]["provider"] == INSTANCE


async def test_an_overloaded_anthropic_is_retried_then_an_overloaded_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    interactions = load_cassette(DOCUMENTED_DATA / "anthropic/overloaded.yaml")
    async with replayed(tmp_path, monkeypatch, "anthropic", interactions) as run:
        with pytest.raises(anthropic.InternalServerError) as failed:
            await run.sdk.messages.create(**sdk_arguments(interactions[0].request.body))
        assert len(run.upstream.received) == 2, "retried once"
    assert failed.value.status_code == 502
    assert failed.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert failed.value.body["error"]["message"] == "Overloaded"  # type: ignore[index]


async def test_an_error_event_in_anthropics_stream_is_one_in_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = DOCUMENTED_DATA / "anthropic/stream_overloaded.txt"
    interactions = [stream_interaction(source, uri=ANTHROPIC_MESSAGES) for _ in range(2)]
    body = {"model": model("claude-sonnet-4-5"), "max_tokens": 1024, "messages": [user("Hello")]}
    texts: list[str] = []
    async with replayed(tmp_path, monkeypatch, "anthropic", interactions) as run:
        with pytest.raises(anthropic.APIStatusError) as broken:
            async with run.sdk.messages.stream(**body) as stream:
                async for text in stream.text_stream:
                    texts.append(text)
        events = parse(await run.raw_stream(body))
    assert texts == ["Hello"]
    assert broken.value.body["error"] == {  # type: ignore[index]
        "type": "overloaded_error", "message": "Overloaded",
        "details": {"error_code": "upstream_error", "provider": INSTANCE, "upstream_type": "overloaded_error",
                    "upstream_code": None},
    }
    assert shape(events)[-1] == ("error", None) and parse(load_stream(source))[-1]["type"] == "error"


# -- (c) OpenAI-shaped upstreams -------------------------------------------------------------------


async def test_an_openai_answer_with_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (interaction,) = load_cassette(RECORDED / "openai/test_openai_instructions.yaml")
    async with replayed(tmp_path, monkeypatch, "openai", [interaction]) as run:
        message = await run.sdk.messages.create(
            model=model("gpt-4o"), max_tokens=256, system="You are a helpful assistant.",
            messages=[user("What is the capital of France?")],
        )
        received = run.received()
        check_credential("openai", received, run.secret, run.gateway.admin_key)
    recorded = interaction.request.body
    assert received.body == {"model": "gpt-4o", "messages": recorded["messages"], "max_completion_tokens": 256}
    answer = interaction.response.json()
    assert (message.id, message.model, message.stop_reason) == (answer["id"], answer["model"], "end_turn")
    assert blocks(message) == [{"type": "text", "text": "The capital of France is Paris."}]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (24, 8)


async def test_openai_tool_calls_are_tool_use_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = load_cassette(RECORDED / "openai/test_openai_tool_output.yaml")
    tools = [{"name": t["function"]["name"], "description": t["function"]["description"],
              "input_schema": t["function"]["parameters"]} for t in first.request.body["tools"]]
    question = user("What is the largest city in the user country?")
    async with replayed(tmp_path, monkeypatch, "openai", [first, second]) as run:
        called = await run.sdk.messages.create(model=model("gpt-4o"), max_tokens=256, tools=tools,
                                               tool_choice={"type": "any"}, messages=[question])
        assert {k: run.received().body[k] for k in ("tools", "tool_choice")} == {
            k: first.request.body[k] for k in ("tools", "tool_choice")}
        (tool_use,) = called.content
        assert blocks(called) == [{"type": "tool_use", "id": "call_iXFttys57ap0o16JSlC8yhYo",
                                   "name": "get_user_country", "input": {}}]
        answer = await run.sdk.messages.create(
            model=model("gpt-4o"), max_tokens=256, tools=tools, tool_choice={"type": "any"},
            messages=[question, {"role": "assistant", "content": called.content},
                      user([{"type": "tool_result", "tool_use_id": tool_use.id, "content": "Mexico"}])],  # type: ignore[union-attr]
        )
        sent = run.received().body["messages"]
    assert sent[1:] == [
        {"role": "assistant", "content": None, "tool_calls": second.request.body["messages"][1]["tool_calls"]},
        second.request.body["messages"][2],
    ]
    assert blocks(answer) == [{"type": "tool_use", "id": "call_gmD2oUZUzSoCkmNmp3JPUF7R", "name": "final_result",
                               "input": {"city": "Mexico City", "country": "Mexico"}}]
    assert (called.stop_reason, answer.stop_reason) == ("tool_use", "tool_use")


async def test_an_openai_stream_has_anthropics_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool_call, text = load_cassette(RECORDED / "openai/test_run_stream_sync_streams_real_model.yaml")
    tools = [{"name": "get_capital", "description": "", "input_schema": {
        "type": "object", "properties": {"country": {"type": "string"}}, "required": ["country"]}}]
    body = {"model": model("gpt-4o-mini"), "max_tokens": 256, "tools": tools,
            "messages": [user("What is the capital of the UK? Use the tool, then answer.")]}
    async with replayed(tmp_path, monkeypatch, "openai", [tool_call, text, text]) as run:
        async with run.sdk.messages.stream(**body) as stream:
            called = await stream.get_final_message()
        assert run.received().body["stream"] is True
        (tool_use,) = called.content
        answered_blocks = [block.model_dump(exclude_none=True) for block in called.content]
        follow_up = {**body, "messages": [*body["messages"], {"role": "assistant", "content": answered_blocks},
                                          user([{"type": "tool_result", "tool_use_id": tool_use.id,  # type: ignore[union-attr]
                                                 "content": "London"}])]}
        async with run.sdk.messages.stream(**follow_up) as stream:
            answered = await stream.get_final_message()
        events = parse(await run.raw_stream(follow_up))
    assert blocks(called) == [{"type": "tool_use", "id": "call_ZR5UUuTt3pf61kjwAJIYdVMj", "name": "get_capital",
                               "input": {"country": "UK"}}]
    assert (called.stop_reason, called.usage.input_tokens, called.usage.output_tokens) == ("tool_use", 53, 15)
    assert blocks(answered) == [{"type": "text", "text": "The capital of the UK is London."}]
    assert answered.stop_reason == "end_turn"
    assert collapsed(events) == collapsed(parse(load_stream(SDK_STREAMS / "basic_response.txt")))


async def test_an_openai_error_is_an_invalid_request_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (interaction,) = load_cassette(RECORDED / "openai/test_openai_o1_mini_system_role_developer.yaml")
    async with replayed(tmp_path, monkeypatch, "openai", [interaction]) as run:
        with pytest.raises(anthropic.BadRequestError) as refused:
            await run.sdk.messages.create(model=model("o1-mini"), max_tokens=64, system="You are a helpful assistant.",
                                          messages=[user("Hello")])
    error = refused.value.body["error"]  # type: ignore[index]
    recorded = interaction.response.json()["error"]
    assert (error["type"], error["message"]) == ("invalid_request_error", recorded["message"])
    assert error["details"]["upstream_code"] == "unsupported_value" and error["details"]["param"] == recorded["param"]


async def test_token_counts_on_an_openai_route_are_estimated_without_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with replayed(tmp_path, monkeypatch, "openai", []) as run:
        raw = await run.sdk.messages.with_raw_response.count_tokens(model=model("gpt-4o"), messages=[user("hello")])
        assert not run.upstream.received
    assert raw.headers["x-token-count-source"] == "estimate" and (await raw.parse()).input_tokens > 0


async def test_reasoning_of_an_openai_compatible_vendor_is_a_thinking_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (interaction,) = load_cassette(CONFORMANCE_DATA / "openai_compatible/test_openrouter_streaming_reasoning.yaml")
    rerouted = Interaction(RecordedRequest("POST", "https://openrouter.ai/api/v1/chat/completions"),
                           interaction.response)
    body = {"model": model("anthropic/claude-sonnet-4.5"), "max_tokens": 1024, "messages": [user("What is 2+2?")]}
    async with replayed(tmp_path, monkeypatch, "openai_compatible", [rerouted],
                        base_url="https://openrouter.ai/api/v1") as run, run.sdk.messages.stream(**body) as stream:
        final = await stream.get_final_message()
    thinking, text = blocks(final)
    assert thinking["type"] == "thinking" and thinking["thinking"].startswith("This is a simple arithmetic question.")
    assert thinking["signature"].startswith("Et0BCkgI")
    assert text == {"type": "text", "text": "2 + 2 = 4"}
    assert (final.usage.input_tokens, final.usage.output_tokens) == (43, 36)


# -- a route over both -----------------------------------------------------------------------------


async def test_a_route_fails_over_from_anthropic_to_an_openai_shaped_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An overloaded Anthropic target (retried once), then the sandbox: the caller names only the route."""
    monkeypatch.setenv(KEY_ENV, "ingress-route-key")
    interactions = load_cassette(DOCUMENTED_DATA / "anthropic/overloaded.yaml") * 2  # one call, then a stream
    async with replay_upstream(interactions) as upstream:
        config = {
            "providers": {INSTANCE: {"type": "anthropic", "base_url": upstream.rebase("https://api.anthropic.com"),
                                     "credential": f"env:{KEY_ENV}"}},
            "routes": {"claude": {"targets": [{"provider": INSTANCE, "model": "claude-sonnet-4-5"},
                                              {"provider": "sandbox", "model": "sandbox-chat"}]}},
        }
        with run_gateway(tmp_path, config) as gateway:
            async with anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key=gateway.admin_key,
                                                max_retries=0) as sdk:
                message = await sdk.messages.create(model="claude", max_tokens=64, messages=[user("Hello, world")])
                async with sdk.messages.stream(model="claude", max_tokens=64, messages=[user("Hello again")]) as s:
                    streamed = await s.get_final_message()
        assert len(upstream.received) == 4 and not upstream.remaining and not upstream.unexpected
    assert upstream.received[-1].body["stream"] is True
    assert blocks(message) == [{"type": "text", "text": "sandbox echo: Hello, world"}]
    assert message.model == "sandbox-chat"
    assert blocks(streamed) == [{"type": "text", "text": "sandbox echo: Hello again"}]
