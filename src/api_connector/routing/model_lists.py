"""Live model lists: which models each provider instance serves, asked of the provider and kept current.

An instance whose provider declares a listing (``ProviderSpec.listing``: a free GET and how to read
it) is listed in the background every ``MODEL_LIST_TTL`` seconds with its own credential; the answer
is kept in memory, and with Redis shared by the replicas (one of them lists each instance per period,
the others read what it stored). The request path only reads the memory copy: routing refuses a model
that a live list does not contain before any upstream call, unless the instance turns the check off
(``check_models: false``, for providers whose lists are incomplete). An instance without a live list
(never listed, listing failed, no listing declared) refuses nothing: its declared models are shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import orjson

from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Outbound
from api_connector.core.tasks import stop
from api_connector.errors import ConnectorError
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import Catalog, ProviderInstance, Target
from api_connector.routing.exchange import Upstreams

if TYPE_CHECKING:
    from api_connector.storage.shared_state import SharedState

log = logging.getLogger(__name__)
_LOCK_SECONDS = 30  # one replica lists an instance at a time; a crashed one's turn passes after this
_TICK = 5.0  # how often the loop looks for instances whose list is due


@dataclass(frozen=True, slots=True)
class Listing:
    models: tuple[str, ...]
    source: Literal["live", "declared"]
    fetched_at: float | None = None  # wall clock, for a live list
    error: str | None = None  # why the last listing failed (the models are then the previous ones)


class ModelLists:
    def __init__(
        self,
        catalog: Catalog,
        upstreams: Upstreams,
        *,
        ttl: float,
        shared: SharedState | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._catalog = catalog
        self._upstreams = upstreams
        self._ttl = ttl
        self._shared = shared
        self._clock = clock
        self._live: dict[str, tuple[frozenset[str], Listing]] = {}
        self._errors: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    # -- the request path ---------------------------------------------------------------------
    def offers(self, instance: ProviderInstance, model: str) -> bool:
        """Whether ``instance`` may be asked for ``model``: False only when a live list says it has no such
        model (and the instance checks models)."""
        known = self._live.get(instance.pool)
        if known is None or (instance.config is not None and not instance.config.check_models):
            return True
        return model in known[0]

    # -- reading and refreshing ----------------------------------------------------------------
    def listing(self, instance: ProviderInstance) -> Listing:
        """The live list when there is one, else the declared models (with why listing failed, if it did)."""
        known = self._live.get(instance.pool)
        error = self._errors.get(instance.pool)
        if known is not None:
            listing = known[1]
            return listing if error is None else Listing(listing.models, "live", listing.fetched_at, error)
        return Listing(instance.models, "declared", None, error)

    async def refresh(self, instance: ProviderInstance) -> Listing:
        """Ask the provider now (an admin's refresh, or the loop's turn); the answer is kept and shared."""
        try:
            models = await self._fetch(instance)
        except ConnectorError as error:
            self._errors[instance.pool] = error.message
            return self.listing(instance)
        self._store(instance.pool, models, self._clock())
        if self._shared is not None:
            value = orjson.dumps({"at": self._clock(), "models": models})
            with contextlib.suppress(Exception):  # sharing is a saving, not a need
                await self._shared.put("models:" + instance.pool, value, int(self._ttl * 2) + 1)
        return self.listing(instance)

    def _store(self, pool: str, models: list[str], at: float) -> None:
        self._live[pool] = (frozenset(models), Listing(tuple(models), "live", at))
        self._errors.pop(pool, None)

    async def _fetch(self, instance: ProviderInstance) -> list[str]:
        listing = instance.spec.listing
        if listing is None or not instance.base_url:
            raise ConnectorError(f"provider {instance.name!r} declares no model listing")
        started = time.perf_counter()
        call = Call(f"models-{instance.name}", instance.project_id or "", None, Capability.REQUESTS, started, retries=0)
        answer = await self._upstreams.exchange(call, AttemptLog(), Target(instance, "")).send(
            Outbound(listing.path, method="GET")
        )
        if not 200 <= answer.status < 300:
            raise ConnectorError(f"the provider answered HTTP {answer.status} to its model listing")
        try:
            return listing.parse(answer.body)
        except ValueError:
            raise ConnectorError("the provider's model listing is not in the shape it declares") from None

    # -- the background loop ------------------------------------------------------------------
    def listed(self) -> list[ProviderInstance]:
        """Every instance, of the file and of every project, whose provider declares a listing."""
        seen: dict[str, ProviderInstance] = {}
        for project in (None, *self._catalog.project_ids()):
            for instance in self._catalog.instances(project):
                if instance.spec.listing is not None and instance.base_url:
                    seen[instance.pool] = instance
        return list(seen.values())

    async def tick(self) -> None:
        """List every instance whose list is older than the TTL (or take another replica's fresh one)."""
        now = self._clock()
        for instance in self.listed():
            known = self._live.get(instance.pool)
            if known is not None and known[1].fetched_at is not None and now - known[1].fetched_at < self._ttl:
                continue
            if self._shared is not None and await self._taken_or_claimed(instance, now):
                continue
            await self.refresh(instance)

    async def _taken_or_claimed(self, instance: ProviderInstance, now: float) -> bool:
        """True when another replica's fresh list was taken, or another replica is listing it right now."""
        shared = self._shared
        assert shared is not None
        try:
            stored = await shared.get("models:" + instance.pool)
            if stored:
                entry = orjson.loads(stored)
                if now - float(entry["at"]) < self._ttl:
                    self._store(instance.pool, [str(m) for m in entry["models"]], float(entry["at"]))
                    return True
            locked = await shared.claim("models:lock:" + instance.pool, _LOCK_SECONDS)
        except Exception:  # Redis down: this replica lists for itself
            return False
        return not locked

    def start(self) -> None:
        if self._task is None and self._ttl > 0:
            self._task = asyncio.create_task(self._run(), name="model-lists")

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # a provider or Redis hiccup must not end the loop
                log.warning("model listing round failed; retrying next round", exc_info=True)
            await asyncio.sleep(min(_TICK, self._ttl))

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop(task)
