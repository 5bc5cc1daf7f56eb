"""Pass-through fidelity on translating wires, through the running gateway with the ``openai`` SDK.

A field a translating vendor cannot carry is answered 400 ``unsupported_parameter`` naming it, and
nothing reaches the vendor; a field the provider's declaration drops is sent without it; a route with an
OpenAI-shaped target after the translating one passes the request on to the target that can carry it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from tests.recorded import RECORDED, load_cassette
from tests.replayed_gateway import replayed_gateway

# instance name -> (provider type, the vendor's real base URL, a model it serves)
TRANSLATING = {
    "anthropic-main": ("anthropic", "https://api.anthropic.com", "claude-haiku-4-5"),
    "gemini-main": ("gemini", "https://generativelanguage.googleapis.com/v1beta", "gemini-2.5-flash"),
    "cohere-main": ("cohere", "https://api.cohere.com", "command-a-03-2025"),
    "bedrock-main": ("bedrock", "https://bedrock-runtime.us-east-1.amazonaws.com", "us.amazon.nova-micro-v1:0"),
    "replicate-main": ("replicate", "https://api.replicate.com/v1", "meta/meta-llama-3-8b-instruct"),
}
# Bedrock signs with a key pair; the others send the same JSON text as their key (never checked here).
KEY_PAIR = orjson.dumps({"access_key_id": "AKIDFIDELITY", "secret_access_key": "fidelity-secret"}).decode()
HELLO = [{"role": "system", "content": "You are a chatbot."}, {"role": "user", "content": "Hello!"}]


def instances() -> dict[str, tuple[str, str]]:
    return {name: (kind, url) for name, (kind, url, _) in TRANSLATING.items()}


def sdk(base_url: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ({"service_tier": "priority"}, "service_tier"),
        ({"extra_body": {"vendor_knob": 1}}, "vendor_knob"),
    ],
)
async def test_a_field_no_translating_vendor_can_carry_is_refused_before_any_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], param: str
) -> None:
    async with replayed_gateway(tmp_path, monkeypatch, instances(), [], credential=KEY_PAIR) as run:
        async with sdk(run.gateway.base_url, run.gateway.admin_key) as client:
            for name, (_, _, model) in TRANSLATING.items():
                with pytest.raises(openai.BadRequestError) as refused:
                    await client.chat.completions.create(model=f"{name}/{model}", messages=HELLO, **fields)
                error = refused.value.body
                assert isinstance(error, dict), name
                assert (error["code"], error["param"]) == ("unsupported_parameter", param), name
                assert repr(param) in error["message"], name
        assert run.upstream.received == []


async def test_a_field_the_declaration_drops_is_sent_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google keeps no end user's id: its declaration drops ``user``; the recorded answer comes back."""
    interactions = load_cassette(RECORDED / "google/pydantic-ai/test_google_model.yaml")
    async with replayed_gateway(tmp_path, monkeypatch, instances(), interactions) as run:
        async with sdk(run.gateway.base_url, run.gateway.admin_key) as client:
            answer = await client.chat.completions.create(
                model="gemini-main/gemini-2.5-flash", messages=HELLO, user="end-user-7", seed=11,
            )
        assert answer.choices[0].message.content == "Hello! How can I help you today?"
        (received,) = run.upstream.received
    assert b"end-user-7" not in received.raw
    assert received.body["generationConfig"]["seed"] == 11  # what Gemini can carry, it does


async def test_a_route_passes_the_request_to_the_target_that_can_carry_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anthropic first, OpenAI second: ``logprobs`` goes to OpenAI, whole, and Anthropic gets nothing."""
    interactions = load_cassette(RECORDED / "openai/test_openai_model_without_system_prompt.yaml")
    targets = [{"provider": "anthropic-main", "model": "claude-haiku-4-5"},
               {"provider": "openai-main", "model": "o3-mini"}]
    both = {"anthropic-main": ("anthropic", "https://api.anthropic.com"),
            "openai-main": ("openai", "https://api.openai.com/v1")}
    routes = {"chat": {"strategy": "priority", "targets": targets}}
    async with replayed_gateway(tmp_path, monkeypatch, both, interactions, routes=routes) as run:
        async with sdk(run.gateway.base_url, run.gateway.admin_key) as client:
            answer = await client.chat.completions.create(model="chat", messages=HELLO, logprobs=True, top_logprobs=2)
        assert answer.choices[0].message.content is not None
        (received,) = run.upstream.received
    assert received.path == "/v1/chat/completions"
    assert (received.body["logprobs"], received.body["top_logprobs"]) == (True, 2)
