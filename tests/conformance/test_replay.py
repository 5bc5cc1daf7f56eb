"""Offline conformance: recorded vendor traffic replayed as the upstream of the running gateway.

For every case of ``table.CASES``: a replay server answers with the recording, the whole service runs in
its thread with one provider instance pointed at it, and the official ``openai.AsyncOpenAI`` client calls
``<instance>/<model>``. The suite checks what the upstream received (the recorded request, the credential
in the provider's header) and what the client got (text, tool calls, finish reason, usage, stream shape,
errors as the SDK's own exceptions), and that the credential appears in no answer and no log line.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import openai
import pytest

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.conformance.cases import (
    CONFORMANCE_DATA,
    PREVIOUS_REPLY,
    RECORDED,
    Answer,
    BrokenStream,
    Case,
    Failure,
    Step,
)
from tests.conformance.harness import Reply, complete, recorded_answer, sdk_arguments, stream
from tests.conformance.providers import check_covered, check_credential, network_provider_types
from tests.conformance.rerank_table import DOCUMENTED, RERANK_CASES
from tests.conformance.responses_table import RESPONSES_CASES
from tests.conformance.table import CASES
from tests.gateway import run_gateway
from tests.recorded import RECORDED as RECORDED_DIR
from tests.recorded import Interaction
from tests.replay_upstream import ReceivedRequest, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_UPSTREAM_KEY"


def _variants() -> list[Any]:
    """Each case once; cases with streamed answers twice, with and without ``include_usage``."""
    params = []
    for case in CASES:
        if case.streams():
            params.append(pytest.param(case, True, id=f"{case.id}-with-usage"))
            marks = [pytest.mark.xfail(strict=True, reason=case.bug_without_usage)] if case.bug_without_usage else []
            params.append(pytest.param(case, False, id=f"{case.id}-without-usage", marks=marks))
        else:
            params.append(pytest.param(case, None, id=case.id))
    return params


@pytest.mark.parametrize(("case", "include_usage"), _variants())
async def test_replay(case: Case, include_usage: bool | None, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    spec = REGISTRY[case.provider]
    endpoint = spec.endpoints[Capability.CHAT]
    assert endpoint.wire is not None
    real_base = case.base_url or spec.base_url
    assert real_base, f"{case.id}: give the vendor's base_url, {case.provider} has none"
    secret = f"conformance-{case.provider}-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    interactions = case.interactions(real_base + endpoint.path)
    answers: list[str] = []
    async with replay_upstream(interactions) as upstream:
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(real_base), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                position, previous = 0, None
                for step in case.steps:
                    recorded = interactions[position]
                    position += step.upstream_calls
                    request = _request(step, recorded, previous, include_usage)
                    before = len(upstream.received)
                    outcome = await _call(client, request)
                    received = upstream.received[before:]
                    assert len(received) == step.upstream_calls, "upstream calls for this step"
                    for call in received:
                        _check_upstream_request(case, step, recorded, request, call)
                        check_credential(case.provider, call, secret, gateway.admin_key)
                    answers += _check_outcome(step.outcome, outcome, recorded, endpoint.wire.name,
                                              include_usage, streamed=bool(request.get("stream")))
                    previous = outcome if isinstance(outcome, Reply) else previous
            logs = gateway.logs.lines()
        assert not upstream.unexpected
        assert len(upstream.remaining) == len(interactions) - position
    assert sum("/v1/chat/completions" in line for line in logs) >= len(case.steps), "one access line per call"
    leaks = [text for text in [*answers, *logs] if secret in text]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"


def _request(step: Step, recorded: Interaction, previous: Reply | None,
             include_usage: bool | None) -> dict[str, Any]:
    """The OpenAI request the client sends for ``step``."""
    if step.request is None:
        assert isinstance(recorded.request.body, dict), "an OpenAI-shaped recording holds the request"
        request = dict(recorded.request.body)
    else:
        request = dict(step.request)
        messages = []
        for message in request["messages"]:
            if message is PREVIOUS_REPLY:
                assert previous is not None, "PREVIOUS_REPLY needs a step before with an answer"
                message = previous.as_message()
            messages.append(message)
        request["messages"] = messages
    if request.get("stream"):
        request.pop("stream_options", None)
        if include_usage:
            request["stream_options"] = {"include_usage": True}
    return request


async def _call(client: openai.AsyncOpenAI, request: dict[str, Any]) -> Reply | openai.APIStatusError:
    arguments = sdk_arguments(request, f"{INSTANCE}/{request['model']}")
    try:
        return await (stream(client, arguments) if request.get("stream") else complete(client, arguments))
    except openai.APIStatusError as error:
        return error


def _without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in keys}


def _without_default_is_error(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded Messages body with ``"is_error": false`` left out of tool results (its default)."""
    messages = []
    for message in body.get("messages", []):
        content = message["content"]
        if isinstance(content, list):
            content = [
                _without(block, "is_error") if block.get("type") == "tool_result" and block.get("is_error") is False
                else block
                for block in content
            ]
        messages.append({**message, "content": content})
    return {**body, "messages": messages} if "messages" in body else body


