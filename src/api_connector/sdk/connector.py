"""``Connector``: the gateway's pipeline embedded in this process, with the same operations as ``Client``.

It builds the same services as the HTTP app (``app.build_services`` / ``prepare_storage``) and calls the
same functions the handlers call (``requests_routes.plan``/``execute``, the health and roll-up services),
acting as the default project with no gateway key.

    async with Connector() as connector:
        result = await connector.make_request("/models", provider="sandbox", method="GET")
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from api_connector.api import admin_routes, health_routes, requests_routes
from api_connector.api.context import validation_failed
from api_connector.api.render import envelope_error
from api_connector.api.services import Services
from api_connector.app import build_services, prepare_storage, shutdown
from api_connector.config import GatewayConfig
from api_connector.core.capabilities import Capability
from api_connector.errors import ConnectorError, UpstreamError
from api_connector.governance.flow import limited
from api_connector.observability.rollups import parse_time_range
from api_connector.routing.admission import parse_priority
from api_connector.routing.dispatch import CallContext
from api_connector.sdk.types import ErrorInfo, HealthStatus, ProviderInfo, RequestFailed, RequestMetadata, RequestResult
from api_connector.settings import Settings, load_settings


class Connector:
    def __init__(self, settings: Settings | None = None, config: GatewayConfig | None = None) -> None:
        self._settings = settings
        self._config = config
        self._services: Services | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the Connector is not started: use 'async with Connector() as c' or await start()")
        return self._services

    async def start(self) -> Connector:
        if self._services is None:
            services = build_services(self._settings or load_settings(), self._config)
            await prepare_storage(services)
            services.writer.start()
            if services.routing is not None:
                await services.routing.start()
            if services.health is not None:
                services.health.start()
            if services.rollups is not None:
                services.rollups.start()
            self._services = services
        return self

    async def close(self) -> None:
        if self._services is not None:
            services, self._services = self._services, None
            await shutdown(services)

    async def __aenter__(self) -> Connector:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- requests -----------------------------------------------------------------------------
    def _context(self, generic: requests_routes.GenericRequest, started: float) -> CallContext:
        services = self.services
        default_retries = services.catalog.config.resilience.retry.max_retries
        ctx = CallContext(
            request_id=services.request_ids.next(),
            project_id=services.default_project_id,
            key_id=None,
            capability=generic.capability or Capability.REQUESTS,
            deadline=started + generic.timeout if generic.timeout else None,
            retries=default_retries if generic.retries is None else generic.retries,
            started=started,
        )
        if services.recorder.tracing is not None:  # a child of the caller's current span, if any
            services.recorder.tracing.begin(ctx)
        return ctx

    def _parse(self, payload: dict[str, Any]) -> requests_routes.GenericRequest:
        try:
            return requests_routes.GenericRequest.model_validate(payload)
        except ValidationError as exc:
            raise validation_failed(exc) from None

    def _failed(self, error: ConnectorError, started: float, request_id: str) -> RequestResult:
        info = ErrorInfo.from_json(envelope_error(error, self.services.redactor))
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return RequestResult(False, RequestMetadata(error.provider, elapsed, False, request_id), None, info)

    async def make_request(self, endpoint: str, **options: Any) -> RequestResult:
        """Like ``POST /v1/requests``; options as its body (provider, capability, method, headers, body, ...)."""
        services = self.services
        started = time.perf_counter()
        ctx: CallContext | None = None
        try:
            generic = self._parse({"endpoint": endpoint, **{k: v for k, v in options.items() if v is not None}})
            ctx = self._context(generic, started)
            instance, headers, body = requests_routes.plan(services, ctx, generic)
            admission = services.routing.admission if services.routing is not None else None
            if admission is not None:
                admission.enter(parse_priority(generic.priority))
            try:
                async with limited(services, ctx):
                    envelope = await requests_routes.execute(services, ctx, generic, instance, headers, body, started)
            finally:
                if admission is not None:
                    admission.leave()
        except ConnectorError as error:
            return self._failed(error, started, ctx.request_id if ctx else "")
        return RequestResult.from_json(envelope)

    async def make_streaming_request(self, endpoint: str, **options: Any) -> AsyncIterator[bytes]:
        """Like ``POST /v1/requests/stream``: the body as it arrives; a failure raises ``RequestFailed``."""
        services = self.services
        started = time.perf_counter()
        try:
            generic = self._parse({"endpoint": endpoint, **{k: v for k, v in options.items() if v is not None}})
            ctx = self._context(generic, started)
            instance, headers, body = requests_routes.plan(services, ctx, generic)
            upstream = await services.dispatcher.open_raw_stream(
                ctx, instance, generic.method, generic.endpoint, headers, body
            )
        except ConnectorError as error:
            if "ctx" in locals():
                await services.recorder.finish(ctx, started=started, error=error)
            raise RequestFailed(ErrorInfo.from_json(envelope_error(error, services.redactor))) from None
        failure: ConnectorError | None = None
        try:
            async for chunk in upstream.chunks():
                yield services.redactor.scrub_body(chunk)
        except UpstreamError as error:
            failure = error
        finally:
            upstream.close()
            await services.recorder.finish(ctx, started=started, error=failure)
        if failure is not None:
            raise RequestFailed(ErrorInfo.from_json(envelope_error(failure, services.redactor)))

    # -- health, providers, metrics -----------------------------------------------------------
    async def check_connection_health(self, provider: str | None = None) -> list[HealthStatus]:
        try:
            reports = health_routes.health_reports(self.services, self.services.default_project_id, provider)
        except ConnectorError as error:
            raise RequestFailed(ErrorInfo.from_json(envelope_error(error, self.services.redactor))) from None
        return [HealthStatus.from_json(report) for report in reports]

    async def add_provider(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        services = self.services
        validated = admin_routes.validated_provider(name, config)
        project_id = services.default_project_id
        stored = await services.providers.create(
            project_id, name, validated.type, validated.model_dump(exclude_defaults=True)
        )
        await admin_routes.reload_project_providers(services, project_id)
        await services.recorder.audit(
            request_id=None,
            actor_key_id=None,
            project_id=project_id,
            action="provider.create",
            target_type="provider",
            target_id=name,
            details={"type": validated.type, "via": "connector"},
        )
        return dict(admin_routes.plain(stored))

    async def remove_provider(self, name: str) -> None:
        services = self.services
        project_id = services.default_project_id
        await services.providers.delete(project_id, name)
        await admin_routes.reload_project_providers(services, project_id)
        await services.recorder.audit(
            request_id=None,
            actor_key_id=None,
            project_id=project_id,
            action="provider.delete",
            target_type="provider",
            target_id=name,
            details={"via": "connector"},
        )

    async def list_providers(self) -> list[ProviderInfo]:
        entries = admin_routes.provider_entries(self.services, self.services.default_project_id)
        return [ProviderInfo.from_json(entry) for entry in entries]

    async def get_metrics(self, time_range: str = "1h", step: str | None = None) -> dict[str, Any]:
        since, until, every = parse_time_range(time_range, step)
        rollups = health_routes.rollups_of(self.services)
        return await rollups.metrics(self.services.default_project_id, since, until, every)

    async def get_usage_stats(self, provider: str | None = None, time_range: str = "30d") -> dict[str, Any]:
        since, until, _ = parse_time_range(time_range, None)
        rollups = health_routes.rollups_of(self.services)
        return await rollups.usage_stats(self.services.default_project_id, provider, since, until)

    # -- response cache (governance) -------------------------------------------------------------
    async def clear_cache(self, pattern: str = "*") -> int:
        governance = self.services.governance
        return 0 if governance is None else await governance.cache.clear(self.services.default_project_id, pattern)

    async def get_cache_stats(self) -> dict[str, Any]:
        governance = self.services.governance
        if governance is None:
            return {"hits": 0, "misses": 0, "hit_rate": 0.0, "entries": 0, "bytes": 0}
        return (await governance.cache.stats(self.services.default_project_id)).as_dict()
