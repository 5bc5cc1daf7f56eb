"""Chat answers that take several upstream requests in one attempt: a job created, then polled or streamed.

A stepped wire (``wire.base.SteppedChatWire``, e.g. Replicate's predictions) stays a pure codec: it says
what to send first and, from each answer, what to send next (``Follow``) or the finished answer. Here
each of those requests goes through the attempt's one ``Exchange`` and polls wait within the call's
deadline (``capabilities.steps``, the loop every stepped wire shares), and a streamed answer is opened
and handed to the client like any chat stream. A stream translator that declares ``follow_up`` gets
one more request once the vendor's stream has ended (the job's final state, with its usage) and
completes the stream from its answer. A stream asked of a job that answered whole (a model that
cannot stream) is given to the client as the chunks of that answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from api_connector.capabilities.base import wire_failure
from api_connector.capabilities.steps import run_steps
from api_connector.core.chat import ChatRequest
from api_connector.core.exchange import Inbound
from api_connector.core.usage import Usage
from api_connector.errors import UpstreamError, UpstreamProtocolError
from api_connector.providers.spec import Endpoint
from api_connector.routing.exchange import Exchange
from api_connector.routing.streams import AnswerStream, ChatStream, GeneratedStream, ReplayStream, first_payloads
from api_connector.wire.base import ChatResult, Follow, SteppedChatWire
from api_connector.wire.openai_shapes import ChunkWriter


async def fetch(request: ChatRequest, exchange: Exchange, endpoint: Endpoint, wire: SteppedChatWire) -> ChatResult:
    step = await _run(request, exchange, endpoint, wire)
    if isinstance(step, Follow):
        provider = exchange.target.instance.name
        raise UpstreamProtocolError("upstream offered a stream for a whole answer", provider=provider)
    return step


async def open_stream(
    request: ChatRequest, exchange: Exchange, endpoint: Endpoint, wire: SteppedChatWire
) -> AnswerStream:
    target = exchange.target
    step = await _run(request, exchange, endpoint, wire)
    if isinstance(step, ChatResult):
        return ReplayStream(target, _chunks_of(step, request), step.usage)
    assert step.translator is not None  # _run stops at a result or at a stream to open
    upstream = await exchange.open(step.outbound)
    try:
        if not 200 <= upstream.status < 300:
            body = await upstream.read_all()
            raise wire_failure(Inbound(upstream.status, upstream.headers, body), wire, target)
        stream = await first_payloads(target, upstream, step.translator)
    except BaseException:
        upstream.close()
        raise
    if getattr(step.translator, "follow_up", None) is None:
        return stream
    return SettlingStream(stream, exchange)


async def _run(
    request: ChatRequest, exchange: Exchange, endpoint: Endpoint, wire: SteppedChatWire
) -> ChatResult | Follow:
    """Send and advance until the wire gives the answer or a stream to open."""
    target = exchange.target
    first = Follow(wire.start(request, target.model, endpoint.path_for(target.model)))
    return await run_steps(exchange, wire, first, lambda answer: wire.advance(request, answer))


class SettlingStream(GeneratedStream):
    """A job's stream, then the chunks its translator settles from one last request (finish and usage)."""

    def __init__(self, inner: ChatStream, exchange: Exchange) -> None:
        super().__init__(inner.target)
        self._inner = inner
        self._exchange = exchange

    @property
    def usage(self) -> Usage:
        return self._inner.usage

    @property
    def finished(self) -> bool:
        return self._inner.finished

    async def _pieces(self) -> AsyncIterator[list[bytes]]:
        async for batch in self._inner.batches():
            yield batch
        tail = await self._settle()
        if tail:
            yield tail

    async def _settle(self) -> list[bytes]:
        translator: Any = self._inner.translator  # declares follow_up and settle (open_stream checked)
        outbound = translator.follow_up()
        answer: Inbound | None = None
        if outbound is not None:
            try:
                answer = await self._exchange.send(outbound)
            except UpstreamError:
                answer = None  # the text is whole without it: only the job's own figures are missing
        if answer is not None and not 200 <= answer.status < 300:
            answer = None
        payloads: list[bytes] = translator.settle(answer)
        return payloads

    def close(self) -> None:
        self._inner.close()
        super().close()


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Message(_Lenient):
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None


class _Choice(_Lenient):
    message: _Message
    finish_reason: str | None = None


class _Completion(_Lenient):
    id: str = ""
    created: int = 0
    model: str = ""
    choices: list[_Choice]
    usage: dict[str, Any] | None = None


def _chunks_of(result: ChatResult, request: ChatRequest) -> list[bytes]:
    """A whole chat completion (the wire's own) as the chunks a stream of it would have carried."""
    completion = _Completion.model_validate_json(result.body)
    chunks = ChunkWriter(completion.id, completion.model, completion.created)
    choice = completion.choices[0]
    delta: dict[str, Any] = {"role": "assistant", "content": choice.message.content or ""}
    if choice.message.tool_calls:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(choice.message.tool_calls)]
    payloads = [chunks.delta(delta), chunks.delta({}, choice.finish_reason)]
    if request.wants_usage_in_stream:
        payloads.append(chunks.usage(result.usage))
    return payloads
