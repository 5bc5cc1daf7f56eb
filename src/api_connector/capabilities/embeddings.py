"""Embeddings: the OpenAI ``/v1/embeddings`` shape in, any provider's embeddings wire out.

Metered in input tokens. Identical requests get identical vectors, so they are cached by default (like
chat, under the operator's ``cache.default_ttl``) and those in flight at once share one upstream call;
the cache keeps each input's vector on its own (``itemized``), keyed by what decides it (the model as
addressed, dimensions, input type, unknown fields: never the encoding, which only changes how the
answer is written). One attempt sends the request in batches of at most the target's ``max_batch``
inputs (and, where the vendor caps a call's tokens, ``max_batch_tokens`` by a cautious estimate),
a few at a time within the attempt's deadline, and merges the answers back in input order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, cast

import orjson
from pydantic import ValidationError

from api_connector.capabilities.base import CapabilitySpec, Itemized, endpoint_of, send_json
from api_connector.core.capabilities import Capability
from api_connector.core.embeddings import (
    EmbeddingsRequest,
    EmbeddingsResult,
    Item,
    dump,
    estimate_all,
    estimate_tokens,
    load,
    merge,
    render,
)
from api_connector.core.usage import Usage
from api_connector.errors import ValidationFailed
from api_connector.providers.spec import Endpoint
from api_connector.routing.catalog import Catalog, Route
from api_connector.routing.exchange import Exchange
from api_connector.wire.base import EmbeddingsWire

# Batches of one attempt in flight at once: a request of many thousand inputs must not open dozens of
# connections to one provider, and four cut its wait to about a quarter of one-by-one.
BATCHES_IN_FLIGHT = 4
# Splitting by a vendor's token cap counts about three characters a token: fewer than the usual four,
# so text that tokenizes densely (code, most non-English scripts) still fits.
_SPLIT_CHARS_PER_TOKEN = 3


def batches(items: Sequence[Item], max_items: int | None, max_tokens: int | None) -> list[range]:
    """Consecutive ranges of ``items``, each within both bounds (an item over the token bound goes alone:
    the vendor judges it)."""
    if max_items is None and max_tokens is None:
        return [range(len(items))]
    ranges: list[range] = []
    start, tokens = 0, 0
    for position, item in enumerate(items):
        cost = estimate_tokens(item, _SPLIT_CHARS_PER_TOKEN) if max_tokens is not None else 0
        full = max_items is not None and position - start >= max_items
        over = max_tokens is not None and position > start and tokens + cost > max_tokens
        if full or over:
            ranges.append(range(start, position))
            start, tokens = position, 0
        tokens += cost
    ranges.append(range(start, len(items)))
    return ranges


async def in_order(calls: Sequence[Callable[[], Awaitable[EmbeddingsResult]]], limit: int) -> list[EmbeddingsResult]:
    """Every call's answer in the calls' order, at most ``limit`` at once; the first failure cancels the rest."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[EmbeddingsResult]]) -> EmbeddingsResult:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(one(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def _send(request: EmbeddingsRequest, exchange: Exchange, endpoint: Endpoint) -> EmbeddingsResult:
    """One batch, one upstream call."""
    model = exchange.target.model
    wire = cast(EmbeddingsWire, endpoint.wire)  # an embeddings endpoint declares an embeddings wire
    body = wire.encode_request(request, model)
    result = await send_json(
        exchange, endpoint, body, lambda raw: wire.decode_response(raw, request), "the embeddings asked for"
    )
    result.model = result.model or model  # Cohere and Gemini do not name it
    return result


def _item(model: str, vector: bytes) -> bytes:
    """An item as the cache keeps it: the model that made the vector (for an answer made only of
    cached items), a line break, the vector."""
    return model.replace("\n", " ").encode() + b"\n" + vector


class EmbeddingItems(Itemized[EmbeddingsRequest, EmbeddingsResult]):
    def __init__(self, request: EmbeddingsRequest) -> None:
        self._request = request
        common = request.vector_material()
        self.materials = [[common, item] for item in request.items()]

    def narrow(self, positions: Sequence[int]) -> EmbeddingsRequest:
        return self._request.subset(positions)

    def split(self, result: EmbeddingsResult) -> list[bytes]:
        return [_item(result.model, vector) for vector in result.vectors]

    def assemble(self, items: Sequence[bytes], fetched: EmbeddingsResult | None) -> EmbeddingsResult:
        parts = [item.partition(b"\n") for item in items]
        vectors = [vector for _, _, vector in parts]
        if fetched is None:
            return EmbeddingsResult(vectors, parts[0][0].decode(), Usage())
        return EmbeddingsResult(vectors, fetched.model, fetched.usage, fetched.estimated)


class EmbeddingsCapability(CapabilitySpec[EmbeddingsRequest, EmbeddingsResult]):
    capability: ClassVar[Capability] = Capability.EMBEDDINGS
    kind: ClassVar[str] = "embeddings"
    cached_by_default: ClassVar[bool] = True

    def route(self, catalog: Catalog, project_id: str, request: EmbeddingsRequest) -> Route:
        return catalog.resolve(project_id, request.model)

    def estimate_tokens(self, request: EmbeddingsRequest) -> int:
        return estimate_all(request.items())

    def usage(self, result: EmbeddingsResult) -> Usage:
        return result.usage

    def cache_material(self, request: EmbeddingsRequest) -> Any:
        return [request.vector_material(), request.items()]

    def deterministic(self, request: EmbeddingsRequest) -> bool:
        return True

    def itemized(self, request: EmbeddingsRequest) -> EmbeddingItems:
        return EmbeddingItems(request)

    def dump_result(self, result: EmbeddingsResult) -> bytes:
        return dump(result)

    def load_result(self, raw: bytes, usage: Usage) -> EmbeddingsResult:
        return load(raw, usage)

    async def fetch(self, request: EmbeddingsRequest, exchange: Exchange) -> EmbeddingsResult:
        endpoint = endpoint_of(exchange.target, Capability.EMBEDDINGS)
        parts = batches(request.items(), endpoint.max_batch, endpoint.max_batch_tokens)
        if len(parts) == 1:
            return await _send(request, exchange, endpoint)
        sends = [partial(_send, request.subset(part), exchange, endpoint) for part in parts]
        return merge(await in_order(sends, BATCHES_IN_FLIGHT))

    def answer_json(self, result: EmbeddingsResult) -> tuple[int, Any]:
        return 200, orjson.loads(render(result, "float"))

    def dead_letter(self, request: EmbeddingsRequest) -> tuple[str, dict[str, Any]]:
        return request.model, {"body": request.caller_json()}

    def from_dead_letter(self, catalog: Catalog, project_id: str, payload: Mapping[str, Any]) -> EmbeddingsRequest:
        try:
            return EmbeddingsRequest.model_validate(payload.get("body") or {})
        except ValidationError as exc:
            raise ValidationFailed(f"the stored request is no longer valid: {exc.errors()[0]['msg']}") from None


EMBEDDINGS = EmbeddingsCapability()
