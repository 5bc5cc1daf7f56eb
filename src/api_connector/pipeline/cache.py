"""The response cache as a layer: answered from the cache when asked and found, filled after.

A call is looked up when its caller asked for caching (``x-cache-ttl``, a ``cache_key``), or when the
operator set a default TTL for capabilities that are cached by default (model answers). Entries are
per project (``governance.cache.request_key``); only complete successes from an upstream are stored
(an answer shared by coalescing is stored by the call that fetched it). A stream is kept piece by
piece as it passes and stored only if it ended cleanly; a hit replays it as a stream.

A capability that declares its requests ``itemized`` (embeddings) is cached per item instead, unless
the caller named the whole answer with a key of its own: each item's entry is keyed by what decides
it (the project always part of the key), the ones found are kept, only the others are sent on (the
request narrowed to them, each distinct one once), and the answer is assembled in the request's order.
Its usage is the fetched items' alone: what the cached ones once used was counted when they were
fetched. All found: a hit like any other (``x-cache: hit``, recorded as cached); some found:
``x-cache: partial``, recorded as an upstream call of the rest.

Graceful degradation (stale-if-error): when a stale window applies (the request's
``x-cache-stale-if-error``, else its route's ``stale_if_error``, else the cache section's), answers are
kept that much past their TTL; an idempotent request whose every target failed is then answered with
the kept one if it expired no longer ago than the window (``x-cache: stale``, recorded as cached, cost
0). A request that is not safe to repeat never gets one: its failure stands. Whole answers only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from api_connector.core.call import NO_CACHE_ASK
from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError, UpstreamError
from api_connector.governance.cache import CachedAnswer, request_key
from api_connector.pipeline.layers import Step
from api_connector.pipeline.run import Run
from api_connector.routing.catalog import Catalog, Target
from api_connector.routing.streams import ReplayStream

if TYPE_CHECKING:
    from api_connector.capabilities.base import Itemized
    from api_connector.governance.wiring import Governance

# A caller's own cache key without a TTL keeps the answer this long (seconds).
DEFAULT_KEYED_TTL = 300


class CacheLayer:
    __slots__ = ("_catalog", "_gov", "_inner")

    def __init__(self, inner: Step, governance: Governance, catalog: Catalog) -> None:
        self._inner = inner
        self._gov = governance
        self._catalog = catalog

    def __call__(self, run: Run[Any, Any]) -> Awaitable[None]:
        gov = self._gov
        if run.call.cache is NO_CACHE_ASK and gov.default_ttl is None and not self._stale_possible():
            return self._inner(run)  # nothing asked, nothing by default: the usual call
        ttl = self._ttl(run) or 0
        keep = self._stale_window(run)
        if not ttl and not keep:
            return self._inner(run)
        call = run.call
        if call.cache.key is None and ttl:
            itemized = run.spec.itemized(run.request)
            if itemized is not None:
                return self._itemized(run, itemized, ttl)
        material = run.spec.cache_material(run.request)
        if material is None:
            return self._inner(run)
        return self._cached(run, request_key(call.project_id, call.cache.key, material), ttl, keep)

    def _stale_possible(self) -> bool:
        return self._gov.stale_if_error is not None or self._catalog.stale_routes

    def _stale_window(self, run: Run[Any, Any]) -> int:
        """Seconds past its TTL a kept answer may stand in for a failure of this request (0: never)."""
        call, spec = run.call, run.spec
        asked = call.cache.stale_if_error
        if asked is None and not self._stale_possible():
            return 0
        if spec.streamed(run.request) or not spec.resendable(call, run.request):
            return 0  # a stream is not kept for this, and a request not safe to repeat keeps its failure
        if asked is not None:
            return asked
        if self._catalog.stale_routes:
            try:
                route = spec.route(self._catalog, call.project_id, run.request)
            except ConnectorError:
                route = None
            if route is not None and route.stale_if_error is not None:
                return route.stale_if_error
        return self._gov.stale_if_error or 0

    def _ttl(self, run: Run[Any, Any]) -> int | None:
        asked = run.call.cache
        if asked.ttl is not None:
            return asked.ttl or None  # 0: the caller asked for no caching of this one
        if asked.key:
            return DEFAULT_KEYED_TTL
        return self._gov.default_ttl if run.spec.cached_by_default else None

    async def _cached(self, run: Run[Any, Any], key: str, ttl: int, keep: int) -> None:
        hit = await self._gov.cache.get(key)
        stale: CachedAnswer | None = None
        if hit is not None:
            answer = CachedAnswer.decode(hit)
            if ttl and answer.fresh(time.time()):
                self._serve(run, answer)
                return
            stale = answer  # past its TTL: kept only to stand in for a failure
        try:
            await self._inner(run)
        except UpstreamError:
            if stale is None or stale.fresh_until is None or time.time() - stale.fresh_until > keep:
                raise
            self._serve(run, stale, "stale")
            return
        if run.source != "upstream":
            return
        served_by = run.log.served_by
        provider, model = (served_by.instance.name, served_by.model) if served_by is not None else (None, "")
        fresh_until = time.time() + ttl
        if run.result is not None:
            body = run.spec.dump_result(run.result)
            answer = CachedAnswer(b"W", body, provider, model, run.spec.usage(run.result), fresh_until)
            await self._gov.cache.put(key, answer.encode(), ttl + keep)
        elif run.stream is not None and ttl:
            run.stream.captured = []

            async def kept(done: Run[Any, Any], failure: ConnectorError | None) -> None:
                stream = done.stream
                if failure is None and stream is not None and stream.complete and stream.captured is not None:
                    answer = CachedAnswer.of_pieces(stream.captured, provider, model, stream.usage, fresh_until)
                    await self._gov.cache.put(key, answer.encode(), ttl)

            run.on_end(kept)

    async def _itemized(self, run: Run[Any, Any], itemized: Itemized[Any, Any], ttl: int) -> None:
        project, kind = run.call.project_id, run.spec.kind
        keys = [request_key(project, None, ["item", kind, material]) for material in itemized.materials]
        found = [CachedAnswer.decode(raw) if raw is not None else None for raw in await self._gov.cache.get_many(keys)]
        lacking: dict[str, int] = {}  # each distinct key not found -> its first position
        for position, (key, entry) in enumerate(zip(keys, found, strict=True)):
            if entry is None and key not in lacking:
                lacking[key] = position
        if not lacking:
            self._serve_items(run, itemized, found)
            return
        whole = run.request
        narrowed = len(lacking) < len(keys)
        if narrowed:
            run.request = itemized.narrow(list(lacking.values()))
        try:
            await self._inner(run)
        finally:
            run.request = whole
        fetched = dict(zip(lacking, itemized.split(run.result), strict=True))
        if run.source == "upstream":
            await self._keep_items(run, fetched, ttl)
        if narrowed:
            items = [entry.body if entry is not None else fetched[key] for key, entry in zip(keys, found, strict=True)]
            run.result = itemized.assemble(items, run.result)
            if found.count(None) < len(found):  # narrowed because some came from the cache (not repeats)
                run.headers["x-cache"] = "partial"

    def _serve_items(
        self, run: Run[Any, Any], itemized: Itemized[Any, Any], found: Sequence[CachedAnswer | None]
    ) -> None:
        entries = [entry for entry in found if entry is not None]
        run.source = "cache"
        run.headers["x-cache"] = "hit"
        run.log.served_by = self._origin(run, entries[0])
        run.result = itemized.assemble([entry.body for entry in entries], None)

    async def _keep_items(self, run: Run[Any, Any], fetched: dict[str, bytes], ttl: int) -> None:
        served_by = run.log.served_by
        provider, model = (served_by.instance.name, served_by.model) if served_by is not None else (None, "")
        # Entries carry no usage: the call that fetched an item was charged for it, and an answer later
        # assembled from entries costs nothing again.
        entries = [(key, CachedAnswer(b"W", item, provider, model, Usage()).encode()) for key, item in fetched.items()]
        await self._gov.cache.put_many(entries, ttl)

    def _serve(self, run: Run[Any, Any], answer: CachedAnswer, how: Literal["hit", "stale"] = "hit") -> None:
        run.source = "cache" if how == "hit" else "stale"
        run.headers["x-cache"] = how
        origin = self._origin(run, answer)
        run.log.served_by = origin
        if answer.whole:
            run.result = run.spec.load_result(answer.body, answer.usage)
        else:
            run.stream = ReplayStream(origin, answer.pieces(), answer.usage)

    def _origin(self, run: Run[Any, Any], answer: CachedAnswer) -> Target | None:
        """The target that first gave a cached answer, if this project can still address it (the hit is
        recorded under it)."""
        if answer.provider is None:
            return None
        try:
            if not answer.model:
                return self._catalog.single(self._catalog.instance(run.call.project_id, answer.provider)).targets[0]
            return self._catalog.resolve(run.call.project_id, f"{answer.provider}/{answer.model}").targets[0]
        except (ConnectorError, IndexError):
            return None
