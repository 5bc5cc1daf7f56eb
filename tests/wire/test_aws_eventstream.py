"""The AWS event-stream decoder against recorded ConverseStream bodies and botocore's own parser.

botocore's ``EventStreamBuffer`` is the reference: the gateway's decoder must give the same messages
(headers and payloads) wherever the bytes are cut, refuse a corrupted CRC, and read every header type.
"""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from api_connector.wire.aws_eventstream import (
    EventStreamDecoder,
    EventStreamError,
    Message,
    encode_event,
    encode_exception,
    encode_message,
)
from tests.recorded import RECORDED, load_cassette

STREAMS = RECORDED / "bedrock" / "pydantic-ai"


def _recorded(name: str, index: int = 0) -> bytes:
    response = load_cassette(STREAMS / name)[index].response
    assert response.is_event_stream
    return response.body


def _botocore(body: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return [(message.headers, message.payload) for message in buffer]


def _ours(messages: list[Message]) -> list[tuple[dict[str, object], bytes]]:
    return [(dict(message.headers), message.payload) for message in messages]


@pytest.mark.parametrize("name", [
    "test_bedrock_model_stream.yaml",
    "test_bedrock_model_code_execution_tool_stream.yaml",
    "test_bedrock_model_thinking_part_redacted_stream.yaml",
])
def test_recorded_streams_decode_as_botocore_decodes_them(name: str) -> None:
    body = _recorded(name)
    decoder = EventStreamDecoder()
    assert _ours(decoder.feed(body)) == _botocore(body)
    assert decoder.pending == 0


def test_every_cut_position_of_a_recorded_stream_gives_the_same_messages() -> None:
    body = _recorded("test_bedrock_model_stream_empty_text_delta.yaml")
    expected = _botocore(body)
    assert len(expected) == 10
    ends, at = [], 0
    while at < len(body):
        at += struct.unpack_from(">I", body, at)[0]
        ends.append(at)
    for cut in range(len(body) + 1):
        decoder = EventStreamDecoder()
        first = decoder.feed(body[:cut])
        # Each message is given once its last byte has arrived, not before.
        assert len(first) == sum(end <= cut for end in ends)
        assert decoder.pending == cut - max([0, *(end for end in ends if end <= cut)])
        rest = decoder.feed(body[cut:])
        assert _ours(first + rest) == expected, f"cut at {cut}"
        assert decoder.pending == 0


def test_a_stream_fed_byte_by_byte_and_in_three_pieces() -> None:
    body = _recorded("test_bedrock_model_stream.yaml")
    expected = _botocore(body)
    decoder = EventStreamDecoder()
    assert _ours([m for i in range(len(body)) for m in decoder.feed(body[i : i + 1])]) == expected
    third = len(body) // 3
    for a in range(0, third, 97):
        for b in range(third, len(body), 389):
            decoder = EventStreamDecoder()
            messages = decoder.feed(body[:a]) + decoder.feed(body[a:b]) + decoder.feed(body[b:])
            assert _ours(messages) == expected


def test_an_unfinished_message_is_held_back() -> None:
    body = _recorded("test_bedrock_model_stream.yaml")
    decoder = EventStreamDecoder()
    messages = decoder.feed(body[:-1])
    assert decoder.pending > 0
    assert len(messages) == len(_botocore(body)) - 1
    assert len(decoder.feed(body[-1:])) == 1 and decoder.pending == 0


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@pytest.mark.parametrize("position", [0, 3, 5, 8, 11])
def test_a_corrupted_prelude_is_refused(position: int) -> None:
    body = _recorded("test_bedrock_model_stream.yaml")
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(_flip(body, position))


@pytest.mark.parametrize("where", ["header", "payload", "message crc"])
def test_a_corrupted_message_is_refused(where: str) -> None:
    body = _recorded("test_bedrock_model_stream.yaml")
    (total,) = struct.unpack_from(">I", body)
    position = {"header": 14, "payload": total - 10, "message crc": total - 1}[where]
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match="message CRC"):
        decoder.feed(_flip(body, position))


def test_a_corrupted_second_message_is_refused_after_the_first_was_given() -> None:
    body = _recorded("test_bedrock_model_stream.yaml")
    (total,) = struct.unpack_from(">I", body)
    decoder = EventStreamDecoder()
    assert len(decoder.feed(body[:total])) == 1
    with pytest.raises(EventStreamError):
        decoder.feed(_flip(body[total:], 20))


def _with_prelude(total: int, headers_length: int) -> bytes:
    prelude = struct.pack(">II", total, headers_length)
    return prelude + struct.pack(">I", zlib.crc32(prelude))


@pytest.mark.parametrize(("total", "headers_length"), [(15, 0), (16, 1), (17 * 1024 * 1024, 0), (200_000, 140_000)])
def test_impossible_lengths_are_refused_before_waiting_for_them(total: int, headers_length: int) -> None:
    with pytest.raises(EventStreamError, match="impossible length"):
        EventStreamDecoder().feed(_with_prelude(total, headers_length))


def _header(name: str, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name.encode() + bytes([kind]) + value


def test_every_header_type_is_read_as_botocore_reads_it() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = b"".join([
        _header("t", 0, b""),
        _header("f", 1, b""),
        _header("byte", 2, struct.pack(">b", -3)),
        _header("short", 3, struct.pack(">h", -300)),
        _header("int", 4, struct.pack(">i", 70000)),
        _header("long", 5, struct.pack(">q", -(2**40))),
        _header("bytes", 6, struct.pack(">H", 3) + b"\x00\x01\x02"),
        _header("string", 7, struct.pack(">H", 5) + "héll".encode()),
        _header("time", 8, struct.pack(">q", 1_700_000_000_000)),
        _header("uuid", 9, ident.bytes),
    ])
    payload = b'{"x":1}'
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    message += struct.pack(">I", zlib.crc32(message))
    (decoded,) = EventStreamDecoder().feed(message)
    assert decoded.payload == payload
    assert dict(decoded.headers) == {
        "t": True, "f": False, "byte": -3, "short": -300, "int": 70000, "long": -(2**40),
        "bytes": b"\x00\x01\x02", "string": "héll", "time": 1_700_000_000_000, "uuid": ident,
    }
    ((theirs, _),) = _botocore(message)
    assert theirs["string"] == "héll" and theirs["bytes"] == b"\x00\x01\x02" and theirs["int"] == 70000


def test_an_unknown_header_type_is_refused() -> None:
    headers = _header("odd", 12, b"")
    prelude = struct.pack(">II", 16 + len(headers), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers
    message += struct.pack(">I", zlib.crc32(message))
    with pytest.raises(EventStreamError, match="unknown type"):
        EventStreamDecoder().feed(message)


def test_encoded_messages_are_read_back_by_botocore() -> None:
    body = encode_event("contentBlockDelta", b'{"delta":{"text":"Hi"}}') + encode_exception(
        "throttlingException", b'{"message":"slow down"}'
    ) + encode_message({"flag": True, "raw": b"\x01"}, b"")
    assert _botocore(body) == [
        ({":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"},
         b'{"delta":{"text":"Hi"}}'),
        ({":exception-type": "throttlingException", ":content-type": "application/json",
          ":message-type": "exception"}, b'{"message":"slow down"}'),
        ({"flag": True, "raw": b"\x01"}, b""),
    ]
    messages = EventStreamDecoder().feed(body)
    assert [m.message_type for m in messages] == ["event", "exception", "event"]
    assert messages[1].header(":exception-type") == "throttlingException"
