"""Streamed chat answers read from upstream reads: however a stream is cut into reads, the caller gets
the payloads, usage and end that reading it one line at a time gives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from tests.recorded import RECORDED, load_cassette

from api_connector.core.chat import ChatRequest
from api_connector.errors import UpstreamError
from api_connector.providers import REGISTRY
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.routing.streams import StreamReader, first_payloads
from api_connector.transport.http import Timeouts, UpstreamStream
from api_connector.wire.anthropic_messages import ANTHROPIC_MESSAGES
from api_connector.wire.base import ChatStreamTranslator, StreamState, VendorError
from api_connector.wire.openai_chat import OPENAI_CHAT
from api_connector.wire.sse import SSEEvent, SSEParser

TARGET = Target(ProviderInstance("upstream", REGISTRY["openai"], "http://127.0.0.1:1", None, Timeouts()), "m")


def _request(include_usage: bool) -> ChatRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    return ChatRequest.from_json_obj({**body, "stream_options": {"include_usage": include_usage}})


def _recorded(folder: str, name: str, index: int = 0) -> bytes:
    return load_cassette(RECORDED / folder / name)[index].response.body


def _compact_stream() -> bytes:
    """Chunks as OpenAI-compatible vendors write them without padding: most end the same way."""

    def chunk(choices: list[Any], usage: Any = None) -> bytes:
        body = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices}
        return b"data: " + orjson.dumps({**body, "usage": usage}) + b"\n\n"

    def delta(content: str, finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": {"content": content}, "logprobs": None, "finish_reason": finish}

    words = [chunk([delta(word)]) for word in ["London", " is", " the", " capital", "."]]
    usage = {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}
    return b"".join([*words, chunk([delta("", "stop")]), chunk([], usage), b"data: [DONE]\n\n"])


def _mixed_endings() -> bytes:
    body = _compact_stream()
    half = body.index(b"\n\n", len(body) // 2) + 2
    return body[:half] + body[half:].replace(b"\n", b"\r\n")


STREAMS = {
    "openai-moderation": (OPENAI_CHAT, _recorded("openai", "test_openai_moderation_stream.yaml")),
    "openai-tools": (OPENAI_CHAT, _recorded("openai", "test_run_stream_sync_streams_real_model.yaml")),
    "openai-compact": (OPENAI_CHAT, _compact_stream()),
    "openai-crlf": (OPENAI_CHAT, _compact_stream().replace(b"\n", b"\r\n")),
    "openai-comments": (OPENAI_CHAT, _compact_stream().replace(b"\n\ndata: ", b"\n\n: ping\n\ndata: ")),
    # Whole data events, then ones with CRLF endings: the tail of a read is not always a partial line.
    "openai-mixed-endings": (OPENAI_CHAT, _mixed_endings()),
    "openai-unterminated": (OPENAI_CHAT, _compact_stream()[:-2]),  # the end marker without its blank line
    "openai-half-terminated": (OPENAI_CHAT, _compact_stream()[:-1]),
    "anthropic": (ANTHROPIC_MESSAGES, _recorded("anthropic", "test_anthropic_model_thinking_part_stream.yaml")),
}


def line_by_line(translator: ChatStreamTranslator, body: bytes) -> list[bytes]:
    """The reference: every line through the parser, every event through ``feed``."""
    parser = SSEParser()
    payloads: list[bytes] = []
    for line in body.splitlines(keepends=True):
        event = parser.feed_line(line)
        if event is not None:
            payloads += translator.feed(event)
    tail = parser.close()
    payloads += translator.feed(tail) if tail is not None else []
    return payloads + translator.finish()


async def _reads(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def through_reads(translator: ChatStreamTranslator, body: bytes, size: int) -> list[bytes]:
    """The stream as the router reads it, from an upstream that delivers ``size`` bytes per read."""
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, size)), translator)
    return [payload async for batch in stream.batches() for payload in batch]


def _comparable(name: str, payloads: list[bytes]) -> list[Any]:
    # Translated (not forwarded) chunks carry a creation time; the rest must match byte for byte.
    if not name.startswith("anthropic"):
        return payloads
    return [{**orjson.loads(p), "created": 0} for p in payloads]


@pytest.mark.parametrize("size", [1, 17, 300, 1 << 20])
@pytest.mark.parametrize("include_usage", [True, False])
@pytest.mark.parametrize("name", list(STREAMS))
async def test_any_cut_into_reads_gives_what_reading_line_by_line_gives(
    name: str, include_usage: bool, size: int
) -> None:
    wire, body = STREAMS[name]
    expected_translator = wire.stream_translator(_request(include_usage))
    expected = line_by_line(expected_translator, body)
    translator = wire.stream_translator(_request(include_usage))
    got = await through_reads(translator, body, size)
    assert _comparable(name, got) == _comparable(name, expected)
    assert translator.state == expected_translator.state
    assert translator.state.done and translator.state.usage.total_tokens > 0


def _refuse_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: SSEParser, raw: bytes | str) -> SSEEvent | None:
        raise AssertionError("a read of whole data events went through the line parser")

    monkeypatch.setattr(SSEParser, "feed_line", refuse)


def test_a_read_of_whole_data_events_skips_the_line_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _compact_stream()
    reader = StreamReader(OPENAI_CHAT.stream_translator(_request(include_usage=True)), "upstream")
    _refuse_lines(monkeypatch)
    cut = body.index(b"\n\n", 200) + 2 + 10  # the next event's first ten bytes come with this read
    first, failure = reader.read(body[:cut])
    rest, _ = reader.read(body[cut:])
    assert failure is None
    # Every chunk, as the bytes upstream sent; the end marker and the usage chunk are not payloads.
    assert first + rest == [line[6:-1] for line in body.splitlines(keepends=True)[:-2:2]]
    assert reader.translator.state.done


async def test_an_error_event_in_the_first_read_ends_the_stream_after_what_came_before() -> None:
    plain = _compact_stream().split(b"\n\n")[0] + b"\n\n"
    error = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    body = plain + error + plain + b"data: [DONE]\n\n"
    translator = OPENAI_CHAT.stream_translator(_request(include_usage=True))
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, len(body))), translator)
    received: list[bytes] = []
    with pytest.raises(UpstreamError) as caught:
        async for batch in stream.batches():
            received += batch
    assert received == [plain[6:-2]]
    assert caught.value.provider == "upstream"
    assert not translator.state.done


async def test_an_error_event_before_any_payload_can_still_fail_over() -> None:
    body = b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'
    translator = OPENAI_CHAT.stream_translator(_request(include_usage=True))
    with pytest.raises(UpstreamError):
        await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, len(body))), translator)


class _Recorder:
    """A translator without a whole-read entry point: it must get the same events one by one."""

    def __init__(self) -> None:
        self.state = StreamState()
        self.events: list[tuple[bytes, str | None, str | None]] = []

    def feed(self, event: SSEEvent) -> list[bytes]:
        self.events.append((event.raw, event.event, event.id))
        if event.raw == b"boom":
            self.state.error = VendorError(message="boom")
            return []
        self.state.done = event.raw == b"[DONE]"
        return [event.raw.upper()]

    def finish(self) -> list[bytes]:
        return []


@pytest.mark.parametrize(
    ("body", "events", "payloads", "failed"),
    [
        (b"data: a\n\ndata: b\n\n", [b"a", b"b"], [b"A", b"B"], False),
        (b"data: a\n\ndata: boom\n\ndata: c\n\n", [b"a", b"boom"], [b"A"], True),
    ],
)
def test_translators_without_a_whole_read_entry_get_each_event(
    monkeypatch: pytest.MonkeyPatch, body: bytes, events: list[bytes], payloads: list[bytes], failed: bool
) -> None:
    translator = _Recorder()
    _refuse_lines(monkeypatch)
    got, failure = StreamReader(translator, "upstream").read(body)
    assert translator.events == [(raw, None, None) for raw in events]
    assert got == payloads
    assert (failure is not None) == failed


def test_an_id_waiting_for_its_event_keeps_the_read_on_the_line_parser() -> None:
    translator = _Recorder()
    reader = StreamReader(translator, "upstream")
    reader.read(b"id: 7\n\n")
    reader.read(b"data: a\n\n")
    assert translator.events == [(b"a", None, "7")]


def test_a_line_cut_by_a_read_waits_for_its_end() -> None:
    translator = _Recorder()
    reader = StreamReader(translator, "upstream")
    assert reader.read(b"data: a\n\nda") == ([b"A"], None)
    assert reader.read(b"ta: b\n") == ([], None)
    assert reader.read(b"\ndata: [DO") == ([b"B"], None)
    assert reader.read(b"NE]") == ([], None)
    assert reader.end() == [b"[DONE]"]  # upstream ended before the blank line: the event still counts
    assert translator.events == [(b"a", None, None), (b"b", None, None), (b"[DONE]", None, None)]


@pytest.mark.parametrize("size", [1, 17, 300, 1 << 20])
@pytest.mark.parametrize("name", ["openai-compact", "openai-crlf", "anthropic"])
async def test_sse_gives_the_batches_framed(name: str, size: int) -> None:
    wire, body = STREAMS[name]
    expected = await through_reads(wire.stream_translator(_request(True)), body, size)
    translator = wire.stream_translator(_request(True))
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, size)), translator)
    written = b"".join([data async for data in stream.sse()])
    assert _comparable(name, [line[6:] for line in written.split(b"\n\n") if line]) == _comparable(name, expected)
    assert stream.complete and stream.error is None


async def test_a_stream_that_ends_early_keeps_what_came_and_the_break() -> None:
    body = _compact_stream().split(b"data: [DONE]")[0]
    translator = OPENAI_CHAT.stream_translator(_request(include_usage=True))
    stream = await first_payloads(TARGET, UpstreamStream(200, {}, _reads(body, 300)), translator)
    received: list[bytes] = []
    with pytest.raises(UpstreamError):
        async for batch in stream.batches():
            received += batch
    assert received == [line[6:-1] for line in body.splitlines(keepends=True)[::2]]
    assert stream.error is not None and not stream.complete
