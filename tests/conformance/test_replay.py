"""Offline conformance: recorded vendor traffic replayed as the upstream of the running gateway.

For every case of ``table.CASES``: a replay server answers with the recording, the whole service runs in
its thread with one provider instance pointed at it, and the official ``openai.AsyncOpenAI`` client calls
``<instance>/<model>``. The suite checks what the upstream received (the recorded request, the model in
its body or its path, the credential in the provider's header or a SigV4 signature that verifies over the
request as received) and what the client got (text, tool calls, finish reason, usage, stream shape,
errors as the SDK's own exceptions), and that the credential appears in no answer and no log line.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from api_connector.providers.spec import Endpoint
from api_connector.routing.exchange import own_origin
from tests.conformance.cases import (
    CONFORMANCE_DATA,
    DOCUMENTED_DATA,
    PREVIOUS_REPLY,
    RECORDED,
    Answer,
    BrokenStream,
    CallId,
    Case,
    Failure,
    Step,
    StepReply,
)
from tests.conformance.embeddings_table import EMBED_CASES
from tests.conformance.google import canonical_gemini
from tests.conformance.harness import Reply, check_failure, complete, recorded_answer, sdk_arguments, stream
from tests.conformance.providers import (
    API_KEY_HEADER,
    ENTRA_TOKEN_ANSWER,
    NO_STREAM_OPTIONS,
    check_covered,
    check_credential,
    network_provider_types,
    upstream_credential,
)
from tests.conformance.rerank_table import RERANK_CASES
from tests.conformance.responses_table import RESPONSES_CASES
from tests.conformance.speech_table import SPEECH_CASES, speech_listings
from tests.conformance.table import CASES
from tests.conformance.token_count_table import TOKEN_COUNT_CASES
from tests.conformance.transcription_table import TRANSCRIPTION_CASES
from tests.gateway import run_gateway
from tests.google_tokens import ServiceAccountKey, TokenEndpoint, token_endpoint
from tests.recorded import RECORDED as RECORDED_DIR
from tests.recorded import Interaction
from tests.replay_upstream import ReceivedRequest, replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_UPSTREAM_KEY"
# Request bodies in the form they are compared in, by wire (the identity for the others).
CANONICAL = {"gemini_chat": canonical_gemini}


@dataclass
class Credential:
    """The instance's secret, and what the upstream must be shown for it."""

    secret: str
    tokens: TokenEndpoint | None = None  # the token endpoint a service account trades its key at
    account: ServiceAccountKey | None = None
    texts: tuple[str, ...] = ()  # what must never leak, when not the secret alone (an Entra secret)

    def presented(self) -> str:
        """What stands for the credential upstream: the key itself, or the access token issued for it."""
        if self.tokens is None:
            return self.secret
        assert self.tokens.issued, "the service account was never exchanged for a token"
        return self.tokens.issued[-1]

    def hidden(self) -> list[str]:
        """What must appear in no answer and no log line."""
        if self.account is None:
            return list(self.texts) or [self.secret]
        assert self.tokens is not None
        return [self.account.key_material(), *self.tokens.issued]


@asynccontextmanager
async def credential_for(case: Case) -> AsyncIterator[Credential]:
    if case.credential == "key":
        async with upstream_credential(case.provider, f"conformance-{case.provider}-{uuid.uuid4().hex}") as found:
            secret, texts = found
            yield Credential(secret, texts=texts)
        return
    account = ServiceAccountKey.make("conformance")
    async with token_endpoint(account) as tokens:
        yield Credential(account.json(tokens.url), tokens, account)


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
    interactions = case.interactions(_chat_uris(case, endpoint, real_base))
    answers: list[str] = []
    async with credential_for(case) as credential, replay_upstream(interactions) as upstream:
        monkeypatch.setenv(KEY_ENV, credential.secret)
        if spec.linked_origins:
            # The vendor's answers point to its own hosts (a job's status and stream URLs): here, this server.
            upstream.point_here(lambda url: own_origin(url, real_base, spec.linked_origins))
        presented = API_KEY_HEADER if case.provider == "vertex" and case.credential == "key" else None
        base_url = upstream.rebase(real_base)
        instance = {"type": case.provider, "base_url": base_url, "credential": f"env:{KEY_ENV}"}
        config = {"providers": {INSTANCE: instance}}
        with run_gateway(tmp_path, config) as gateway:
            async with openai.AsyncOpenAI(base_url=gateway.v1, api_key=gateway.admin_key, max_retries=0) as client:
                position, replies = 0, []
                for step in case.steps:
                    consumed = interactions[position:position + step.upstream_calls]
                    position += step.upstream_calls
                    request = _request(case, step, consumed[0], replies, include_usage)
                    before = len(upstream.received)
                    outcome = await _call(client, request)
                    received = upstream.received[before:]
                    assert len(received) == step.upstream_calls, "upstream calls for this step"
                    for call, recorded in zip(received, consumed, strict=True):
                        _check_upstream_request(case, step, recorded, request, call, endpoint, base_url)
                        check_credential(case.provider, call, credential.presented(), gateway.admin_key, presented)
                    answers += _check_outcome(step.outcome, outcome, consumed, endpoint.wire.name,
                                              include_usage, streamed=bool(request.get("stream")),
                                              asked=f"{INSTANCE}/{request['model']}")
                    replies.append(outcome if isinstance(outcome, Reply) else None)
            logs = gateway.logs.lines()
        assert not upstream.unexpected
        assert len(upstream.remaining) == len(interactions) - position
        if credential.tokens is not None:
            assert len(credential.tokens.issued) == 1, "one token exchange, its token cached for every call"
    assert sum("/v1/chat/completions" in line for line in logs) >= len(case.steps), "one access line per call"
    leaks = [text for text in [*answers, *logs] for secret in credential.hidden() if secret in text]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"


