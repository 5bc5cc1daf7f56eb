"""``POST /admin/connections/refresh``: renew provider connections and re-read their credentials.

Whose providers: a project's key refreshes its project's own instances; a global admin key every
instance (the configuration file's and every project's) unless it names one project (``x-project-id``
or ``?project=``) or only the file's (``?scope=global``), as every admin read is scoped
(``api/read_scope.py``). ``?provider=`` narrows to one instance by name; ``?strict=true`` answers 503
``connections_failed`` (every status in its details) when a provider failed. Audited either way.
"""

from __future__ import annotations

from aiohttp import web

from api_connector.api import connections
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES
from api_connector.auth.authenticator import Principal
from api_connector.errors import NotFound, ValidationFailed


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
    principal: Principal = request[PRINCIPAL]
    await connections.audit_refresh(
        services,
        statuses,
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id,
        project_id=scope.project_id,
        reach=scope.reach.value,
        via="api",
    )
    if strict and any(s.failed for s in statuses):
        raise connections.connections_failed(statuses)
    return json_response({"data": [s.as_json() for s in statuses]})


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("1", "true", "0", "false"):
        raise ValidationFailed(f"{name} must be true or false", param=name)
    return raw in ("1", "true")


OPERATIONS: tuple[tuple[str, str, str, None, int], ...] = (
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
