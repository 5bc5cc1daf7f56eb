"""The SSE reader: whole reads split in one go must give exactly the events the line parser gives."""

from __future__ import annotations

import pytest

from api_connector.wire.sse import SSEParser, data_payloads, frames
from tests.recorded import RECORDED, load_cassette


def parsed(buffer: bytes) -> list[tuple[bytes, str | None, str | None]]:
    parser = SSEParser()
    return [(event.raw, event.event, event.id) for event in parser.feed(buffer)]


@pytest.mark.parametrize(
    "buffer",
    [
        b'data: {"a":1}\n\n',
        b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n',
        b"data: \n\n",  # an empty payload is still an event
        b"data:  two spaces\n\n",  # only the first space belongs to the syntax
        b"data: data: nested\n\n",
    ],
)
def test_whole_data_events_split_as_the_parser_reads_them(buffer: bytes) -> None:
    payloads = data_payloads(buffer)
    assert payloads is not None
    assert [(p, None, None) for p in payloads] == parsed(buffer)


@pytest.mark.parametrize(
    "buffer",
    [
        b"",
        b'data: {"a":1}\n',  # the blank line has not arrived yet
        b'data: {"a":1}\n\ndata: {"b":2}\n',
        b'data: {"a":1}\r\n\r\n',
        b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\n',
        b'data:{"a":1}\n\n',  # no space: the parser's slower branch
        b'data: {"a":1}\n\ndata:{"b":2}\n\n',
        b'event: ping\ndata: {"a":1}\n\n',
        b'data: {"a":1}\n\nevent: ping\ndata: {"b":2}\n\n',
        b'id: 7\ndata: {"a":1}\n\n',
        b'data: {"a":1}\nid: 7\n\n',
        b": keep-alive\n\n",
        b'data: {"a":1}\n\n: keep-alive\n\n',
        b"data: one\ndata: two\n\n",  # several data lines make one payload joined by newlines
        b'data: {"a":1}\n\n\ndata: {"b":2}\n\n',
        b'data: {"a":1}\n\n\n\ndata: {"b":2}\n\n',
        b'\ndata: {"a":1}\n\n',
    ],
)
def test_anything_else_is_left_to_the_parser(buffer: bytes) -> None:
    assert data_payloads(buffer) is None


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("test_openai_moderation_stream.yaml", 0),
        ("test_run_stream_sync_streams_real_model.yaml", 0),
        ("test_run_stream_sync_streams_real_model.yaml", 1),
    ],
)
def test_recorded_openai_streams_split_whole_and_frame_back_to_the_same_bytes(name: str, index: int) -> None:
    body = load_cassette(RECORDED / "openai" / name)[index].response.body
    payloads = data_payloads(body)
    assert payloads is not None
    assert [(p, None, None) for p in payloads] == parsed(body)
    assert frames(payloads) == body


def test_parser_is_idle_only_between_events() -> None:
    parser = SSEParser()
    assert parser.idle
    for line, idle in [
        (b"event: ping\n", False),
        (b"\n", True),
        (b"id: 3\n", False),
        (b"\n", False),  # an id alone makes no event: it waits for the next one
        (b"data: x\n", False),
        (b"\n", True),
        (b": comment\n", True),
    ]:
        parser.feed_line(line)
        assert parser.idle is idle, line
