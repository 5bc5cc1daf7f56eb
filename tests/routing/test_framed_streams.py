"""Chat streams in a framing of the vendor's own (AWS's binary event stream) through the stream machinery:
however the body is cut into reads, the caller gets the same payloads; a broken frame is a protocol error,
before the first payload (the router may fail over) or after it (the stream breaks)."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from tests.recorded import RECORDED, load_cassette

from api_connector.core.chat import ChatRequest
from api_connector.errors import RateLimited, UpstreamError, UpstreamProtocolError
from api_connector.providers import REGISTRY
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.routing.streams import FramedReader, StreamReader, first_payloads, stream_reader
from api_connector.transport.http import Timeouts, UpstreamStream
from api_connector.wire.aws_eventstream import encode_event, encode_exception
from api_connector.wire.bedrock_converse import BEDROCK_CONVERSE
from api_connector.wire.openai_chat import OPENAI_CHAT

TARGET = Target(ProviderInstance("upstream", REGISTRY["bedrock"], "http://127.0.0.1:1", None, Timeouts()), "m")
RECORDED_STREAM = load_cassette(RECORDED / "bedrock/pydantic-ai/test_bedrock_model_iter_stream.yaml")[0].response.body


def _request() -> ChatRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    return ChatRequest.from_json_obj({**body, "stream_options": {"include_usage": True}})


async def _reads(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _through(body: bytes, size: int) -> list[Any]:
    translator = BEDROCK_CONVERSE.stream_translator(_request())
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, size)), translator)
    payloads = [payload async for batch in stream.batches() for payload in batch]
    assert stream.complete and stream.finished
    return [_without_id(orjson.loads(payload)) for payload in payloads]


def _without_id(chunk: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in chunk.items() if key not in ("id", "created")}


def test_the_reader_follows_the_translators_framing() -> None:
    assert isinstance(stream_reader(BEDROCK_CONVERSE.stream_translator(_request()), "p"), FramedReader)
    assert isinstance(stream_reader(OPENAI_CHAT.stream_translator(_request()), "p"), StreamReader)


async def test_a_recorded_stream_read_in_any_cut_gives_the_same_payloads() -> None:
    whole = await _through(RECORDED_STREAM, len(RECORDED_STREAM))
    assert whole[-1]["usage"] == {"prompt_tokens": 471, "completion_tokens": 91, "total_tokens": 562}
    assert [c["choices"][0]["finish_reason"] for c in whole if c["choices"]][-1] == "tool_calls"
    for size in (1, 2, 7, 12, 13, 64, 250, 1000):
        assert await _through(RECORDED_STREAM, size) == whole, f"reads of {size} bytes"


def _corrupt(body: bytes, position: int) -> bytes:
    return body[:position] + bytes([body[position] ^ 0x40]) + body[position + 1 :]


async def test_a_corrupted_frame_before_any_payload_fails_the_attempt_as_a_protocol_error() -> None:
    translator = BEDROCK_CONVERSE.stream_translator(_request())
    body = _corrupt(RECORDED_STREAM, 30)  # inside the first message's headers
    with pytest.raises(UpstreamProtocolError) as failed:
        await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, 100)), translator)
    assert failed.value.code == "protocol_error" and failed.value.provider == "upstream"
    assert "CRC" in failed.value.message


async def test_a_corrupted_frame_after_payloads_breaks_the_stream_as_a_protocol_error() -> None:
    (first_total,) = struct.unpack_from(">I", RECORDED_STREAM)
    (second_total,) = struct.unpack_from(">I", RECORDED_STREAM, first_total)
    body = _corrupt(RECORDED_STREAM, first_total + second_total + 40)  # the third message
    translator = BEDROCK_CONVERSE.stream_translator(_request())
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, first_total)), translator)
    received: list[bytes] = []
    with pytest.raises(UpstreamProtocolError, match="message CRC"):
        async for batch in stream.batches():
            received += batch
    assert received and not stream.complete and isinstance(stream.error, UpstreamProtocolError)


async def test_a_stream_cut_inside_a_message_ends_as_a_protocol_error() -> None:
    body = RECORDED_STREAM[:-5]
    translator = BEDROCK_CONVERSE.stream_translator(_request())
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, 500)), translator)
    with pytest.raises(UpstreamProtocolError):
        async for _ in stream.batches():
            pass


async def test_an_exception_before_any_payload_is_the_attempts_classified_failure() -> None:
    body = encode_exception("throttlingException", b'{"message":"Too many tokens, please wait."}')
    translator = BEDROCK_CONVERSE.stream_translator(_request())
    with pytest.raises(UpstreamError) as failed:
        await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, 9)), translator)
    assert isinstance(failed.value, RateLimited) and failed.value.message == "Too many tokens, please wait."
    assert failed.value.details == {"upstream_type": "ThrottlingException", "upstream_code": None}


async def test_an_exception_after_payloads_comes_after_them() -> None:
    body = encode_event("messageStart", b'{"role":"assistant"}') + encode_event(
        "contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'
    ) + encode_exception("internalServerException", b'{"message":"Oops."}')
    translator = BEDROCK_CONVERSE.stream_translator(_request())
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, len(body))), translator)
    received: list[bytes] = []
    with pytest.raises(UpstreamError) as broke:
        async for batch in stream.batches():
            received += batch
    assert [orjson.loads(p)["choices"][0]["delta"] for p in received] == [
        {"role": "assistant", "content": ""}, {"content": "Hi"},
    ]
    assert broke.value.code == "upstream_error" and broke.value.upstream_status == 500