def _chat_uris(case: Case, endpoint: Endpoint, real_base: str) -> list[str]:
    """Where each recorded answer is served, for answers kept without their request (rerouted ones, raw
    streams): the chat call of the step it answers (the model may be in the path)."""
    return [
        real_base + _chat_path(endpoint, step.request)
        for step in case.steps for _ in range(step.upstream_calls)
    ]


def _chat_path(endpoint: Endpoint, request: dict[str, Any] | None) -> str:
    """The path (and query) a chat call for ``request`` goes to: where the model is part of the path,
    the request's; streamed, the stream path where the vendor has one."""
    if request is None:
        return endpoint.path
    return endpoint.path_for(request["model"], stream=bool(request.get("stream")))


def _request(case: Case, step: Step, recorded: Interaction, replies: list[Reply | None],
             include_usage: bool | None) -> dict[str, Any]:
    """The OpenAI request the client sends for ``step`` (``replies``: what the steps before got)."""
    if step.request is None:
        assert isinstance(recorded.request.body, dict), "an OpenAI-shaped recording holds the request"
        request = _with_deployment(case, recorded.request.body)
    else:
        request = dict(step.request)
        request["messages"] = [_message(message, replies) for message in request["messages"]]
    if request.get("stream"):
        request.pop("stream_options", None)
        if include_usage:
            request["stream_options"] = {"include_usage": True}
    return request


