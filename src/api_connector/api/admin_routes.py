"""The admin API: organizations, projects, gateway keys, provider instances, usage and audit.

A global admin key (no project) reaches everything; a project's admin key reaches only its project.
Every change is audited (through the batch writer, off the request path).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api_connector.api.context import check_project_access, parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES, Services, install_project_providers
from api_connector.auth.authenticator import Principal
from api_connector.config import ProviderConfig, parse_config
from api_connector.errors import ConfigError, PermissionDenied, ValidationFailed
from api_connector.routing.model_lists import Listing
from api_connector.transport.guard import check_base_url


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateOrganization(_Body):
    name: str = Field(min_length=1, max_length=100)


class CreateProject(_Body):
    organization_id: str
    name: str = Field(min_length=1, max_length=100)


class CreateKey(_Body):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=lambda: ["inference", "requests"])
    project_id: str | None = None  # global admins only; others create keys in their own project
    global_key: bool = False  # global admins only: a key for every project (must have admin scope)


class CreateProvider(_Body):
    name: str = Field(min_length=1, max_length=64)
    config: dict[str, Any]


def _plain(value: Any) -> Any:
    """Dataclass records to JSON-ready dicts (frozensets as sorted lists, datetimes as ISO strings)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    data = asdict(value)
    for key, item in data.items():
        if isinstance(item, frozenset | set):
            data[key] = sorted(item)
        elif isinstance(item, datetime):
            data[key] = item.isoformat()
    return data


def _global_only(request: web.Request) -> Principal:
    principal: Principal = request[PRINCIPAL]
    if not principal.is_global_admin:
        raise PermissionDenied("only a global admin key can do this")
    return principal


async def _audit(
    request: web.Request, action: str, target_type: str, target_id: str | None, project_id: str | None, **details: Any
) -> None:
    services = request.app[SERVICES]
    principal: Principal = request[PRINCIPAL]
    await services.recorder.audit(
        request_id=request[REQUEST_ID],
        actor_key_id=principal.key_id,
        project_id=project_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )


# -- organizations and projects ---------------------------------------------------------------------
async def list_organizations(request: web.Request) -> web.Response:
    _global_only(request)
    return json_response({"data": _plain(await request.app[SERVICES].tenancy.list_organizations())})


async def create_organization(request: web.Request) -> web.Response:
    _global_only(request)
    body = parse_model(CreateOrganization, await read_json(request))
    org = await request.app[SERVICES].tenancy.create_organization(body.name)
    await _audit(request, "organization.create", "organization", org.id, None)
    return json_response(_plain(org), 201)


