"""Streamed chat answers: read until the first payload exists, then hand the rest to the caller.

Until the first payload reaches the client a failure is like any other and the router may fail over;
``first_payloads`` reads that far. After it, the stream is the client's: a break is raised from
``ChatStream.batches`` for the API layer to turn into a clean error event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from api_connector.errors import UpstreamError, UpstreamProtocolError
from api_connector.routing.catalog import Target
from api_connector.routing.classify import classify_vendor_error
from api_connector.transport.http import UpstreamStream
from api_connector.wire.base import ChatStreamTranslator
from api_connector.wire.sse import SSEParser


class ChatStream:
    """A streamed chat answer whose first payloads already arrived (so failover is over)."""

    def __init__(
        self,
        target: Target,
        upstream: UpstreamStream,
        translator: ChatStreamTranslator,
        parser: SSEParser,
        first: list[bytes],
        rest: AsyncIterator[list[bytes]],
        pending: UpstreamError | None = None,
    ) -> None:
        self.target = target
        self.translator = translator
        self.first = first
        self._pending = pending  # a failure that came in the same read as the first payloads
        self._upstream = upstream
        self._parser = parser
        self._rest = rest
        # Set by the router: ends this call's in-flight count when the stream is over.
        self.on_close: Callable[[], None] | None = None

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """OpenAI chunk payloads to the end, grouped by upstream read; raises UpstreamError on a break."""
        try:
            if self.first:
                yield self.first
            if self._pending is not None:
                raise self._pending
            async for lines in self._rest:
                payloads, failure = translate_lines(self._parser, self.translator, self.target, lines)
                if payloads:
                    yield payloads
                if failure is not None:
                    raise failure
            tail = self._parser.close()
            last = self.translator.feed(tail) if tail is not None else []
            last.extend(self.translator.finish())
            if last:
                yield last
            if not self.translator.state.done:
                raise UpstreamProtocolError("upstream stream ended early", provider=self.target.instance.name)
        finally:
            self.close()

    def close(self) -> None:
        self._upstream.close()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()


def translate_lines(
    parser: SSEParser, translator: ChatStreamTranslator, target: Target, lines: list[bytes]
) -> tuple[list[bytes], UpstreamError | None]:
    """The payloads these lines make, and the in-stream failure that stopped them, if any."""
    payloads: list[bytes] = []
    for line in lines:
        event = parser.feed_line(line)
        if event is not None:
            payloads.extend(translator.feed(event))
            error = translator.state.error
            if error is not None:
                return payloads, classify_vendor_error(error, provider=target.instance.name)
    return payloads, None


async def first_payloads(target: Target, upstream: UpstreamStream, translator: ChatStreamTranslator) -> ChatStream:
    """Read until the first payload for the client exists: failures until then can still fail over."""
    parser = SSEParser()
    batches = upstream.batches()
    first: list[bytes] = []
    failure: UpstreamError | None = None
    async for lines in batches:
        payloads, failure = translate_lines(parser, translator, target, lines)
        first.extend(payloads)
        if failure is not None and not first:
            raise failure  # nothing reached the client yet: the next target may serve
        if first or translator.state.done:
            break
    if not first and not translator.state.done:
        raise UpstreamProtocolError("upstream stream ended before any data", provider=target.instance.name)
    return ChatStream(target, upstream, translator, parser, first, batches, failure)
