"""``POST /admin/connections/refresh`` and ``/initialize``: open and renew provider connections.

A refresh renews connections and re-reads credentials (``api/connections.py``). An initialize takes a
project's provider instances (``{"providers": {name: config}}``, the configuration file's shape),
validates every one before changing anything (as ``POST /admin/providers`` does), adds the new ones
and replaces the configuration of those that exist, then opens and probes them; with no providers it
opens and probes the project's own instances.

Whose providers: a project's key refreshes its project's own instances; a global admin key every
instance (the configuration file's and every project's) unless it names one project (``x-project-id``
or ``?project=``) or only the file's (``?scope=global``), as every admin read is scoped
(``api/read_scope.py``). ``?provider=`` narrows to one instance by name; ``?strict=true`` answers 503
``connections_failed`` (every status in its details) when a provider failed. Audited either way.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api_connector.api import admin_routes, connections
from api_connector.api.context import parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES
from api_connector.auth.authenticator import Principal
from api_connector.core.connections import ConnectionStatus
from api_connector.errors import NotFound, ValidationFailed
from api_connector.routing.catalog import ProviderInstance


class InitializeConnections(BaseModel):
    model_config = ConfigDict(extra="forbid")
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict, max_length=100)


async def initialize_connections(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = parse_model(InitializeConnections, await read_json(request))
    project_id = project_of(request)
    instances = await _install(request, project_id, body.providers)
    if not body.providers:
        instances = connections.instances_in_reach(services, lambda owner: owner == project_id)
    statuses = await connections.refresh(services, instances)
    return await _answer(request, "initialize", statuses, project_id, "project")


async def _install(request: web.Request, project_id: str, raw: dict[str, dict[str, Any]]) -> list[ProviderInstance]:
    """Validate all, then create or update each; answers the installed instances."""
    services = request.app[SERVICES]
    existing = {p.name: p for p in await services.providers.list(project_id)}
    checked = {name: await admin_routes.project_provider(services, project_id, name, cfg) for name, cfg in raw.items()}
    for name, config in checked.items():
        known = existing.get(name)
        if known is not None and known.type != config.type:
            raise ValidationFailed(
                f"providers.{name}.type: the instance is a {known.type}; delete it to make it a {config.type}",
                param=f"providers.{name}.type",
            )
    for name, config in checked.items():
        stored = config.model_dump(exclude_defaults=True)
        if name in existing:
            await services.providers.update(project_id, name, stored)
        else:
            await services.providers.create(project_id, name, config.type, stored)
        action = "provider.update" if name in existing else "provider.create"
        await admin_routes.audit_action(request, action, "provider", name, project_id, type=config.type)
    if checked:
        await admin_routes.reload_project_providers(services, project_id)
    return [services.catalog.instance(project_id, name) for name in checked]


async def refresh_connections(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    scope = read_scope(request, default_all=True)
    instances = connections.instances_in_reach(services, scope.shows)
    provider = request.query.get("provider")
    if provider is not None:
        instances = [i for i in instances if i.name == provider]
        if not instances:
            raise NotFound(f"no provider named {provider!r}")
    strict = _flag(request, "strict")
    statuses = await connections.refresh(services, instances)
    return await _answer(request, "refresh", statuses, scope.project_id, scope.reach.value, strict)


async def _answer(
    request: web.Request,
    action: str,
    statuses: list[ConnectionStatus],
    project_id: str | None,
    reach: str,
    strict: bool | None = None,
) -> web.Response:
    """Audit the action, then answer every status (503 when strict and a provider failed)."""
    principal: Principal = request[PRINCIPAL]
    await connections.audit_connections(
        request.app[SERVICES],
        action,
        statuses,
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id,
        project_id=project_id,
        reach=reach,
        via="api",
    )
    strict = _flag(request, "strict") if strict is None else strict
    if strict and any(s.failed for s in statuses):
        raise connections.connections_failed(statuses)
    return json_response({"data": [s.as_json() for s in statuses]})


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("1", "true", "0", "false"):
        raise ValidationFailed(f"{name} must be true or false", param=name)
    return raw in ("1", "true")


OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    (
        "post",
        "/admin/connections/initialize",
        "Add or update this project's provider instances (all validated before any change), open their "
        "connections and probe each; with no providers, open and probe the project's own instances",
        InitializeConnections,
        200,
    ),
    (
        "post",
        "/admin/connections/refresh",
        "Renew provider connections (requests in flight finish on the old pool), re-read their credentials from "
        "the vault and external stores, and probe each: a project's own providers, or every provider for a "
        "global admin (scope=global: the configuration file's; x-project-id or project=: one project's)",
        None,
        200,
    ),
)


def setup(r: Routes) -> None:
    r.add_post("/admin/connections/refresh", refresh_connections)
    r.add_post("/admin/connections/initialize", initialize_connections)
