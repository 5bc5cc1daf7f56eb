"""Stored responses (RESPONSES_STORE on): kept per project, read and deleted by id, continued with
``previous_response_id`` (translated and passed through), and never visible to another project."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.gateway import RunningGateway, run_gateway
from tests.recorded import load_cassette
from tests.replay_upstream import replay_upstream

ROUTE = "assistant"
CONFIG = {"routes": {ROUTE: {"targets": [{"provider": "sandbox", "model": "sandbox-chat"}]}}}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with run_gateway(tmp_path_factory.mktemp("stored"), CONFIG, responses_store=True) as running:
        yield running


def client(gateway: RunningGateway, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.v1, api_key=key or gateway.admin_key, max_retries=0)


def stored_input(gateway: RunningGateway, response_id: str) -> list[Any]:
    store = gateway.services.responses
    assert store is not None
    kept = gateway.call(store.get(gateway.services.default_project_id, response_id))
    assert kept is not None
    return list(kept.input)


def test_a_response_is_kept_read_and_deleted(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    created = sdk.responses.create(model=ROUTE, input="keep this")
    assert created.store is True
    again = sdk.responses.retrieve(created.id)
    assert again.model_dump() == created.model_dump()
    sdk.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.delete(created.id)


def test_store_false_keeps_nothing(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    created = sdk.responses.create(model=ROUTE, input="forget this", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)


def test_previous_response_id_continues_a_tool_call(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    first = sdk.responses.create(model=ROUTE, input="weather in Paris?", tools=[WEATHER], tool_choice="required")  # type: ignore[list-item]
    (call,) = first.output
    assert call.type == "function_call"
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    second = sdk.responses.create(model=ROUTE, previous_response_id=first.id, input=[result], tools=[WEATHER])  # type: ignore[list-item]
    assert second.output_text == "tool result: sunny" and second.previous_response_id == first.id
    # What the second answered: the first's input and output, then its own input; and it goes on.
    history = stored_input(gateway, second.id)
    assert [item.get("type") for item in history] == ["message", "function_call", "function_call_output"]
    assert history[1]["call_id"] == call.call_id
    third = sdk.responses.create(model=ROUTE, previous_response_id=second.id, input="thanks")
    assert third.output_text == "sandbox echo: thanks"
    assert len(stored_input(gateway, third.id)) == 5  # three before, the second's answer, "thanks"
    assert third.usage is not None and second.usage is not None
    assert third.usage.input_tokens > second.usage.input_tokens


def test_a_streamed_response_is_kept_when_it_ends(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    with sdk.responses.stream(model=ROUTE, input="stream and keep") as stream:
        final = stream.get_final_response()
    kept = sdk.responses.retrieve(final.id)
    assert kept.output_text == final.output_text == "sandbox echo: stream and keep"
    assert kept.status == "completed" and kept.usage == final.usage


def test_an_unknown_previous_response_is_refused(gateway: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client(gateway).responses.create(model=ROUTE, input="x", previous_response_id="resp_nothing")
    assert refused.value.code == "previous_response_not_found" and refused.value.param == "previous_response_id"


def _admin(gateway: RunningGateway, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.request(method, gateway.base_url + path, headers=gateway.headers(), json=body, timeout=30)
    assert answer.status_code in (200, 201), answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_a_project_never_reads_another_projects_responses(gateway: RunningGateway) -> None:
    org = _admin(gateway, "POST", "/admin/organizations", {"name": "responses-org"})
    other = _admin(gateway, "POST", "/admin/projects", {"organization_id": org["id"], "name": "other"})
    scopes = ["inference"]
    key_a = _admin(gateway, "POST", "/admin/keys", {"name": "a", "scopes": scopes})["key"]
    key_b = _admin(gateway, "POST", "/admin/keys", {"name": "b", "scopes": scopes, "project_id": other["id"]})["key"]
    a, b = client(gateway, key_a), client(gateway, key_b)
    mine = a.responses.create(model="sandbox/sandbox-chat", input="secret plans")
    theirs = b.responses.create(model="sandbox/sandbox-chat", input="their plans")
    assert a.responses.retrieve(mine.id).id == mine.id and b.responses.retrieve(theirs.id).id == theirs.id
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.delete(mine.id)
    with pytest.raises(openai.BadRequestError) as refused:
        b.responses.create(model="sandbox/sandbox-chat", input="and?", previous_response_id=mine.id)
    assert refused.value.code == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        a.responses.retrieve(theirs.id)
    # A global admin key reads the project it names, and only that one.
    admin = httpx.get(f"{gateway.v1}/responses/{theirs.id}", headers=gateway.headers(), timeout=30)
    assert admin.status_code == 404
    named = httpx.get(
        f"{gateway.v1}/responses/{theirs.id}", headers={**gateway.headers(), "x-project-id": other["id"]}, timeout=30
    )
    assert named.status_code == 200 and named.json()["id"] == theirs.id
    assert a.responses.retrieve(mine.id).output_text == "sandbox echo: secret plans"  # B's attempts changed nothing


OPENAI_ROUND_TRIP = "openai/test_thinking_with_tool_calls_from_other_model.yaml"


async def test_previous_response_id_on_a_provider_with_the_responses_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passed through: the provider is sent the stored history in input, never the gateway's id."""
    recorded = load_cassette(OPENAI_ROUND_TRIP)[:2]
    first_request = recorded[0].request.body
    monkeypatch.setenv("RESPONSES_STORE_TEST_KEY", "sk-test-0123456789")
    async with replay_upstream(recorded) as upstream:
        config = {"providers": {"openai-main": {
            "type": "openai", "base_url": upstream.rebase("https://api.openai.com/v1"),
            "credential": "env:RESPONSES_STORE_TEST_KEY",
        }}}
        with run_gateway(tmp_path, config, responses_store=True) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as sdk:
                first = await sdk.responses.create(**{**first_request, "model": "openai-main/gpt-5"})
                (_, call) = first.output
                assert call.type == "function_call"
                result = {"type": "function_call_output", "call_id": call.call_id, "output": "Mexico"}
                second = await sdk.responses.create(
                    model="openai-main/gpt-5", previous_response_id=first.id, input=[result],
                    include=["reasoning.encrypted_content"], tools=first_request["tools"], tool_choice="auto",
                )
    assert second.output_text == "Mexico City (Ciudad de México)."
    sent = upstream.received[1].body
    assert "previous_response_id" not in sent
    recorded_next = recorded[1].request.body["input"]
    # The recorded next request sent the same items (pydantic-ai leaves out the call's status).
    assert [item.get("type", "message") for item in sent["input"]] == [
        "message", "reasoning", "function_call", "function_call_output",
    ]
    assert sent["input"][0] == recorded_next[0] and sent["input"][3] == recorded_next[3]
    assert sent["input"][1] == recorded_next[1]
    assert {**sent["input"][2], "status": None} == {**recorded_next[2], "status": None}
    assert json.loads(call.arguments) == {}