def _with_deployment(case: Case, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body, naming the deployment its path named when its client left the model out."""
    if case.deployment is None:
        return dict(body)
    assert "model" not in body, "deployment is for recordings without a model"
    return {"model": case.deployment, **body}


def _message(message: Any, replies: list[Reply | None]) -> dict[str, Any]:
    """A step's message with the markers for what earlier steps received filled in."""
    if message is PREVIOUS_REPLY or isinstance(message, StepReply):
        # PREVIOUS_REPLY: the latest answer received (a failed step in between has none).
        latest = next((reply for reply in reversed(replies) if reply is not None), None)
        reply = latest if message is PREVIOUS_REPLY else replies[message.step]
        assert reply is not None, "a reply marker needs a step with an answer"
        return reply.as_message()
    call = message.get("tool_call_id")
    if isinstance(call, CallId):
        reply = replies[call.step]
        assert reply is not None, "a CallId needs a step with an answer"
        return {**message, "tool_call_id": reply.tool_calls[call.index][0]}
    return dict(message)


async def _call(client: openai.AsyncOpenAI, request: dict[str, Any]) -> Reply | openai.APIStatusError:
    arguments = sdk_arguments(request, f"{INSTANCE}/{request['model']}")
    try:
        return await (stream(client, arguments) if request.get("stream") else complete(client, arguments))
    except openai.APIStatusError as error:
        return error


def _without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``body`` without ``keys``; a dotted key leaves out a field of a nested object."""
    out = {key: value for key, value in body.items() if key not in keys}
    for key in keys:
        head, _, rest = key.partition(".")
        if rest and isinstance(out.get(head), dict):
            out[head] = _without(out[head], rest)
    return out


def _without_defaults(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded body without what only repeats a default: a Messages tool result's ``"is_error":
    false``; a Converse request's empty ``system`` and ``inferenceConfig`` and a tool result's
    ``"status": "success"``."""
    messages = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            message = {**message, "content": [_block_without_defaults(block) for block in content]}
        messages.append(message)
    body = {key: value for key, value in body.items() if not (key in ("system", "inferenceConfig") and not value)}
    return {**body, "messages": messages} if "messages" in body else body


def _block_without_defaults(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("type") == "tool_result" and block.get("is_error") is False:
        return _without(block, "is_error")
    result = block.get("toolResult")
    if isinstance(result, dict) and result.get("status") == "success":
        return {**block, "toolResult": _without(result, "status")}
    return block


def _check_upstream_request(case: Case, step: Step, recorded: Interaction, sent: dict[str, Any],
                            received: ReceivedRequest, endpoint: Endpoint, base_url: str) -> None:
    assert received.method == recorded.request.method.upper()
    expected = recorded.request.body
    if expected is None and not case.rerouted:
        # A request without a body (a job's poll or stream): on the path the vendor's answer gave.
        assert received.path == recorded.request.path and received.body is None
        return
    body = received.body
    assert isinstance(body, dict), f"the upstream received no JSON body: {body!r}"
    if "{model}" in endpoint.path:
        # The model is in the path (one segment percent-encoded where the vendor's SDK does so).
        path, _, query = _chat_path(endpoint, sent).partition("?")
        assert received.path == urlsplit(base_url).path + path, "the model, without the instance prefix, in the path"
        sent_query = received.query_string.split("&")
        assert all(part in sent_query for part in query.split("&") if part), "the stream path's own query"
    else:
        assert body["model"] == sent["model"], "the instance prefix is removed, the model name kept"
    if case.rerouted:
        return
    assert isinstance(expected, dict)
    expected = _with_deployment(case, expected)
    assert all(_has(expected, field) for field in step.not_in_openai_shape), "not_in_openai_shape names recorded fields"
    if step.request is None:
        # OpenAI-shaped: forwarded as sent, except that the gateway always asks a stream for its usage.
        assert _without(body, "stream_options") == _without(expected, "stream_options")
        if body.get("stream") and case.provider in NO_STREAM_OPTIONS:
            assert "stream_options" not in body, "a vendor that takes no stream_options gets none"
        elif body.get("stream"):
            assert body["stream_options"]["include_usage"] is True
        return
    expected = _without_defaults(_without(expected, *step.not_in_openai_shape))
    if step.edit is not None:
        expected = step.edit(expected)
    canonical = CANONICAL.get(endpoint.wire.name if endpoint.wire else "", lambda value: value)
    assert canonical(body) == canonical(expected)


def _has(body: dict[str, Any], field: str) -> bool:
    """Whether ``body`` has ``field``, a key or a dotted path into nested objects."""
    head, _, rest = field.partition(".")
    if head not in body:
        return False
    return not rest or (isinstance(body[head], dict) and _has(body[head], rest))


def _check_outcome(expected: Answer | Failure | BrokenStream, outcome: Reply | openai.APIStatusError,
                   recorded: list[Interaction], wire: str, include_usage: bool | None, *, streamed: bool,
                   asked: str) -> list[str]:
    """Check what the client got; return every text the gateway answered with (for the leak check)."""
    if isinstance(expected, Failure):
        assert isinstance(outcome, openai.APIStatusError), f"expected an error, got {outcome!r}"
        check_failure(expected, outcome, INSTANCE)
        assert outcome.response.headers.get("retry-after") == expected.retry_after
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
        _check_answer(expected, outcome, recorded, wire, include_usage, streamed=streamed, asked=asked)
    return outcome.wire


def _check_answer(answer: Answer, reply: Reply, recorded: list[Interaction], wire: str,
                  include_usage: bool | None, *, streamed: bool, asked: str) -> None:
    oracle = recorded_answer([item.response for item in recorded], wire)
    assert answer.text is RECORDED or answer.text == oracle.text, "the table disagrees with the recording"
    assert reply.text == oracle.text
    # What the vendor does not name, the gateway does: its own id, the model the caller asked for.
    assert reply.id == oracle.id if oracle.id is not None else reply.id.startswith("chatcmpl-")
    assert reply.model == (oracle.model if oracle.model is not None else asked)
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


# -- coverage: a provider or a recording without a case fails the suite -------------------------------


def _chat_provider_types() -> set[str]:
    return network_provider_types(Capability.CHAT)


def test_every_chat_provider_has_conformance_cases() -> None:
    check_covered(Capability.CHAT, {case.provider for case in CASES})


def _wire_name(provider: str) -> str:
    wire = REGISTRY[provider].endpoints[Capability.CHAT].wire
    assert wire is not None
    return wire.name


def test_every_chat_wire_is_covered_streamed_and_failing() -> None:
    """Each wire shape in use gets at least one streamed case and one recorded upstream error (a
    vendor's dialect of a shape is that shape's codec: its own cases show what it changes)."""
    for name in {_wire_name(provider) for provider in _chat_provider_types()}:
        cases = [c for c in CASES if _wire_name(c.provider) == name]
        assert any(case.streams() for case in cases), f"{name}: no streamed case"
        assert any(isinstance(s.outcome, Failure) for c in cases for s in c.steps), f"{name}: no error case"


def test_every_recording_is_replayed() -> None:
    # Embeddings data (with answer bodies recorded alone, .json) is replayed by test_embeddings.py.
    cases = (*CASES, *RERANK_CASES, *EMBED_CASES, *TOKEN_COUNT_CASES, *RESPONSES_CASES)
    used = {case.path.resolve() for case in cases} | {ENTRA_TOKEN_ANSWER.resolve()}
    used |= {path.resolve() for case in SPEECH_CASES for path in case.files} | speech_listings()
    used |= {path.resolve() for case in TRANSCRIPTION_CASES for path in case.files}
    recordings = {
        path.resolve() for folder in (RECORDED_DIR, CONFORMANCE_DATA, DOCUMENTED_DATA) for path in folder.rglob("*")
        if path.suffix in (".yaml", ".txt", ".json")
    }
    unused = sorted(path.name for path in recordings - used)
    assert not unused, f"recordings no conformance case replays: {unused}"


def test_case_ids_are_unique() -> None:
    for table in (CASES, EMBED_CASES):
        ids = [case.id for case in table]
        assert len(ids) == len(set(ids))
