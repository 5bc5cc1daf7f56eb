"""Admin API of governance: response cache (stats, clear by pattern), cost estimates, budgets, and the
caller limits of keys and projects.

Limits set here are stored (table ``limits``), replace the configuration file's entry of the same
subject, and apply at once on this replica and within a second on the others (``governance.live``).
A project administrator edits only its own project's and keys' limits, never above the operator's
limit for that subject in the file, and never one a global administrator set; every change is audited.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api_connector.api.context import parse_model, project_of, read_json
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import key_owners, read_scope
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, REQUEST_ID, SERVICES
from api_connector.core.usage import Usage
from api_connector.errors import (
    ConnectorError,
    InvalidLimit,
    LimitAboveCeiling,
    LimitExists,
    LimitLocked,
    NotFound,
    UnknownModel,
    ValidationFailed,
)
from api_connector.governance.cost import compute, estimate_tokens
from api_connector.governance.live import LiveLimits
from api_connector.governance.settings_model import LimitsConfig, LimitSpec
from api_connector.governance.wiring import Governance
from api_connector.storage.limit_store import LIMIT_FIELDS, StoredLimit, SubjectKind


class EstimateRequest(BaseModel):
    """A request to price before sending it: a chat body (``model``, ``messages``, ``max_tokens``), or
    token counts given outright."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[Any] | None = None
    prompt_tokens: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    completion_tokens: int | None = Field(None, ge=0)


