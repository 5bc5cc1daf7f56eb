"""Admin API of governance: response cache (stats, clear by pattern), cost estimates, budgets, limits."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api_connector.api.context import check_project_access, parse_model, project_of, read_json
from api_connector.api.render import json_response
from api_connector.api.services import PRINCIPAL, SERVICES
from api_connector.core.usage import Usage
from api_connector.errors import ConnectorError, UnknownModel
from api_connector.governance.cost import compute, estimate_tokens
from api_connector.governance.wiring import Governance


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
    named = request.query.get("project")
    if named:
        check_project_access(request, named)
        return named
    return None if request[PRINCIPAL].is_global_admin and "x-project-id" not in request.headers else project_of(request)


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
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
    costs = _governance(request).costs
    targets = []
    for target in route.targets:
        price = costs.price(target.instance.base_url, target.model, target.price)
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
    rows = await _governance(request).budgets.status()
    scope = _scope(request)
    if scope is not None:
        rows = [r for r in rows if r["kind"] != "project" or r["id"] == scope]
    return json_response({"data": rows})


async def limits(request: web.Request) -> web.Response:
    config = request.app[SERVICES].config.limits
    return json_response({"data": config.model_dump(exclude_none=True)})


OPERATIONS: tuple[tuple[str, str, str, type[BaseModel] | None, int], ...] = (
    ("get", "/admin/cache/stats", "Response cache: hits, misses, hit rate, entries, bytes (?project=)", None, 200),
    ("delete", "/admin/cache", "Remove cached answers whose cache key matches ?pattern= (glob)", None, 200),
    ("post", "/admin/cache/clear", "Remove cached answers whose cache key matches the pattern", CacheClear, 200),
    ("post", "/admin/usage/estimate", "Estimate a request's cost (USD) before sending it", EstimateRequest, 200),
    ("get", "/admin/budgets", "Budgets, spend of the period, alert and stop state", None, 200),
    ("get", "/admin/limits", "Configured caller limits (keys, projects)", None, 200),
)


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/cache/stats", cache_stats)
    app.router.add_delete("/admin/cache", cache_clear)
    app.router.add_post("/admin/cache/clear", cache_clear)
    app.router.add_post("/admin/usage/estimate", estimate)
    app.router.add_get("/admin/budgets", budgets)
    app.router.add_get("/admin/limits", limits)