def _check_upstream_request(case: Case, step: Step, recorded: Interaction, sent: dict[str, Any],
                            received: ReceivedRequest) -> None:
    assert received.method == "POST"
    body = received.body
    assert isinstance(body, dict), f"the upstream received no JSON body: {body!r}"
    assert body["model"] == sent["model"], "the instance prefix is removed, the model name kept"
    if case.rerouted:
        return
    expected = recorded.request.body
    assert isinstance(expected, dict)
    assert set(step.not_in_openai_shape) <= expected.keys(), "not_in_openai_shape names recorded fields"
    if step.request is None:
        # OpenAI-shaped: forwarded as sent, except that the gateway always asks a stream for its usage.
        assert _without(body, "stream_options") == _without(expected, "stream_options")
        if body.get("stream"):
            assert body["stream_options"]["include_usage"] is True
    else:
        assert body == _without_default_is_error(_without(expected, *step.not_in_openai_shape))


def _check_outcome(expected: Answer | Failure | BrokenStream, outcome: Reply | openai.APIStatusError,
                   recorded: Interaction, wire: str, include_usage: bool | None, *, streamed: bool) -> list[str]:
    """Check what the client got; return every text the gateway answered with (for the leak check)."""
    if isinstance(expected, Failure):
        assert isinstance(outcome, openai.APIStatusError), f"expected an error, got {outcome!r}"
        _check_failure(expected, outcome)
        return [outcome.response.text, *outcome.response.headers.values()]
    assert isinstance(outcome, Reply), f"expected an answer, got {outcome!r}"
    if isinstance(expected, BrokenStream):
        assert streamed and outcome.broken is not None, "the stream should have broken"
        assert not isinstance(outcome.broken, openai.APIStatusError)
        assert outcome.broken.message == expected.message, "the provider's own message reaches the caller"
        assert isinstance(outcome.broken.body, dict) and outcome.broken.body.get("provider") == INSTANCE
        assert outcome.usage_chunks == 0, "no usage chunk once the stream broke"
    else:
        assert outcome.broken is None, f"the stream broke: {outcome.broken}"
        _check_answer(expected, outcome, recorded, wire, include_usage, streamed=streamed)
    return outcome.wire


def _check_answer(answer: Answer, reply: Reply, recorded: Interaction, wire: str,
                  include_usage: bool | None, *, streamed: bool) -> None:
    oracle = recorded_answer(recorded.response, wire)
    assert answer.text is RECORDED or answer.text == oracle.text, "the table disagrees with the recording"
    assert reply.text == oracle.text
    assert (reply.id, reply.model) == (oracle.id, oracle.model)
    assert reply.finish_reason == answer.finish_reason
    assert [(call_id, name) for call_id, name, _ in reply.tool_calls] == [
        (call.id, call.name) for call in answer.tool_calls
    ]
    for (_, _, arguments), call in zip(reply.tool_calls, answer.tool_calls, strict=True):
        if isinstance(call.arguments, dict):
            assert json.loads(arguments) == call.arguments
        else:
            assert arguments == call.arguments
    prompt, completion, total, _ = answer.usage
    assert prompt + completion == total, "the table's usage adds up"
    if not streamed:
        assert reply.usage == answer.usage
        return
    assert reply.finish_chunks == 1, "exactly one chunk carries the finish reason"
    if include_usage:
        assert reply.usage_chunks == 1 and reply.usage == answer.usage
        assert reply.usage_after_finish, "the usage chunk comes after the finish reason"
        assert not (answer.usage_chunk_alone and reply.usage_chunk_has_choices), "usage chunk with empty choices"
    else:
        assert reply.usage_chunks == 0, "no usage chunk when the caller did not ask for one"


def _check_failure(failure: Failure, error: openai.APIStatusError) -> None:
    assert type(error) is failure.error, f"{type(error).__name__}: {error}"
    assert error.status_code == failure.status
    body = error.body
    assert isinstance(body, dict)
    assert body["message"] == failure.message, "the provider's own message reaches the caller"
    assert body.get("provider") == INSTANCE
    assert error.param == failure.param
    details = body.get("details") or {}
    assert (details.get("upstream_type"), details.get("upstream_code")) == (
        failure.upstream_type, failure.upstream_code,
    )


# -- coverage: a provider or a recording without a case fails the suite -------------------------------


def _chat_provider_types() -> set[str]:
    return network_provider_types(Capability.CHAT)


def test_every_chat_provider_has_conformance_cases() -> None:
    check_covered(Capability.CHAT, {case.provider for case in CASES})


def test_every_chat_wire_is_covered_streamed_and_failing() -> None:
    """Each wire in use gets at least one streamed case and one recorded upstream error."""
    for wire in {REGISTRY[name].endpoints[Capability.CHAT].wire for name in _chat_provider_types()}:
        assert wire is not None
        cases = [c for c in CASES if REGISTRY[c.provider].endpoints[Capability.CHAT].wire is wire]
        assert any(case.streams() for case in cases), f"{wire.name}: no streamed case"
        assert any(isinstance(s.outcome, Failure) for c in cases for s in c.steps), f"{wire.name}: no error case"


def test_every_recording_is_replayed() -> None:
    used = {case.path.resolve() for case in (*CASES, *RERANK_CASES, *RESPONSES_CASES)}
    recordings = {
        path.resolve() for folder in (RECORDED_DIR, CONFORMANCE_DATA, DOCUMENTED) for path in folder.rglob("*")
        if path.suffix in (".yaml", ".txt", ".json")
    }
    unused = sorted(path.name for path in recordings - used)
    assert not unused, f"recordings no conformance case replays: {unused}"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