async def list_projects(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    project_id = read_scope(request, default_all=True).project_or_every()
    if project_id is None:
        projects = await services.tenancy.list_projects(request.query.get("organization_id"))
    else:
        projects = [await services.tenancy.get_project(project_id)]
    return json_response({"data": _plain(projects)})


async def create_project(request: web.Request) -> web.Response:
    _global_only(request)
    body = parse_model(CreateProject, await read_json(request))
    project = await request.app[SERVICES].tenancy.create_project(body.organization_id, body.name)
    await _audit(request, "project.create", "project", project.id, project.id)
    return json_response(_plain(project), 201)


# -- gateway keys -----------------------------------------------------------------------------------
def _key_project(request: web.Request, named: str | None) -> str:
    if named is None:
        return project_of(request)
    check_project_access(request, named)
    return named


async def list_keys(request: web.Request) -> web.Response:
    scope = read_scope(request, default_all=True, named=request.query.get("project_id"))
    keys = await request.app[SERVICES].keys.list(scope.project_id)
    return json_response({"data": _plain([key for key in keys if scope.shows(key.project_id)])})


async def create_key(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = parse_model(CreateKey, await read_json(request))
    if body.global_key:
        _global_only(request)
        if "admin" not in body.scopes:
            raise ValidationFailed("a global key must have the admin scope", param="scopes")
        project_id: str | None = None
    else:
        project_id = _key_project(request, body.project_id)
    key, plaintext = await services.keys.create(project_id, body.name, body.scopes)
    await _audit(request, "key.create", "gateway_key", key.id, project_id, scopes=sorted(key.scopes))
    # The only time the plaintext is ever shown.
    return json_response({**_plain(key), "key": plaintext}, 201)


async def revoke_key(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    principal: Principal = request[PRINCIPAL]
    scope_project = None if principal.is_global_admin else project_of(request)
    key = await services.authenticator.revoke(request.match_info["key_id"], scope_project)
    await _audit(request, "key.revoke", "gateway_key", key.id, key.project_id)
    return json_response(_plain(key))


# -- provider instances -----------------------------------------------------------------------------
async def _reload_project_providers(services: Services, project_id: str) -> None:
    stored = await services.providers.list(project_id)
    install_project_providers(
        services, project_id, [(p.name, ProviderConfig.model_validate(p.config)) for p in stored]
    )


def _validated(name: str, config: dict[str, Any]) -> ProviderConfig:
    try:
        return parse_config({"providers": {name: config}}, source="provider").providers[name]
    except ConfigError as invalid:  # the caller's configuration, not the service's: a 400
        raise ValidationFailed(invalid.message.removeprefix("provider: "), param="config") from None


async def project_provider(services: Services, project_id: str, name: str, raw: dict[str, Any]) -> ProviderConfig:
    """A project's provider instance, validated: stored credentials only, a base URL the guard allows."""
    config = _validated(name, raw)
    if config.credential and not config.credential.startswith("cred_"):
        # env:, vault: and aws: name the operator's secrets; a project must not point them at its own URL.
        raise ValidationFailed(
            "config.credential: project providers use stored credentials (cred_<id>); env:, vault: and aws: "
            "references belong to the operator's configuration file",
            param="config.credential",
        )
    if config.base_url:
        check_base_url(config.base_url, services.settings.allow_private_upstreams)
    if config.credential and services.vault is not None:
        await services.vault.check_owned(project_id, config.credential)
    return config


def provider_entries(services: Services, project_id: str) -> list[dict[str, Any]]:
    """The instances a project can use, as listed by the API (and the embedded Connector)."""
    return [
        {
            "name": i.name,
            "type": i.spec.type,
            "base_url": i.base_url,
            "models": list(i.models),
            "capabilities": sorted(c.value for c in i.spec.endpoints),
            "source": "project" if i.project_id else "config",
        }
        for i in services.catalog.instances(project_id)
    ]


# Shared with the embedded Connector (sdk/connector.py), which performs the same operations.
validated_provider = _validated
reload_project_providers = _reload_project_providers
plain = _plain
audit_action = _audit


async def provider_models(request: web.Request) -> web.Response:
    """The models an instance serves: its live list (``?refresh=true`` asks the provider now), else the
    declared ones, with when it was listed and why the last listing failed, if it did."""
    services = request.app[SERVICES]
    instance = services.catalog.instance(read_scope(request).project(), request.match_info["name"])
    lists = services.model_lists
    if lists is None:
        listing = Listing(instance.models, "declared")
    elif request.query.get("refresh") in ("1", "true"):
        listing = await lists.refresh(instance)
    else:
        listing = lists.listing(instance)
    checked = listing.source == "live" and (instance.config is None or instance.config.check_models)
    fetched = datetime.fromtimestamp(listing.fetched_at, UTC).isoformat() if listing.fetched_at else None
    return json_response(
        {
            "provider": instance.name,
            "source": listing.source,
            "fetched_at": fetched,
            "checked": checked,  # whether a model outside this list is refused
            "error": listing.error,
            "models": list(listing.models),
        }
    )


async def list_providers(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return json_response({"data": provider_entries(services, read_scope(request).project())})


async def create_provider(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = parse_model(CreateProvider, await read_json(request))
    project_id = project_of(request)
    config = await project_provider(services, project_id, body.name, body.config)
    stored = await services.providers.create(
        project_id, body.name, config.type, config.model_dump(exclude_defaults=True)
    )
    await _reload_project_providers(services, project_id)
    await _audit(request, "provider.create", "provider", body.name, project_id, type=config.type)
    return json_response(_plain(stored), 201)


async def delete_provider(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    project_id = project_of(request)
    name = request.match_info["name"]
    await services.providers.delete(project_id, name)
    await _reload_project_providers(services, project_id)
    await _audit(request, "provider.delete", "provider", name, project_id)
    return web.Response(status=204)


# -- usage and audit --------------------------------------------------------------------------------
async def list_usage(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    limit = _limit(request)
    rows = await services.usage_queries.list_usage(read_scope(request).project(), None, None, limit)
    return json_response({"data": _plain(rows)})


async def usage_summary(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    project_id = read_scope(request).project_or_every()
    return json_response({"data": await services.usage_queries.usage_summary(project_id)})


async def list_audit(request: web.Request) -> web.Response:
    """A project's events; for a global admin also every event (scope=all) or the operator's events,
    which belong to no project (scope=global: master-key rotation and retirement, organizations)."""
    services = request.app[SERVICES]
    scope = read_scope(request)
    rows = await services.audit_queries.list_audit(
        scope.project_id,
        unowned=scope.unowned_only,
        action=request.query.get("action"),
        limit=_limit(request),
        since=_since(request),
        credential_id=request.query.get("credential_id"),
    )
    return json_response({"data": _plain(rows)})


def _since(request: web.Request) -> datetime | None:
    return query_time(request, "since")


def query_time(request: web.Request, name: str) -> datetime | None:
    """An ISO 8601 time from the query (UTC when it names no zone); None when absent."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"{name} must be an ISO 8601 time", param=name) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _limit(request: web.Request) -> int:
    return query_limit(request)


def query_limit(request: web.Request) -> int:
    """How many rows a list may answer (``limit``, clamped to 1..1000; default 100)."""
    try:
        return max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        raise ValidationFailed("limit must be a whole number", param="limit") from None


def setup(r: Routes) -> None:
    r.add_get("/admin/organizations", list_organizations)
    r.add_post("/admin/organizations", create_organization)
    r.add_get("/admin/projects", list_projects)
    r.add_post("/admin/projects", create_project)
    r.add_get("/admin/keys", list_keys)
    r.add_post("/admin/keys", create_key)
    r.add_delete("/admin/keys/{key_id}", revoke_key)
    r.add_get("/admin/providers", list_providers)
    r.add_post("/admin/providers", create_provider)
    r.add_delete("/admin/providers/{name}", delete_provider)
    r.add_get("/admin/providers/{name}/models", provider_models)
    r.add_get("/admin/usage", list_usage)
    r.add_get("/admin/usage/summary", usage_summary)
    r.add_get("/admin/audit", list_audit)
