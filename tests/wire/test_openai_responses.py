"""The Responses API passed through: requests as sent, answers and events forwarded, usage read."""

from __future__ import annotations

import orjson
import pytest

from api_connector.core.responses import ResponsesRequest
from api_connector.core.usage import Usage
from api_connector.wire.openai_responses import (
    OPENAI_RESPONSES,
    ResponsesEventStream,
    event_frame,
    failure_frames,
    frame_payload,
)
from api_connector.wire.sse import SSEEvent
from tests.recorded import load_cassette, sse_events

STREAM = "openai/test_openai_instructions_with_responses_logprobs_streaming.yaml"


def test_the_request_goes_as_sent_with_the_upstream_model() -> None:
    raw = {"model": "openai-main/gpt-4o-mini", "input": "hi", "include": ["x"], "some_new_field": {"a": 1}}
    sent = orjson.loads(OPENAI_RESPONSES.encode_request(ResponsesRequest.from_json_obj(raw), "gpt-4o-mini"))
    assert sent == {**raw, "model": "gpt-4o-mini"}


def test_a_recorded_answer_is_kept_whole_and_its_usage_read() -> None:
    (recorded,) = load_cassette("openai/test_openai_instructions_with_responses_logprobs.yaml")
    result = OPENAI_RESPONSES.decode_response(recorded.response.body)
    assert result.body is recorded.response.body
    assert result.usage == Usage(25, 10, 0) and result.status == "completed"


def test_cached_tokens_are_read() -> None:
    body = orjson.dumps({"id": "resp_1", "output": [], "usage": {
        "input_tokens": 2006, "input_tokens_details": {"cached_tokens": 1920}, "output_tokens": 300,
    }})
    assert OPENAI_RESPONSES.decode_response(body).usage == Usage(2006, 300, 1920)


@pytest.mark.parametrize("body", [b"[]", b'{"error": {"message": "x"}}', b'{"id": "resp_1"}', b"not json"])
def test_what_is_not_a_response_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        OPENAI_RESPONSES.decode_response(body)


def test_a_recorded_stream_is_forwarded_event_by_event() -> None:
    (recorded,) = load_cassette(STREAM)
    stream = ResponsesEventStream()
    frames: list[bytes] = []
    upstream = sse_events(recorded.response.body)
    for event in upstream:
        frames += stream.feed(event)
    assert frames == [event_frame(event.event or "", event.raw) for event in upstream]
    assert stream.state.done and stream.state.error is None and stream.state.usage == Usage(25, 10, 0)


def test_events_without_their_event_line_are_read_from_their_type() -> None:
    stream = ResponsesEventStream()
    usage = {"input_tokens": 3, "output_tokens": 4}
    completed = orjson.dumps({"type": "response.completed", "response": {"id": "r", "output": [], "usage": usage}})
    delta = b'{"type":"response.output_text.delta","delta":"x"}'
    frames = stream.feed(SSEEvent(delta)) + stream.feed(SSEEvent(completed))
    assert frames[1].startswith(b"event: response.completed\n") and stream.state.done
    assert stream.state.usage == Usage(3, 4)


def test_an_incomplete_answer_ends_the_stream() -> None:
    stream = ResponsesEventStream()
    response = {"id": "r", "incomplete_details": {"reason": "max_output_tokens"}}
    payload = orjson.dumps({"type": "response.incomplete", "response": response})
    assert stream.feed(SSEEvent(payload, "response.incomplete"))
    assert stream.state.done and stream.state.finish_reason == "length"


@pytest.mark.parametrize(("kind", "payload", "code", "message"), [
    ("error", b'{"type":"error","code":"server_error","message":"boom","param":null,"sequence_number":3}',
     "server_error", "boom"),
    ("response.failed", b'{"type":"response.failed","sequence_number":5,"response":{"id":"r","status":"failed",'
     b'"error":{"code":"rate_limit_exceeded","message":"slow down"}}}', "rate_limit_exceeded", "slow down"),
])
def test_a_failure_in_the_stream_is_noted_not_forwarded(kind: str, payload: bytes, code: str, message: str) -> None:
    stream = ResponsesEventStream()
    assert stream.feed(SSEEvent(payload, kind)) == []
    error = stream.state.error
    assert error is not None and (error.code, error.message) == (code, message)


def test_a_stream_that_broke_ends_with_error_and_response_failed() -> None:
    (recorded,) = load_cassette(STREAM)
    events = sse_events(recorded.response.body)
    first, last = (event_frame(event.event or "", event.raw) for event in (events[0], events[4]))
    ending = failure_frames(first, last, "protocol_error", "upstream stream ended early", None)
    error_frame, failed_frame = ending.split(b"\n\n")[:2]
    error = orjson.loads(frame_payload(error_frame + b"\n\n"))
    failed = orjson.loads(frame_payload(failed_frame + b"\n\n"))
    assert error == {"type": "error", "sequence_number": 5, "code": "protocol_error",
                     "message": "upstream stream ended early", "param": None}
    created = orjson.loads(events[0].raw)["response"]
    assert failed["type"] == "response.failed" and failed["sequence_number"] == 6
    assert failed["response"] == {**created, "status": "failed",
                                  "error": {"code": "server_error", "message": "upstream stream ended early"}}
