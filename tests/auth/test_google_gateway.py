"""Vertex AI through the running gateway with a service account: the key from a ``file:`` reference or
stored in the vault, traded once at a loopback token endpoint that verifies its JWT, the token cached
across calls; a credential that is no service account, or a token endpoint that refuses, fails clearly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.gateway import RunningGateway, run_gateway
from tests.google_tokens import ServiceAccountKey, TokenEndpoint, token_endpoint
from tests.recorded import RECORDED, load_cassette
from tests.replay_upstream import ReplayServer, replay_upstream

ACCOUNT = ServiceAccountKey.make("vertex-caller")
RECORDING = RECORDED / "google" / "pydantic-ai" / "test_google_model_vertex_provider.yaml"
BASE = "https://aiplatform.googleapis.com/v1beta1/projects/pydantic-ai/locations/global/publishers/google"
QUESTION = {"model": "", "messages": [{"role": "user", "content": "What is the capital of France?"}]}


@pytest.fixture
async def tokens() -> AsyncIterator[TokenEndpoint]:
    async with token_endpoint(ACCOUNT) as endpoint:
        yield endpoint


async def ask(gateway: RunningGateway, model: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.v1, headers=gateway.headers(), timeout=30) as client:
        return await client.post("/chat/completions", json={**QUESTION, "model": model})


def vertex(base_url: str, credential: str) -> dict[str, Any]:
    return {"type": "vertex", "base_url": base_url, "credential": credential}


def check_presented(upstream: ReplayServer, tokens: TokenEndpoint) -> None:
    assert tokens.issued == ["ya29.test-1"] and tokens.refused == []
    assert [r.headers.get("authorization") for r in upstream.received] == ["Bearer ya29.test-1"] * 2
    assert all("x-goog-api-key" not in r.headers for r in upstream.received)


def never_shown(gateway: RunningGateway, *texts: str) -> None:
    shown = [*texts, *gateway.logs.lines()]
    assert not [text for text in shown if ACCOUNT.key_material() in text or "ya29.test-1" in text]


async def test_a_service_account_from_a_file_reference(tmp_path: Path, tokens: TokenEndpoint) -> None:
    key_file = tmp_path / "vertex-sa.json"
    key_file.write_text(ACCOUNT.json(tokens.url) + "\n")
    (recorded,) = load_cassette(RECORDING)
    async with replay_upstream([recorded, recorded]) as upstream:
        config = {"providers": {"vx": vertex(upstream.rebase(BASE), f"file:{key_file}")}}
        with run_gateway(tmp_path, config) as gateway:
            answers = [await ask(gateway, "vx/gemini-2.0-flash") for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200], answers[0].text
            assert answers[0].json()["choices"][0]["message"]["content"] == "The capital of France is Paris.\n"
            never_shown(gateway, *(a.text for a in answers))
    check_presented(upstream, tokens)


async def test_a_service_account_stored_in_the_vault(tmp_path: Path, tokens: TokenEndpoint) -> None:
    (recorded,) = load_cassette(RECORDING)
    async with replay_upstream([recorded, recorded]) as upstream:
        with run_gateway(tmp_path) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers()) as admin:
                secret = orjson.loads(ACCOUNT.json(tokens.url))
                stored = await admin.post("/admin/credentials", json={
                    "name": "vertex-sa", "provider": "vertex", "secret": secret, "verify": False,
                })
                assert stored.status_code == 201, stored.text
                config = vertex(upstream.rebase(BASE), stored.json()["id"])
                created = await admin.post("/admin/providers", json={"name": "vx", "config": config})
                assert created.status_code == 201, created.text
                listed = await admin.get("/admin/credentials")
            answers = [await ask(gateway, "vx/gemini-2.0-flash") for _ in range(2)]
            assert [a.status_code for a in answers] == [200, 200], answers[0].text
            never_shown(gateway, stored.text, listed.text, *(a.text for a in answers))
    check_presented(upstream, tokens)


async def test_json_that_is_not_a_service_account_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adc = {"type": "authorized_user", "client_id": "x", "client_secret": "adc-secret-123", "refresh_token": "r"}
    monkeypatch.setenv("VERTEX_SA", json.dumps(adc))
    async with replay_upstream([]) as upstream:
        config = {"providers": {"vx": vertex(upstream.rebase(BASE), "env:VERTEX_SA")}}
        with run_gateway(tmp_path, config) as gateway:
            answer = await ask(gateway, "vx/gemini-2.0-flash")
            logs = gateway.logs.lines()
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (500, "service_account_invalid"), answer.text
    assert "not a service-account key" in error["message"]
    assert not [text for text in [answer.text, *logs] if "adc-secret-123" in text]
    assert upstream.received == []  # nothing was sent without a token


async def test_a_token_endpoint_that_refuses_is_a_clear_error(tmp_path: Path, tokens: TokenEndpoint,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    tokens.failure = (400, b'{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}')
    monkeypatch.setenv("VERTEX_SA", ACCOUNT.json(tokens.url))
    async with replay_upstream([]) as upstream:
        config = {"providers": {"vx": vertex(upstream.rebase(BASE), "env:VERTEX_SA")}}
        with run_gateway(tmp_path, config) as gateway:
            answer = await ask(gateway, "vx/gemini-2.0-flash")
            never_shown(gateway, answer.text)
    error = answer.json()["error"]
    assert (answer.status_code, error["code"]) == (502, "token_exchange_failed"), answer.text
    assert error["message"].endswith("refused the service account: invalid_grant: Invalid JWT Signature. (HTTP 400)")
    assert upstream.received == []
