"""Liveness, readiness, Prometheus metrics and the OpenAPI document (no gateway key needed; the metrics
ask for their own token when the operator sets ``METRICS_TOKEN``)."""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from api_connector.api.health_routes import refresh_gauges
from api_connector.api.middleware import Routes
from api_connector.api.openapi import openapi_document
from api_connector.api.render import json_response
from api_connector.api.services import SERVICES
from api_connector.errors import InvalidMetricsToken


async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok", "service": request.app[SERVICES].settings.service_name})


async def ready(request: web.Request) -> web.Response:
    """Ready when every dependency answers: the database (and Redis once it is configured)."""
    services = request.app[SERVICES]
    checks: dict[str, str] = {}
    try:
        await services.database.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready; the reason is in the answer
        checks["database"] = f"error: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    return json_response({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    token = services.settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        # Compared in constant time; a missing and a wrong token get the same answer.
        expected = token.get_secret_value().encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise InvalidMetricsToken("GET /metrics needs 'Authorization: Bearer <METRICS_TOKEN>'")
    await refresh_gauges(services)
    response = web.Response(body=services.metrics.render())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document(request.app))


def setup(routes: Routes) -> None:
    routes.add_get("/health", health)
    routes.add_get("/ready", ready)
    routes.add_get("/metrics", metrics)
    routes.add_get("/openapi.json", openapi)