class CacheClear(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pattern: str = Field("*", min_length=1, max_length=512)


def _governance(request: web.Request) -> Governance:
    gov = request.app[SERVICES].governance
    if gov is None:  # built by create_app always; a hand-made Services may leave it out
        raise ConnectorError("governance is not configured in this process")
    return gov


def _scope(request: web.Request) -> str | None:
    """The project asked about: a global admin sees every project unless it names one (?project=)."""
    return read_scope(request, default_all=True).project_or_every()


async def cache_stats(request: web.Request) -> web.Response:
    stats = await _governance(request).cache.stats(_scope(request))
    return json_response({"data": stats.as_dict()})


async def cache_clear(request: web.Request) -> web.Response:
    pattern = request.query.get("pattern")
    if pattern is None and request.can_read_body:
        pattern = parse_model(CacheClear, await read_json(request)).pattern
    removed = await _governance(request).cache.clear(_scope(request), pattern or "*")
    return json_response({"data": {"removed": removed}})


async def estimate(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    body = parse_model(EstimateRequest, await read_json(request))
    route = services.catalog.resolve(project_of(request), body.model)
    text = orjson.dumps(body.messages or []).decode()
    guessed_prompt, guessed_completion = estimate_tokens(text, body.max_tokens)
    prompt = body.prompt_tokens if body.prompt_tokens is not None else guessed_prompt
    completion = body.completion_tokens if body.completion_tokens is not None else guessed_completion
    usage = Usage(input_tokens=prompt, output_tokens=completion)
    costs = _governance(request).costs
    targets = []
    for target in route.targets:
        price = costs.price(target.instance.base_url, target.model, target.price, target.instance.name)
        targets.append(
            {
                "provider": target.instance.name,
                "model": target.model,
                "cost_usd": None if price is None else compute(price, usage),
                "input_per_mtok": None if price is None else price.input_per_mtok,
                "output_per_mtok": None if price is None else price.output_per_mtok,
            }
        )
    if not targets:
        raise UnknownModel(f"no target serves {body.model!r}")
    priced = [t["cost_usd"] for t in targets if t["cost_usd"] is not None]
    data = {
        "model": body.model,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "estimated": body.prompt_tokens is None,
        # The first target is where the request goes when all is well; the others are the failover's.
        "cost_usd": targets[0]["cost_usd"],
        "max_cost_usd": max(priced) if priced else None,
        "targets": targets,
    }
    return json_response({"data": data})


async def budgets(request: web.Request) -> web.Response:
    """Budgets of the projects and keys the caller's scope owns (a key's budget is its project's)."""
    rows = await _governance(request).budgets.status()
    scope = read_scope(request, default_all=True)
    owners = await key_owners(request, scope)
    return json_response({"data": [r for r in rows if scope.shows_subject(str(r["kind"]), str(r["id"]), owners)]})


class LimitBody(BaseModel):
    """A subject's limits, at least one; an absent field is no limit of that kind (the stored entry
    replaces the file's entry for the subject as a whole)."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(None, ge=1, le=1_000_000_000)
    requests_per_hour: int | None = Field(None, ge=1, le=1_000_000_000)
    tokens_per_minute: int | None = Field(None, ge=1, le=1_000_000_000_000)
    concurrent: int | None = Field(None, ge=1, le=1_000_000)


class NewLimit(LimitBody):
    kind: Literal["key", "project"]
    subject_id: str = Field(min_length=1, max_length=64)


_KINDS: dict[str, SubjectKind] = {"keys": "key", "projects": "project"}


def _live(request: web.Request) -> LiveLimits:
    live = _governance(request).live
    if live is None:
        raise ConnectorError("stored limits are not available in this process")
    return live


def _body(model: type[LimitBody], raw: dict[str, Any]) -> LimitBody:
    try:
        body = parse_model(model, raw)
    except ValidationFailed as exc:
        raise InvalidLimit(exc.message, param=exc.param) from None
    if not any(getattr(body, name) for name in LIMIT_FIELDS):
        raise InvalidLimit(f"give at least one limit: {', '.join(LIMIT_FIELDS)} (DELETE removes a limit)")
    return body


def _subject(request: web.Request) -> tuple[SubjectKind, str]:
    kind = _KINDS.get(request.match_info["kind"])
    if kind is None:
        raise NotFound("limits are kept for 'keys' and 'projects'")
    return kind, request.match_info["subject_id"]


async def _owner(request: web.Request, kind: SubjectKind, subject_id: str) -> str | None:
    """The project a subject belongs to (None: a global key), if the caller may reach it (404 otherwise)."""
    services = request.app[SERVICES]
    principal = request[PRINCIPAL]
    if kind == "project":
        if not principal.can_access_project(subject_id):
            raise NotFound(f"project {subject_id!r} not found")
        await services.tenancy.get_project(subject_id)
        return subject_id
    key = await services.keys.get(subject_id, None if principal.is_global_admin else principal.project_id)
    return key.project_id


def _ceiling(file: LimitsConfig, kind: SubjectKind, subject_id: str) -> LimitSpec | None:
    if kind == "project":
        return file.projects.get(subject_id)
    return file.keys.get(subject_id) or file.default_key


def _check_project_admin(file: LimitsConfig, kind: SubjectKind, subject_id: str, values: dict[str, Any]) -> None:
    """A project administrator may tighten the operator's limits for its subjects, never loosen them."""
    ceiling = _ceiling(file, kind, subject_id)
    for name in LIMIT_FIELDS if ceiling is not None else ():
        top = getattr(ceiling, name)
        if top is not None and (values[name] is None or values[name] > top):
            raise LimitAboveCeiling(f"{name} may be at most {top}: the operator's limit for this {kind}", param=name)


def _view(limit: StoredLimit) -> dict[str, Any]:
    return {
        "kind": limit.kind,
        "subject_id": limit.subject_id,
        "project_id": limit.project_id,
        **limit.values,
        "source": "api",
        "set_by_global": limit.set_by_global,
        "updated_at": limit.updated_at.isoformat(),
    }


async def _audit(request: web.Request, action: str, limit: StoredLimit, values: dict[str, Any]) -> None:
    await request.app[SERVICES].recorder.audit(
        request_id=request[REQUEST_ID],
        actor_key_id=request[PRINCIPAL].key_id,
        project_id=limit.project_id,
        action=action,
        target_type="limit",
        target_id=f"{limit.kind}:{limit.subject_id}",
        details=values,
    )


async def _write(
    request: web.Request, kind: SubjectKind, subject_id: str, body: LimitBody, create: bool
) -> web.Response:
    live = _live(request)
    is_global = request[PRINCIPAL].is_global_admin
    values = body.model_dump(include=set(LIMIT_FIELDS))
    project_id = await _owner(request, kind, subject_id)
    existing = await live.store.get(kind, subject_id)
    if existing is not None and create:
        raise LimitExists(f"the {kind} {subject_id!r} has a stored limit already; PUT replaces it")
    if not is_global:
        if existing is not None and existing.set_by_global:
            raise LimitLocked(f"the limit of this {kind} was set by a global administrator")
        _check_project_admin(live.file, kind, subject_id, values)
    stored, created = await live.store.put(kind, subject_id, project_id, values, is_global)
    await live.changed()
    await _audit(request, "limit.create" if created else "limit.update", stored, values)
    return json_response({"data": _view(stored)}, 201 if created else 200)


async def create_limit(request: web.Request) -> web.Response:
    body = _body(NewLimit, await read_json(request))
    assert isinstance(body, NewLimit)
    return await _write(request, body.kind, body.subject_id, body, create=True)


async def put_limit(request: web.Request) -> web.Response:
    kind, subject_id = _subject(request)
    return await _write(request, kind, subject_id, _body(LimitBody, await read_json(request)), create=False)


async def delete_limit(request: web.Request) -> web.Response:
    live = _live(request)
    principal = request[PRINCIPAL]
    kind, subject_id = _subject(request)
    existing = await live.store.get(kind, subject_id)
    reachable = existing is not None and (
        principal.is_global_admin
        or (existing.project_id is not None and principal.can_access_project(existing.project_id))
    )
    if existing is None or not reachable:
        raise NotFound(f"no stored limit for {kind} {subject_id!r}")
    if existing.set_by_global and not principal.is_global_admin:
        raise LimitLocked(f"the limit of this {kind} was set by a global administrator")
    await live.store.delete(kind, subject_id)
    await live.changed()
    await _audit(request, "limit.delete", existing, {})
    return web.Response(status=204)


async def _visible(request: web.Request) -> tuple[str | None, set[str] | None]:
    """The project whose limits the caller sees (None: all) and, for a project, its key ids."""
    scope = _scope(request)
    if scope is None:
        return None, None
    return scope, {key.id for key in await request.app[SERVICES].keys.list(scope)}


async def limits(request: web.Request) -> web.Response:
    """The limits in force: the file's, with the stored ones in their subjects' place."""
    live = _live(request)
    project, keys = await _visible(request)
    stored: dict[tuple[str, str], StoredLimit] = {(s.kind, s.subject_id): s for s in await live.store.list(project)}
    config = _governance(request).limiter.config
    view: dict[str, Any] = {"burst": config.burst, "default_key": None, "keys": {}, "projects": {}}
    if config.default_key is not None:
        view["default_key"] = config.default_key.model_dump(exclude_none=True)
    for kind, specs in (("key", config.keys), ("project", config.projects)):
        for subject_id, spec in specs.items():
            if keys is not None and subject_id not in (keys if kind == "key" else {project}):
                continue
            row = stored.get((kind, subject_id))
            entry = _view(row) if row is not None else {**spec.model_dump(exclude_none=True), "source": "config"}
            view[kind + "s"][subject_id] = entry
    return json_response({"data": view})


async def get_limit(request: web.Request) -> web.Response:
    kind, subject_id = _subject(request)
    await _owner(request, kind, subject_id)
    stored = await _live(request).store.get(kind, subject_id)
    if stored is not None:
        return json_response({"data": _view(stored)})
    config = _governance(request).limiter.config
    spec = (config.keys if kind == "key" else config.projects).get(subject_id)
    if spec is None:
        raise NotFound(f"no limit of its own for {kind} {subject_id!r}")
    return json_response({"data": {"kind": kind, "subject_id": subject_id, **spec.model_dump(), "source": "config"}})


OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    ("get", "/admin/cache/stats", "Response cache: hits, misses, hit rate, entries, bytes (?project=)", None, 200),
    ("delete", "/admin/cache", "Remove cached answers whose cache key matches ?pattern= (glob)", None, 200),
    ("post", "/admin/cache/clear", "Remove cached answers whose cache key matches the pattern", CacheClear, 200),
    ("post", "/admin/usage/estimate", "Estimate a request's cost (USD) before sending it", EstimateRequest, 200),
    ("get", "/admin/budgets", "Budgets, spend of the period, alert and stop state", None, 200),
    ("get", "/admin/limits", "Caller limits in force (file and stored), for the caller's reach", None, 200),
    ("post", "/admin/limits", "Store a limit of a key or project (409 limit_exists if it has one)", NewLimit, 201),
    ("get", "/admin/limits/{kind}/{subject_id}", "One subject's limit (kind: keys or projects)", None, 200),
    ("put", "/admin/limits/{kind}/{subject_id}", "Create or replace a subject's stored limit", LimitBody, 200),
    ("delete", "/admin/limits/{kind}/{subject_id}", "Remove a stored limit (the file's applies again)", None, 204),
)


def setup(routes: Routes) -> None:
    routes.add_get("/admin/cache/stats", cache_stats)
    routes.add_delete("/admin/cache", cache_clear)
    routes.add_post("/admin/cache/clear", cache_clear)
    routes.add_post("/admin/usage/estimate", estimate)
    routes.add_get("/admin/budgets", budgets)
    routes.add_get("/admin/limits", limits)
    routes.add_post("/admin/limits", create_limit)
    routes.add_get("/admin/limits/{kind}/{subject_id}", get_limit)
    routes.add_put("/admin/limits/{kind}/{subject_id}", put_limit)
    routes.add_delete("/admin/limits/{kind}/{subject_id}", delete_limit)
