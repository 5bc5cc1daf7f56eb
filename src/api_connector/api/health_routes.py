"""Observability under /admin: provider health, alerts sent, metrics and usage statistics from roll-ups."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import Gauge

from api_connector.api.context import project_of
from api_connector.api.middleware import Routes
from api_connector.api.read_scope import ReadScope, key_owners, read_scope
from api_connector.api.render import json_response
from api_connector.api.services import SERVICES, Services
from api_connector.errors import NotFound, UnknownProvider, ValidationFailed
from api_connector.observability.health_monitor import HealthMonitor
from api_connector.observability.rollups import Rollups, parse_time_range


def _monitor(services: Services) -> HealthMonitor:
    if services.health is None:
        raise NotFound("health monitoring is not running in this process")
    return services.health


def rollups_of(services: Services) -> Rollups:
    if services.rollups is None:
        raise NotFound("usage roll-ups are not available in this process")
    return services.rollups


def health_reports(services: Services, project_id: str | None, provider: str | None) -> list[dict[str, Any]]:
    """Per provider ``project_id`` can use (the file's and its own; every project's with None): provider,
    is_healthy, response_time_ms, error_rate, last_checked, consecutive_failures, score (shared by the
    HTTP handler and the Connector)."""
    monitor = _monitor(services)
    reports = monitor.reports(project_id, provider)
    if provider is not None and not reports:
        raise NotFound(f"no provider named {provider!r}")
    return reports


_BREAKER_VALUES = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}


async def refresh_gauges(services: Services) -> None:
    """Gauges read at scrape time: queues, breaker states, provider health (nothing on the request path).

    Several targets or instances may share one label (the label policy hides projects' names, and
    same-named instances of different projects share theirs): each label shows the worst of them.
    """
    metrics = services.metrics
    metrics.record_queue_depth.set(services.writer.queued)
    metrics.queue_depth.labels("records").set(services.writer.queued)
    if services.routing is not None:
        metrics.queue_depth.labels("admission_in_flight").set(services.routing.admission.in_flight)
        states: dict[Gauge, int] = {}
        for target, state in (await services.routing.resilience.breakers.states()).items():
            gauge = metrics.breaker_state.labels(target)
            states[gauge] = max(states.get(gauge, 0), _BREAKER_VALUES.get(str(state.get("state")), 0))
        for gauge, state_value in states.items():
            gauge.set(state_value)
    if services.health is not None:
        worst: dict[Gauge, float] = {}
        for pool, report in services.health.pool_reports():
            score, healthy = metrics.health_score.labels(pool), metrics.provider_healthy.labels(pool)
            worst[score] = min(worst.get(score, 1.0), report["score"])
            worst[healthy] = min(worst.get(healthy, 1), int(report["is_healthy"]))
        for gauge, lowest in worst.items():
            gauge.set(lowest)


async def list_health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    project_id = read_scope(request).project_or_every()
    return json_response({"data": health_reports(services, project_id, request.query.get("provider"))})


async def provider_health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    project_id = read_scope(request).project_or_every()
    return json_response(health_reports(services, project_id, request.match_info["name"])[0])


async def check_now(request: web.Request) -> web.Response:
    """Run a provider's probe at once (this replica), then answer its report."""
    services = request.app[SERVICES]
    monitor = _monitor(services)
    name = request.match_info["name"]
    project_id = project_of(request)
    try:
        instance = services.catalog.instance(project_id, name)
    except UnknownProvider:
        raise NotFound(f"no provider named {name!r}") from None
    interval = monitor.interval(instance)
    if interval is None:
        raise ValidationFailed(f"provider {name!r} declares no health probe or has checks disabled")
    await monitor.check(instance, interval)
    return json_response(monitor.registry.report(instance.pool))


async def list_alerts(request: web.Request) -> web.Response:
    """The alerts this replica delivered about what the caller's scope owns: a project's own instances
    and budgets; the file's instances and global keys' budgets are the operator's (scope=global)."""
    monitor = _monitor(request.app[SERVICES])
    sent = monitor.alerts.sent if monitor.alerts is not None else []
    scope = read_scope(request, default_all=True)
    owners = await key_owners(request, scope)
    visible = [alert for alert in sent if _alert_visible(scope, alert, owners)]
    return json_response({"data": visible[-100:]})


def _alert_visible(scope: ReadScope, alert: dict[str, Any], owners: dict[str, str | None]) -> bool:
    data = alert["data"]
    if alert["type"] == "budget.threshold":  # about a project or a key, named by kind and id
        return scope.shows_subject(str(data["kind"]), str(data["id"]), owners)
    return scope.shows(data.get("project_id"))


async def get_metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    since, until, step = parse_time_range(request.query.get("time_range", "1h"), request.query.get("step"))
    data = await rollups_of(services).metrics(read_scope(request).project_or_every(), since, until, step)
    return json_response(data)


async def get_usage_stats(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    since, until, _ = parse_time_range(request.query.get("time_range", "30d"), None)
    project_id = read_scope(request).project_or_every()
    data = await rollups_of(services).usage_stats(project_id, request.query.get("provider"), since, until)
    return json_response(data)


OPERATIONS: tuple[tuple[str, str, str, None, int], ...] = (
    ("get", "/admin/health", "Health of every provider (?provider= for one)", None, 200),
    ("get", "/admin/health/{name}", "Health of one provider", None, 200),
    ("post", "/admin/health/{name}/check", "Run a provider's health probe now", None, 200),
    ("get", "/admin/alerts", "Alerts delivered by this replica (newest last)", None, 200),
    ("get", "/admin/metrics", "Requests, errors, latency, tokens and cost over ?time_range= (1h, 24h, 30d)", None, 200),
    ("get", "/admin/usage/stats", "Usage totals per provider and model (?provider=, ?time_range=)", None, 200),
)


def setup(r: Routes) -> None:
    r.add_get("/admin/health", list_health)
    r.add_get("/admin/health/{name}", provider_health)
    r.add_post("/admin/health/{name}/check", check_now)
    r.add_get("/admin/alerts", list_alerts)
    r.add_get("/admin/metrics", get_metrics)
    r.add_get("/admin/usage/stats", get_usage_stats)
