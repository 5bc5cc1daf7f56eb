"""Translating chat wires carry what their vendor can take, refuse the rest naming the field, and drop
only what the provider's declaration lists: each wire as its provider declares it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from api_connector.core.capabilities import Capability
from api_connector.core.chat import ChatRequest
from api_connector.errors import UnsupportedParameter, ValidationFailed
from api_connector.providers import REGISTRY
from api_connector.wire.base import ChatWire

# provider type -> a model it serves
TRANSLATING = {
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "vertex": "gemini-2.5-flash",
    "cohere": "command-a-03-2025",
    "bedrock": "us.amazon.nova-micro-v1:0",
    "replicate": "meta/meta-llama-3-8b-instruct",
}
HELLO = [{"role": "user", "content": "Hello!"}]


def wire(provider: str) -> ChatWire:
    endpoint = REGISTRY[provider].endpoints[Capability.CHAT]
    assert endpoint.wire is not None
    return endpoint.wire  # type: ignore[return-value]


def encoded(provider: str, **fields: Any) -> dict[str, Any]:
    request = ChatRequest.from_json_obj({"model": "m", "messages": HELLO, **fields})
    body: dict[str, Any] = orjson.loads(wire(provider).encode_request(request, TRANSLATING[provider]))
    return body


def refused(provider: str, **fields: Any) -> UnsupportedParameter:
    with pytest.raises(UnsupportedParameter) as refusal:
        encoded(provider, **fields)
    assert refusal.value.status == 400 and refusal.value.code == "unsupported_parameter"
    return refusal.value


@pytest.mark.parametrize("provider", TRANSLATING)
@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
        ({"n": 3}, "n"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"store": True}, "store"),
        ({"service_tier": "scale"}, "service_tier"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"a_field_nobody_knows": 1}, "a_field_nobody_knows"),
    ],
)
def test_a_field_the_vendor_cannot_carry_is_refused_naming_it(
    provider: str, fields: dict[str, Any], param: str
) -> None:
    if provider in ("gemini", "vertex") and param == "n":
        pytest.skip("Gemini carries n (candidateCount)")
    if provider == "anthropic" and param == "parallel_tool_calls":
        pytest.skip("Anthropic carries it (disable_parallel_tool_use)")
    refusal = refused(provider, **fields)
    assert refusal.param == param and repr(param) in refusal.message


@pytest.mark.parametrize("provider", TRANSLATING)
def test_values_that_ask_for_what_the_vendor_does_anyway_are_accepted(provider: str) -> None:
    inert = {"n": 1, "logprobs": False, "parallel_tool_calls": True, "store": False, "service_tier": "auto",
             "presence_penalty": 0, "frequency_penalty": 0.0, "response_format": {"type": "text"}, "seed": None}
    body = encoded(provider, **inert)
    assert "logprobs" not in body and "store" not in body


def test_true_is_not_one() -> None:
    """JSON's true is not the number 1, though Python's True == 1."""
    assert refused("anthropic", n=True).param == "n"


@pytest.mark.parametrize("provider", ["gemini", "vertex", "cohere", "bedrock", "replicate"])
def test_the_end_users_id_is_dropped_where_the_declaration_says_so(provider: str) -> None:
    assert b"end-user-7" not in orjson.dumps(encoded(provider, user="end-user-7"))
    # The same wire without the declaration refuses it.
    undeclared = type(wire(provider))()  # type: ignore[call-arg]
    request = ChatRequest.from_json_obj({"model": "m", "messages": HELLO, "user": "end-user-7"})
    with pytest.raises(UnsupportedParameter) as refusal:
        undeclared.encode_request(request, TRANSLATING[provider])
    assert refusal.value.param == "user"


# -- Anthropic -----------------------------------------------------------------------------------------


def test_anthropic_carries_metadata_service_tier_effort_and_structured_output() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    body = encoded(
        "anthropic", metadata={"user_id": "u-1"}, service_tier="default", reasoning_effort="medium",
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema, "strict": True}},
        top_k=5, thinking={"type": "enabled", "budget_tokens": 2048},
    )
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["service_tier"] == "standard_only"
    assert body["output_config"] == {"effort": "medium", "format": {"type": "json_schema", "schema": schema}}
    assert (body["top_k"], body["thinking"]) == (5, {"type": "enabled", "budget_tokens": 2048})
    assert encoded("anthropic", user="u-2")["metadata"] == {"user_id": "u-2"}
    assert encoded("anthropic", service_tier="auto")["service_tier"] == "auto"
    # The caller's own output_config keeps its entries beside the mapped ones.
    merged = encoded("anthropic", reasoning_effort="low", output_config={"task_budget": 10})["output_config"]
    assert merged == {"task_budget": 10, "effort": "low"}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"metadata": {"user_id": "u", "team": "a"}}, "metadata.team"),
        ({"reasoning_effort": "minimal"}, "reasoning_effort"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"seed": 1}, "seed"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
    ],
)
def test_what_anthropic_cannot_carry(fields: dict[str, Any], param: str) -> None:
    assert refused("anthropic", **fields).param == param


# -- Gemini, Bedrock, Cohere, Replicate ----------------------------------------------------------------


def test_gemini_carries_effort_as_googles_thinking_budgets_and_its_own_fields() -> None:
    body = encoded("gemini", reasoning_effort="low", seed=3, top_k=4, presence_penalty=0.5,
                   safetySettings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
                   generationConfig={"responseModalities": ["TEXT"]})
    config = body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": 1024}
    assert (config["seed"], config["topK"], config["presencePenalty"]) == (3, 4, 0.5)
    assert config["responseModalities"] == ["TEXT"]
    assert body["safetySettings"][0]["threshold"] == "BLOCK_NONE"
    assert encoded("gemini", reasoning_effort="none")["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert refused("gemini", reasoning_effort="extreme").param == "reasoning_effort"
    assert refused("gemini", metadata={"a": "b"}).param == "metadata"


def test_bedrock_carries_metadata_as_request_metadata_and_its_own_fields() -> None:
    body = encoded("bedrock", metadata={"team": "search"},
                   additionalModelRequestFields={"top_k": 20}, performanceConfig={"latency": "optimized"})
    assert body["requestMetadata"] == {"team": "search"}
    assert body["additionalModelRequestFields"] == {"top_k": 20}
    assert body["performanceConfig"] == {"latency": "optimized"}
    refusal = refused("bedrock", top_k=20)
    assert refusal.param == "top_k" and "additionalModelRequestFields" in refusal.message
    assert refused("bedrock", seed=1).param == "seed"


def test_cohere_carries_seed_penalties_and_its_own_fields() -> None:
    body = encoded("cohere", seed=9, frequency_penalty=0.1, k=40, safety_mode="OFF")
    assert (body["seed"], body["frequency_penalty"], body["k"], body["safety_mode"]) == (9, 0.1, 40, "OFF")
    refusal = refused("cohere", reasoning_effort="high")
    assert refusal.param == "reasoning_effort" and "thinking" in refusal.message


def test_replicate_carries_the_models_inputs() -> None:
    body = encoded("replicate", seed=5, top_k=50, input={"length_penalty": 1.2})
    assert body["input"]["seed"] == 5 and body["input"]["top_k"] == 50 and body["input"]["length_penalty"] == 1.2
    assert refused("replicate", metadata={"a": "b"}).param == "metadata"


def test_a_refusal_is_a_validation_error_for_routing() -> None:
    """Routing passes a target over on any request error; the refusal is one."""
    assert issubclass(UnsupportedParameter, ValidationFailed)
