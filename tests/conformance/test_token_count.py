"""Offline token-count conformance: every provider type that declares token counting, replayed through
the gateway's ``POST /v1/messages/count_tokens`` with the official ``anthropic`` SDK.

The suite checks what the vendor received (path, credential, the recorded body), what the caller got
(the vendor's count, marked as the provider's, or its error in Anthropic's shape), and that the
credential appears in no answer and no log line. A provider type that declares token counting without
a case fails the suite.
"""

from __future__ import annotations

import inspect
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import pytest
from anthropic.resources.messages import AsyncMessages

from api_connector.core.capabilities import Capability
from api_connector.providers import REGISTRY
from tests.conformance.providers import check_covered, check_credential
from tests.conformance.token_count_table import TOKEN_COUNT_CASES, CountFailure, TokenCountCase
from tests.gateway import run_gateway
from tests.replay_upstream import replay_upstream

INSTANCE = "replayed"
KEY_ENV = "CONFORMANCE_COUNT_KEY"
_SDK_PARAMS = frozenset(inspect.signature(AsyncMessages.count_tokens).parameters) - {"self", "extra_body"}


def _arguments(body: dict[str, Any]) -> dict[str, Any]:
    """``messages.count_tokens`` keyword arguments sending exactly ``body``."""
    arguments = {key: value for key, value in body.items() if key in _SDK_PARAMS}
    extra = {key: value for key, value in body.items() if key not in _SDK_PARAMS}
    return {**arguments, "extra_body": extra} if extra else arguments


@pytest.mark.parametrize("case", TOKEN_COUNT_CASES, ids=[case.id for case in TOKEN_COUNT_CASES])
async def test_token_count_replay(case: TokenCountCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = REGISTRY[case.provider]
    endpoint = spec.endpoints[Capability.TOKEN_COUNT]
    assert spec.base_url is not None
    base_path = urlsplit(spec.base_url).path
    secret = f"conformance-{case.provider}-{uuid.uuid4().hex}"
    monkeypatch.setenv(KEY_ENV, secret)
    interactions = case.interactions(base_path + endpoint.path)
    (recorded,) = interactions
    sent = dict(recorded.request.body)
    async with replay_upstream(interactions) as upstream:
        config = {"providers": {INSTANCE: {
            "type": case.provider, "base_url": upstream.rebase(spec.base_url), "credential": f"env:{KEY_ENV}",
        }}}
        with run_gateway(tmp_path, config) as gateway:
            async with anthropic.AsyncAnthropic(base_url=gateway.base_url, api_key=gateway.admin_key,
                                                max_retries=0) as client:
                arguments = _arguments({**sent, "model": f"{INSTANCE}/{sent['model']}"})
                answer: anthropic.APIStatusError | None = None
                try:
                    raw = await client.messages.with_raw_response.count_tokens(**arguments)
                    counted = (await raw.parse()).input_tokens
                except anthropic.APIStatusError as error:
                    answer = error
            logs = gateway.logs.lines()
        assert not upstream.unexpected and not upstream.remaining
    (received,) = upstream.received
    assert (received.method, received.path) == ("POST", base_path + endpoint.path)
    check_credential(case.provider, received, secret, gateway.admin_key)
    assert set(case.not_in_our_shape) <= sent.keys()
    assert received.body == {key: value for key, value in sent.items() if key not in case.not_in_our_shape}
    if isinstance(case.outcome, CountFailure):
        texts = _check_failure(case.outcome, answer)
    else:
        assert answer is None, f"expected a count, got {answer!r}"
        assert counted == case.outcome
        assert raw.headers["x-token-count-source"] == "provider"
        texts = [raw.http_response.text, *raw.headers.values()]
    leaks = [text for text in [*texts, *logs] if secret in text]
    assert not leaks, f"the upstream credential leaked: {leaks[:3]}"
    assert sum("/v1/messages/count_tokens" in line for line in logs) >= 1, "one access line per call"


def _check_failure(failure: CountFailure, error: anthropic.APIStatusError | None) -> list[str]:
    assert type(error) is failure.error, f"{type(error).__name__}: {error}"
    assert error.status_code == failure.status
    body = error.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == failure.type
    assert body["error"]["message"] == failure.message, "the provider's own message reaches the caller"
    assert body["error"]["details"]["provider"] == INSTANCE
    return [error.response.text, *error.response.headers.values()]


def test_every_token_count_provider_has_a_case() -> None:
    check_covered(Capability.TOKEN_COUNT, {case.provider for case in TOKEN_COUNT_CASES})


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in TOKEN_COUNT_CASES}) == len(TOKEN_COUNT_CASES)
