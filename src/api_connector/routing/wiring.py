"""Builds the routing layer of one process: breakers (memory or Redis), retries, admission, dead letters.

It opens the process's one connection to the shared Redis (``storage.redis``), which the other layers'
shared stores are made from.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from api_connector.config import GatewayConfig, RouteConfig
from api_connector.observability.logging import get_logger
from api_connector.observability.redaction import Redactor
from api_connector.routing.admission import Admission
from api_connector.routing.breaker import BreakerStore, DisabledBreakers, MemoryBreakerStore
from api_connector.routing.breaker_store import RedisBreakerStore
from api_connector.routing.catalog import Catalog
from api_connector.routing.dead_letter import DeadLetters
from api_connector.routing.failover import Resilience
from api_connector.settings import Settings
from api_connector.storage.breaker_scripts import BreakerScripts
from api_connector.storage.db import Database
from api_connector.storage.dlq import DeadLetterStore
from api_connector.storage.redis import SharedRedis, connect_shared
from api_connector.storage.route_store import RouteStore

if TYPE_CHECKING:
    from api_connector.storage.record_writer import RecordWriter
    from api_connector.storage.tenancy import TenancyStore

log = get_logger("api_connector.routing")


@dataclass(slots=True)
class Routing:
    resilience: Resilience
    admission: Admission
    dead_letters: DeadLetters
    dead_letter_store: DeadLetterStore
    route_store: RouteStore
    shared: SharedRedis | None = None  # the shared Redis, for the other layers' shared stores

    async def start(self) -> None:
        await self.resilience.breakers.start()

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # shutting down: Redis may already be gone
            await self.resilience.breakers.close()
        if self.shared is not None:
            with contextlib.suppress(Exception):
                await self.shared.close()


def build_routing(
    settings: Settings, config: GatewayConfig, database: Database, writer: RecordWriter, redactor: Redactor
) -> Routing:
    shared = connect_shared(settings)
    breaker_config = config.resilience.breaker
    breakers: BreakerStore
    if not breaker_config.enabled:
        breakers = DisabledBreakers()
    elif shared is not None:
        breakers = RedisBreakerStore(breaker_config, BreakerScripts(shared))
    else:
        breakers = MemoryBreakerStore(breaker_config)
    return Routing(
        resilience=Resilience(config.resilience, breakers),
        admission=Admission(settings.max_in_flight),
        dead_letters=DeadLetters(writer, redactor),
        dead_letter_store=DeadLetterStore(database),
        route_store=RouteStore(database),
        shared=shared,
    )


async def load_project_routes(routing: Routing, catalog: Catalog, tenancy: TenancyStore) -> None:
    """Every project's stored routes into the catalog (at start-up; the admin API keeps them current)."""
    for project in await tenancy.list_projects():
        stored = await routing.route_store.list(project.id)
        if not stored:
            continue
        routes: list[tuple[str, RouteConfig]] = []
        for route in stored:
            try:
                routes.append((route.name, RouteConfig.model_validate(route.config)))
            except ValidationError:  # stored by an older version with other rules: skip, do not stop
                log.warning("stored route is no longer valid; skipped", route=route.name, project=project.id)
        catalog.set_project_routes(project.id, routes)
