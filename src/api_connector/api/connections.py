"""The connection lifecycle of provider instances: open (initialize) and refresh, with a status each.

A refresh, for each instance in reach, (1) forgets the cached copy of its credentials (the instance's
and those its routes' targets name), so the next use reads the vault or external store again and a
secret rotated there is picked up now; (2) renews its connection pool (``Transport.renew``: requests in
flight finish on the old pool, which closes its connections as they come back, while new requests
already use the new one); (3) runs its cheap probe (``ProviderSpec.probe``, the health monitor's own,
which also books the result as the instance's health) on the new pool. Opening is the same without a
pool to retire: the pool is made and its first connection warmed by the probe.

Shared by ``POST /admin/connections/refresh`` (``api/connections_routes.py``), the SDK's ``Connector``
and the command line, so all of them answer the same per-provider status.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from api_connector.api.services import Services
from api_connector.core.connections import FAILED, OK, UNCHECKED, ConnectionStatus, failure_message
from api_connector.errors import ConnectionsFailed, ConnectorError
from api_connector.observability.health import now_utc
from api_connector.routing.catalog import ProviderInstance


def connections_failed(statuses: list[ConnectionStatus]) -> ConnectionsFailed:
    """The error a strict caller gets when some provider failed: names them, keeps every status."""
    return ConnectionsFailed(
        failure_message(statuses),
        details={"providers": [s.as_json() for s in statuses]},
    )


def instances_in_reach(services: Services, shows: Callable[[str | None], bool]) -> list[ProviderInstance]:
    """Every instance (the file's and each project's) whose owner ``shows(project_id)`` accepts."""
    seen: dict[str, ProviderInstance] = {i.pool: i for i in services.catalog.instances(None)}
    for project in services.catalog.project_ids():
        for instance in services.catalog.instances(project):
            seen.setdefault(instance.pool, instance)
    return sorted((i for i in seen.values() if shows(i.project_id)), key=lambda i: (i.project_id or "", i.name))


async def refresh(services: Services, instances: Iterable[ProviderInstance]) -> list[ConnectionStatus]:
    """Forget credentials, renew pools and probe each instance (see the module's docstring)."""
    chosen = list(instances)
    for reference in _credential_references(services, chosen):
        services.upstreams.credentials.forget(reference)
    # Pools keep the limit and guard their instance was installed with (build_services, install_project_providers).
    services.transport.renew(i.pool for i in chosen if i.spec.local is None)
    return await _probe_all(services, chosen)


async def initialize(services: Services, instances: Iterable[ProviderInstance]) -> list[ConnectionStatus]:
    """Open each instance's pool and probe it (nothing to retire or forget at start)."""
    chosen = list(instances)
    for instance in chosen:
        if instance.spec.local is None:
            services.transport.opened(instance.pool)
    return await _probe_all(services, chosen)


def _credential_references(services: Services, instances: list[ProviderInstance]) -> set[str]:
    """The instances' own references, and those their owners' routes give targets (a project's route may
    send the file's instance with the project's stored credential)."""
    references = {i.credential for i in instances if i.credential}
    pools = {i.pool for i in instances}
    owners = {i.project_id for i in instances if i.project_id is not None}
    for project in {None, *owners}:
        for route in services.catalog.routes(project).values():
            for target in route.targets:
                if target.credential_ref and (target.instance.pool in pools or target.route_project in owners):
                    references.add(target.credential_ref)
    return references


async def _probe_all(services: Services, instances: list[ProviderInstance]) -> list[ConnectionStatus]:
    # A few at a time: a refresh of many providers must not open a burst of connections all at once.
    gate = asyncio.Semaphore(8)

    async def one(instance: ProviderInstance) -> ConnectionStatus:
        async with gate:
            return await _probe(services, instance)

    return list(await asyncio.gather(*(one(i) for i in instances)))


async def _probe(services: Services, instance: ProviderInstance) -> ConnectionStatus:
    monitor = services.health
    reachable = instance.base_url or instance.spec.local is not None
    if monitor is None or instance.spec.probe is None or not reachable:
        return await _read_credential(services, instance)
    outcome = await monitor.probe_outcome(instance)
    monitor.registry.record_probe(instance.pool, outcome.ok, outcome.elapsed_ms, now_utc(), outcome.error)
    status = OK if outcome.ok else FAILED
    return ConnectionStatus(instance.name, instance.project_id, status, outcome.elapsed_ms, outcome.code, outcome.error)


async def _read_credential(services: Services, instance: ProviderInstance) -> ConnectionStatus:
    """An instance with no probe: at least its credential must be readable."""
    if instance.credential:
        try:
            await services.upstreams.credentials.resolve(instance.credential, None, instance.project_id)
        except ConnectorError as error:
            message = services.redactor.scrub(error.message)
            return ConnectionStatus(instance.name, instance.project_id, FAILED, None, error.code, message)
    return ConnectionStatus(instance.name, instance.project_id, UNCHECKED)


async def audit_connections(
    services: Services,
    action: str,
    statuses: list[ConnectionStatus],
    *,
    request_id: str | None,
    actor_key_id: str | None,
    project_id: str | None,
    reach: str,
    via: str,
) -> None:
    """One audit row per initialize or refresh (``connections.<action>``, an admin action): who, whose
    providers, and which of them failed."""
    failed = [s.provider for s in statuses if s.failed]
    await services.recorder.audit(
        request_id=request_id,
        actor_key_id=actor_key_id,
        project_id=project_id,
        action=f"connections.{action}",
        target_type="connections",
        target_id=None,
        outcome="failure" if failed else "success",
        details={"scope": reach, "providers": [s.provider for s in statuses], "failed": failed, "via": via},
    )
