"""The official ``anthropic`` SDK against the running gateway's Anthropic Messages API, through the
built-in sandbox (an OpenAI-shaped upstream answering in process): JSON and streamed messages, tools,
images, token counts, keys, and every kind of error in Anthropic's shape.

Replayed Anthropic and OpenAI upstreams are in ``test_anthropic_ingress_upstreams.py``.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest
from tests.anthropic_shapes import blocks, collapsed, parse
from tests.gateway import RunningGateway
from tests.recorded import RECORDED, load_stream

from api_connector.api.anthropic_errors import anthropic_error_type
from api_connector.errors import (
    AllTargetsFailed,
    BudgetExceeded,
    CircuitOpen,
    ConnectorError,
    InvalidAPIKey,
    LimitExceeded,
    MethodNotAllowed,
    Overloaded,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    UnknownModel,
    UpstreamServerError,
    UpstreamTimeout,
    ValidationFailed,
)

MODEL = "sandbox/sandbox-chat"
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def client(gateway: RunningGateway, **options: Any) -> anthropic.Anthropic:
    options.setdefault("api_key", gateway.admin_key)
    return anthropic.Anthropic(base_url=gateway.base_url, max_retries=0, **options)


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def post(gateway: RunningGateway, path: str, body: Any, **headers: str) -> httpx.Response:
    sent = {"x-api-key": gateway.admin_key, "anthropic-version": "2023-06-01", **headers}
    return httpx.post(gateway.base_url + path, json=body, headers=sent, timeout=30)


# -- answers ---------------------------------------------------------------------------------------


def test_a_message_with_a_system_prompt(gateway: RunningGateway) -> None:
    raw = client(gateway).messages.with_raw_response.create(
        model=MODEL, max_tokens=100, system="Be brief.", messages=[user("hello there")]
    )
    message = raw.parse()
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [
        ("text", "sandbox echo: hello there")
    ]
    assert (message.type, message.role, message.model, message.stop_reason) == (
        "message", "assistant", "sandbox-chat", "end_turn")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message._request_id == raw.headers["x-request-id"]


def test_tools_a_tool_use_then_its_result(gateway: RunningGateway) -> None:
    sdk = client(gateway)
    first = sdk.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER], tool_choice={"type": "any"},  # type: ignore[list-item]
        messages=[user("What is the weather in Paris?")],
    )
    (call,) = first.content
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "sandbox"}
    assert first.stop_reason == "tool_use"
    second = sdk.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
        messages=[
            user("What is the weather in Paris?"),
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            user([{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]),
        ],
    )
    assert [getattr(block, "text", None) for block in second.content] == ["tool result: sunny, 21C"]


def test_an_image_with_text(gateway: RunningGateway) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    message = client(gateway).messages.create(
        model=MODEL, max_tokens=100, messages=[user([{"type": "text", "text": "What is this?"}, image])],
    )
    assert [getattr(block, "text", None) for block in message.content] == ["sandbox echo: What is this?"]


def test_a_streamed_message_and_its_events(gateway: RunningGateway) -> None:
    with client(gateway).messages.stream(
        model=MODEL, max_tokens=100, messages=[user("stream these words please")]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "sandbox echo: stream these words please"
    assert blocks(final) == [{"type": "text", "text": text}]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    answer = post(gateway, "/v1/messages", {"model": MODEL, "max_tokens": 100, "stream": True,
                                           "messages": [user("stream these words please")]})
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["request-id"] == answer.headers["x-request-id"]
    recorded = parse(load_stream(RECORDED / "anthropic/sdk_streams/basic_response.txt"))
    assert collapsed(parse(answer.content)) == collapsed(recorded)


def test_a_streamed_tool_use(gateway: RunningGateway) -> None:
    with client(gateway).messages.stream(
        model=MODEL, max_tokens=100, tools=[WEATHER], messages=[user("call get_weather for Oslo")],  # type: ignore[list-item]
    ) as stream:
        final = stream.get_final_message()
    (call,) = blocks(final)
    assert (call["type"], call["name"], call["input"]) == ("tool_use", "get_weather", {"city": "sandbox"})
    assert final.stop_reason == "tool_use"


def test_bearer_keys_and_any_anthropic_headers_work(gateway: RunningGateway) -> None:
    sdk = anthropic.Anthropic(base_url=gateway.base_url, auth_token=gateway.admin_key, max_retries=0)
    message = sdk.messages.create(
        model=MODEL, max_tokens=10, messages=[user("hi")],
        extra_headers={"anthropic-version": "2023-06-01", "anthropic-beta": "token-efficient-tools-2025-02-19"},
    )
    assert message.content[0].type == "text"


# -- token counts ----------------------------------------------------------------------------------


def test_token_counts_for_a_target_that_cannot_count_are_the_gateways_estimate(gateway: RunningGateway) -> None:
    raw = client(gateway).messages.with_raw_response.count_tokens(
        model=MODEL, system="Be brief.", messages=[user("x" * 400)], tools=[WEATHER],  # type: ignore[list-item]
    )
    assert raw.headers["x-token-count-source"] == "estimate"
    without_tools = client(gateway).messages.count_tokens(model=MODEL, system="Be brief.", messages=[user("x" * 400)])
    # About four characters a token, per-message overhead, and the tool definitions.
    assert without_tools.input_tokens == (9 + 3) // 4 + 100 + 2 * 4 + 3
    assert raw.parse().input_tokens > without_tools.input_tokens


def test_token_counts_need_a_known_model(gateway: RunningGateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client(gateway).messages.count_tokens(model="no-such-route", messages=[user("hi")])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


# -- errors ----------------------------------------------------------------------------------------


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert body["type"] == "error" and body["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(("body", "message", "param"), [
    ({"model": MODEL, "messages": [user("hi")]}, "max_tokens: Field required", "max_tokens"),
    ({"model": MODEL, "max_tokens": 5, "temperature": 1.5, "messages": [user("hi")]},
     "temperature: Input should be less than or equal to 1", "temperature"),
    ({"model": MODEL, "max_tokens": 5, "messages": [user("hi")], "tools": [{"type": "bash_20250124", "name": "bash"}]},
     None, "tools.0.type"),
    ({"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "hi"}]}, None, "messages.0.role"),
])
def test_invalid_requests_are_invalid_request_errors(
    gateway: RunningGateway, body: dict[str, Any], message: str | None, param: str
) -> None:
    answer = post(gateway, "/v1/messages", body)
    assert answer.status_code == 400
    error = _error(answer)
    assert error["type"] == "invalid_request_error" and error["details"]["param"] == param
    assert message is None or error["message"] == message
    with pytest.raises(anthropic.BadRequestError):  # the SDK's own exception (sent as is, past its checks)
        client(gateway).post("/v1/messages", body=body, cast_to=anthropic.types.Message)


def test_a_body_that_is_not_json(gateway: RunningGateway) -> None:
    answer = httpx.post(gateway.base_url + "/v1/messages", content=b"{not json",
                        headers={"x-api-key": gateway.admin_key}, timeout=30)
    assert answer.status_code == 400
    error = _error(answer)
    assert (error["type"], error["details"]["error_code"]) == ("invalid_request_error", "invalid_json")


def test_keys_are_checked_as_anthropic_checks_them(gateway: RunningGateway) -> None:
    with pytest.raises(anthropic.AuthenticationError) as wrong:
        client(gateway, api_key="ack_wrong").messages.create(model=MODEL, max_tokens=5, messages=[user("hi")])
    assert wrong.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    missing = httpx.post(gateway.base_url + "/v1/messages", json={}, timeout=30)
    assert missing.status_code == 401
    assert _error(missing)["type"] == "authentication_error"


def test_a_rate_limit_keeps_its_retry_after(gateway: RunningGateway) -> None:
    with pytest.raises(anthropic.RateLimitError) as limited:
        client(gateway).messages.create(
            model=MODEL, max_tokens=5, messages=[user("hi")],
            extra_headers={"x-sandbox-status": "429", "x-sandbox-retry-after": "3"},
        )
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


@pytest.mark.parametrize(("status", "kind"), [("500", "api_error"), ("503", "overloaded_error")])
def test_upstream_failures_are_api_or_overloaded_errors(gateway: RunningGateway, status: str, kind: str) -> None:
    with pytest.raises(anthropic.InternalServerError) as failed:
        client(gateway).messages.create(
            model=MODEL, max_tokens=5, messages=[user("hi")], extra_headers={"x-sandbox-status": status},
        )
    assert failed.value.status_code == 502
    error = failed.value.body["error"]  # type: ignore[index]
    assert error["type"] == kind and error["details"]["provider"] == "sandbox"


def test_a_stream_that_breaks_after_its_first_events_ends_with_an_error_event(gateway: RunningGateway) -> None:
    body = {"model": MODEL, "max_tokens": 100, "stream": True, "messages": [user("one two three four five six")]}
    answer = post(gateway, "/v1/messages", body, **{"x-sandbox-fault": "truncate"})
    assert answer.status_code == 200
    events = parse(answer.content)
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "error"
    assert "message_stop" not in [event["type"] for event in events]
    assert events[-1]["error"]["type"] == "api_error"
    sdk = client(gateway).messages
    arguments = {key: value for key, value in body.items() if key != "stream"}
    with pytest.raises(anthropic.APIStatusError) as broken, sdk.stream(
        **arguments, extra_headers={"x-sandbox-fault": "truncate"}
    ) as stream:
        for _ in stream:
            pass
    assert broken.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_unknown_models_and_paths_answer_in_anthropics_shape(gateway: RunningGateway) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client(gateway).messages.create(model="nope", max_tokens=5, messages=[user("hi")])
    assert missing.value.body["error"]["details"]["error_code"] == "model_not_found"  # type: ignore[index]
    batches = post(gateway, "/v1/messages/batches", {})
    assert batches.status_code == 404 and _error(batches)["type"] == "not_found_error"
    wrong_method = httpx.get(gateway.base_url + "/v1/messages", headers={"x-api-key": gateway.admin_key}, timeout=30)
    assert wrong_method.status_code == 405 and _error(wrong_method)["type"] == "invalid_request_error"


def test_the_openai_routes_keep_their_own_error_shape(gateway: RunningGateway) -> None:
    answer = httpx.post(gateway.v1 + "/chat/completions", json={"model": "nope", "messages": [user("x")]},
                        headers=gateway.headers(), timeout=30)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(("error", "kind"), [
    (ValidationFailed("x"), "invalid_request_error"),
    (MethodNotAllowed("x"), "invalid_request_error"),
    (InvalidAPIKey("x"), "authentication_error"),
    (BudgetExceeded("x"), "billing_error"),
    (PermissionDenied("x"), "permission_error"),
    (UnknownModel("x"), "not_found_error"),
    (PayloadTooLarge("x"), "request_too_large"),
    (LimitExceeded("x", retry_after=1), "rate_limit_error"),
    (RateLimited("x", upstream_status=429), "rate_limit_error"),
    (UpstreamTimeout("x"), "timeout_error"),
    (Overloaded("x"), "overloaded_error"),
    (UpstreamServerError("x", upstream_status=529), "overloaded_error"),
    (UpstreamServerError("x", details={"upstream_type": "overloaded_error"}), "overloaded_error"),
    (UpstreamServerError("x", upstream_status=500), "api_error"),
    (AllTargetsFailed([UpstreamServerError("x", upstream_status=529)]), "overloaded_error"),
    (AllTargetsFailed([RateLimited("x", upstream_status=429)]), "rate_limit_error"),
    (CircuitOpen("x"), "api_error"),
    (ConnectorError("x"), "api_error"),
])
def test_every_error_has_its_anthropic_type(error: ConnectorError, kind: str) -> None:
    assert anthropic_error_type(error) == kind


def test_error_details_say_what_the_gateway_knows() -> None:
    from api_connector.api.anthropic_errors import anthropic_error_body
    from api_connector.observability.redaction import Redactor

    redactor = Redactor()
    redactor.add("sk-secret-value-123456")
    error = UpstreamServerError("upstream said sk-secret-value-123456", provider="p", upstream_status=529,
                                details={"upstream_type": "overloaded_error"})
    body = anthropic_error_body(error, redactor, "req-1")
    assert body["request_id"] == "req-1" and "sk-secret-value-123456" not in json.dumps(body)
    assert body["error"]["details"] == {"error_code": "upstream_error", "provider": "p",
                                        "upstream_type": "overloaded_error"}
