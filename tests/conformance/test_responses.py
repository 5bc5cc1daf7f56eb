"""Offline Responses API conformance: recorded traffic replayed through ``POST /v1/responses``.

For every case of ``responses_table.RESPONSES_CASES``: a replay server answers with the recording, the
whole service runs with one provider instance of the case's type pointed at it, and the official
``openai.AsyncOpenAI`` client calls ``client.responses.create`` (streamed or not) on
``<instance>/<model>``. Passed through (OpenAI, Azure): the upstream receives exactly what the client
sent and the client gets exactly the recorded answer. Translated (Anthropic): the upstream receives the
recorded vendor request and the client gets its translation. Either way the client's answer says the
recorded text, calls and usage, the usage rows carry the recorded tokens, errors reach the SDK as its
own exceptions, and the credential appears in no answer and no log line. A provider type that declares
the Responses API without a case fails the suite.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.resources.responses import AsyncResponses
from openai.types.responses import Response

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.conformance.cases import Failure
from tests.conformance.providers import check_covered, check_credential, network_provider_types, upstream_credential
from tests.conformance.responses_table import PREVIOUS_OUTPUT, RESPONSES_CASES, Answer, ResponsesCase, Step
from tests.conformance.test_replay import _without_defaults as without_defaults
from tests.gateway import RunningGateway, run_gateway
from tests.recorded import Interaction, sse_events
from tests.replay_upstream import ReceivedRequest, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_RESPONSES_KEY"
_SDK_PARAMS = frozenset(inspect.signature(AsyncResponses.create).parameters) - {
    "self", "extra_headers", "extra_query", "extra_body", "timeout",
}


def _endpoint_of(provider: str) -> tuple[str, bool]:
    """(the endpoint path the upstream is called on, whether the request is passed through)."""
    endpoints = REGISTRY[provider].endpoints
    own = endpoints.get(Capability.RESPONSES)
    if own is not None:
        return own.path, True
    return endpoints[Capability.CHAT].path, False


@pytest.mark.parametrize("case", RESPONSES_CASES, ids=[case.id for case in RESPONSES_CASES])
async def test_responses_replay(case: ResponsesCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = REGISTRY[case.provider]
    path, passed_through = _endpoint_of(case.provider)
    real_base = case.base_url or spec.base_url
    assert real_base, f"{case.id}: give the vendor's base_url, {case.provider} has none"
    interactions = case.interactions(real_base + path)
    assert len(interactions) == len(case.steps), "one recorded answer per step"
    seen: list[str] = []
    key = f"conformance-{case.provider}-{uuid.uuid4().hex}"
    async with upstream_credential(case.provider, key) as (secret, hidden), replay_upstream(interactions) as upstream:
        monkeypatch.setenv(KEY_ENV, secret)
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(real_base), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                previous: Response | None = None
                for step, recorded in zip(case.steps, interactions, strict=True):
                    request = _request(step, recorded, previous)
                    before = len(upstream.received)
                    outcome, wire = await _call(client, request)
                    seen += wire
                    (received,) = upstream.received[before:]
                    check_credential(
                        case.provider, received, secret, gateway.admin_key, capability=Capability.RESPONSES
                    )
                    _check_upstream(case, step, recorded, request, received, passed_through)
                    if isinstance(step.outcome, Failure):
                        _check_failure(step.outcome, outcome)
                        continue
                    assert isinstance(outcome, Response), f"expected an answer, got {outcome!r}"
                    _check_answer(step.outcome, outcome)
                    if passed_through:
                        _check_recorded_answer(recorded, wire)
                    if step.request is None and previous is not None:
                        _check_round_trip(previous, request)
                    previous = outcome
            await _check_usage(gateway, case)
            logs = gateway.logs.lines()
        assert not upstream.unexpected and not upstream.remaining
    assert sum("/v1/responses" in line for line in logs) >= len(case.steps), "one access line per call"
    leaks = [text for text in [*seen, *logs] for value in hidden if value in text]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"


def _request(step: Step, recorded: Interaction, previous: Response | None) -> dict[str, Any]:
    """The Responses request the client sends for ``step``."""
    if step.request is None:
        assert isinstance(recorded.request.body, dict), "a passed-through recording holds the request"
        return dict(recorded.request.body)
    request = dict(step.request)
    if isinstance(request.get("input"), list):
        items: list[Any] = []
        for item in request["input"]:
            if item is PREVIOUS_OUTPUT:
                assert previous is not None, "PREVIOUS_OUTPUT needs a step before with an answer"
                items += [output.to_dict() for output in previous.output]
            else:
                items.append(item)
        request["input"] = items
    return request


Outcome = Response | openai.APIStatusError


async def _call(client: openai.AsyncOpenAI, request: dict[str, Any]) -> tuple[Outcome, list[str]]:
    """The answer (or the SDK's exception) and every body and header value the gateway answered with."""
    arguments = {key: value for key, value in request.items() if key in _SDK_PARAMS}
    extra = {key: value for key, value in request.items() if key not in _SDK_PARAMS}
    arguments["model"] = f"{INSTANCE}/{request['model']}"
    if extra:
        arguments["extra_body"] = extra
    try:
        if not request.get("stream"):
            raw = await client.responses.with_raw_response.create(**arguments)
            return raw.parse(), [raw.http_response.text, *raw.headers.values()]
        events = await client.responses.create(**arguments)
        wire = list(events.response.headers.values())
        final: Response | None = None
        sequence = []
        async for event in events:
            wire.append(json.dumps(event.to_dict()))
            sequence.append(event.sequence_number)
            if event.type in ("response.completed", "response.incomplete"):
                final = event.response
        assert sequence == list(range(sequence[0], sequence[0] + len(sequence))), "events numbered in order"
        assert final is not None, "the stream ends with the whole response"
        return final, wire
    except openai.APIStatusError as error:
        return error, [error.response.text, *error.response.headers.values()]


def _check_upstream(case: ResponsesCase, step: Step, recorded: Interaction, sent: dict[str, Any],
                    received: ReceivedRequest, passed_through: bool) -> None:
    assert received.method == "POST"
    body = received.body
    assert isinstance(body, dict), f"the upstream received no JSON body: {body!r}"
    assert body["model"] == sent["model"], "the instance prefix is removed, the model name kept"
    if passed_through:
        assert body == sent, "passed through: the upstream receives the request as the client sent it"
        if step.request is None:
            assert body == recorded.request.body
        return
    if case.rerouted:
        return
    expected = recorded.request.body
    assert isinstance(expected, dict)
    assert set(step.not_in_our_shape) <= expected.keys()
    # Anthropic's SDK writes a tool result's default "is_error": false; the translation leaves it out.
    assert body == without_defaults({k: v for k, v in expected.items() if k not in step.not_in_our_shape})


def _check_answer(answer: Answer, response: Response) -> None:
    assert response.status == answer.status
    assert response.output_text == answer.text
    calls = [(item.call_id, item.name, json.loads(item.arguments)) for item in response.output
             if item.type == "function_call"]
    assert calls == [(call_id, name, arguments) for call_id, name, arguments in answer.calls]
    usage = response.usage
    assert usage is not None
    cached = usage.input_tokens_details.cached_tokens if usage.input_tokens_details else 0
    assert (usage.input_tokens, usage.output_tokens, cached) == answer.usage
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def _check_recorded_answer(recorded: Interaction, wire: list[str]) -> None:
    """Passed through: the client got the recorded answer, every field of it, every event of a stream."""
    response = recorded.response
    if not response.is_sse:
        assert json.loads(wire[0]) == response.json()
        return
    events = [json.loads(event.data) for event in sse_events(response.body) if event.data]
    got = [json.loads(text) for text in wire if text.startswith("{")]
    assert got == events


def _check_round_trip(previous: Response, request: dict[str, Any]) -> None:
    """The recorded next request sent back the items the client received (pydantic-ai leaves out an
    item's ``status``), in order."""
    sent = [item for item in request["input"] if isinstance(item, dict)]
    for item in previous.output:
        received = item.to_dict()
        assert any(
            all(received.get(key) == value for key, value in candidate.items()) for candidate in sent
        ), f"{received['type']} item not sent back"


def _check_failure(failure: Failure, outcome: Outcome) -> None:
    assert isinstance(outcome, openai.APIStatusError), f"expected an error, got {outcome!r}"
    assert type(outcome) is failure.error and outcome.status_code == failure.status
    body = outcome.body
    assert isinstance(body, dict)
    assert body["message"] == failure.message, "the provider's own message reaches the caller"
    assert body.get("provider") == INSTANCE and outcome.param == failure.param
    details = body.get("details") or {}
    upstream = (details.get("upstream_type"), details.get("upstream_code"))
    assert upstream == (failure.upstream_type, failure.upstream_code)


async def _check_usage(gateway: RunningGateway, case: ResponsesCase) -> None:
    """Each answer's usage row carries the tokens its response said, under the responses capability."""
    wanted = sorted(step.outcome.usage for step in case.steps if isinstance(step.outcome, Answer))
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for _ in range(100):
            answer = await http.get(gateway.base_url + "/admin/usage", headers=gateway.headers())
            rows = [row for row in answer.json()["data"] if row["capability"] == "responses"]
            if len(rows) >= len(case.steps):
                break
            await asyncio.sleep(0.05)
    answered = [row for row in rows if row["status"] != "error"]
    got = sorted((row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"]) for row in answered)
    assert got == wanted


# -- coverage: a provider or a recording without a case fails the suite -------------------------------


def test_every_responses_provider_has_a_case() -> None:
    check_covered(Capability.RESPONSES, {case.provider for case in RESPONSES_CASES})


def test_every_responses_wire_is_streamed_and_failing() -> None:
    """Each passed-through wire is replayed streamed, and with an upstream error."""
    for provider in network_provider_types(Capability.RESPONSES):
        wire = REGISTRY[provider].endpoints[Capability.RESPONSES].wire
        cases = [c for c in RESPONSES_CASES
                 if (endpoint := REGISTRY[c.provider].endpoints.get(Capability.RESPONSES)) and endpoint.wire is wire]
        assert any(case.streams() for case in cases), f"{provider}: no streamed case"
        steps = [step for case in cases for step in case.steps]
        assert any(isinstance(step.outcome, Failure) for step in steps), f"{provider}: no error case"


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in RESPONSES_CASES}) == len(RESPONSES_CASES)
