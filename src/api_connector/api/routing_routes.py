"""The routing admin API: routes as data, and what the router currently knows about each target.

``GET /admin/routes`` lists the configuration file's routes and the caller's project's own;
``PUT /admin/routes/{name}`` creates or replaces a project route (the same model as the file's
``routes:`` entries, validated the same way), which takes precedence over a file route of that name for
that project; ``DELETE`` removes it. ``GET /admin/routing/state`` shows breakers, latency and load per
target, admission control and the retry budget. Every change is audited.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api_connector.api.context import parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES, Services
from api_connector.auth.authenticator import Principal
from api_connector.config import RouteConfig
from api_connector.errors import ConnectorError, NotFound, ValidationFailed
from api_connector.routing.catalog import Route, Target
from api_connector.routing.wiring import Routing


def _routing(services: Services) -> Routing:
    if services.routing is None:
        raise ConnectorError("the routing layer is not configured")
    return services.routing


def _target_view(target: Target) -> dict[str, Any]:
    features = target.features
    return {
        "provider": target.instance.name,
        "model": target.model,
        "key": target.key,
        "weight": target.weight,
        "priority": target.priority,
        "credential": target.credential_ref,  # a reference, never a secret
        "max_in_flight": target.max_in_flight,
        "features": {
            "context_window": features.context_window,
            "tools": features.tools,
            "vision": features.vision,
            "streaming": features.streaming,
        },
        "price": None
        if target.price is None
        else {"input_per_mtok": target.price.input_per_mtok, "output_per_mtok": target.price.output_per_mtok},
    }


def _route_view(route: Route) -> dict[str, Any]:
    return {
        "name": route.name,
        "strategy": route.strategy.value,
        "source": "project" if route.project_id else "config",
        "targets": [_target_view(t) for t in route.targets],
    }


async def _audit(request: web.Request, action: str, name: str, project_id: str, **details: Any) -> None:
    principal: Principal = request[PRINCIPAL]
    await request.app[SERVICES].recorder.audit(
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id,
        project_id=project_id,
        action=action,
        target_type="route",
        target_id=name,
        details=details,
    )


async def _reload(services: Services, project_id: str) -> None:
    stored = await _routing(services).route_store.list(project_id)
    services.catalog.set_project_routes(project_id, [(r.name, RouteConfig.model_validate(r.config)) for r in stored])


async def list_routes(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    routes = services.catalog.routes(read_scope(request).project())
    return json_response({"data": [_route_view(r) for r in routes.values()]})


async def get_route(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    route = services.catalog.routes(read_scope(request).project()).get(request.match_info["name"])
    if route is None:
        raise NotFound(f"route {request.match_info['name']!r} not found")
    return json_response(_route_view(route))


async def put_route(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    routing = _routing(services)
    name = request.match_info["name"]
    project_id = project_of(request)
    config = parse_model(RouteConfig, await read_json(request))
    visible = {instance.name for instance in services.catalog.instances(project_id)}
    for index, target in enumerate(config.targets):
        if target.provider not in visible:
            raise ValidationFailed(f"targets.{index}.provider: no provider named {target.provider!r}", param="targets")
        if target.credential is None:
            continue
        if not target.credential.startswith("cred_"):
            # env:, vault: and aws: name the operator's secrets; a project route may use only its own.
            raise ValidationFailed(
                f"targets.{index}.credential: project routes use stored credentials (cred_<id>)", param="targets"
            )
        if services.vault is not None:
            await services.vault.check_owned(project_id, target.credential)
    stored, created = await routing.route_store.put(project_id, name, config.model_dump(mode="json"))
    name = stored.name  # as stored: the store trims surrounding blanks off a name
    await _reload(services, project_id)
    await _audit(request, "route.create" if created else "route.update", name, project_id)
    route = services.catalog.routes(project_id)[name]
    return json_response(_route_view(route), 201 if created else 200)


async def delete_route(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    name = request.match_info["name"]
    project_id = project_of(request)
    await _routing(services).route_store.delete(project_id, name)
    await _reload(services, project_id)
    await _audit(request, "route.delete", name, project_id)
    return web.Response(status=204)


async def routing_state(request: web.Request) -> web.Response:
    """Breakers and load of the targets the caller's scope can reach (a project: the file's and its
    own, never another project's, whose target keys name its instances, models and credentials)."""
    services = request.app[SERVICES]
    routing = _routing(services)
    resilience = routing.resilience
    admission = routing.admission
    breakers = await resilience.breakers.states()
    targets = resilience.stats.snapshot()
    scope = read_scope(request, default_all=True)
    if not scope.every:
        reachable = services.catalog.target_keys(scope.project_id)
        breakers = {key: state for key, state in breakers.items() if key in reachable}
        targets = {key: load for key, load in targets.items() if key in reachable}
    return json_response(
        {
            "breakers": breakers,
            "targets": targets,
            "admission": {"limit": admission.limit, "in_flight": admission.in_flight, "refused": admission.refused},
            "retry_budget": {"refused": resilience.budget.refused},
        }
    )


def setup(r: Routes) -> None:
    r.add_get("/admin/routes", list_routes)
    r.add_get("/admin/routes/{name}", get_route)
    r.add_put("/admin/routes/{name}", put_route)
    r.add_delete("/admin/routes/{name}", delete_route)
    r.add_get("/admin/routing/state", routing_state)


# (method, path, summary, request body model, success status) for api/openapi.py
OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    ("get", "/admin/routes", "Routes of the configuration file and of this project", None, 200),
    ("get", "/admin/routes/{name}", "One route with its targets, features and prices", None, 200),
    ("put", "/admin/routes/{name}", "Create or replace a route of this project", RouteConfig, 200),
    ("delete", "/admin/routes/{name}", "Remove a route of this project", None, 204),
    ("get", "/admin/routing/state", "Breakers, latency and load per target, admission, retry budget", None, 200),
)
