"""``Connector``: the gateway's pipeline embedded in this process, with the same operations as ``Client``.

It builds the same services as the HTTP app (``app.build_services`` / ``prepare_storage``) and runs every
request through the same pipeline the HTTP routes run (admission, limits and budgets, cache, coalescing,
routing, retries, usage records), acting as the default project with no gateway key.

    async with Connector() as connector:
        result = await connector.make_request("/models", provider="sandbox", method="GET")
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from api_connector.api import admin_routes, connections, health_routes, speech_routes
from api_connector.api.context import validation_failed
from api_connector.api.render import envelope_error
from api_connector.api.requests_routes import envelope
from api_connector.api.services import Services
from api_connector.app import build_services, prepare_storage, shutdown
from api_connector.capabilities.requests import RAW, GenericRequest, RawRequest
from api_connector.config import GatewayConfig, load_config, parse_config
from api_connector.core.call import CacheAsk, Call
from api_connector.core.capabilities import Capability
from api_connector.core.connections import ConnectionStatus
from api_connector.errors import ConnectorError
from api_connector.observability.rollups import parse_time_range
from api_connector.sdk.types import (
    ErrorInfo,
    HealthStatus,
    ProviderInfo,
    RequestFailed,
    RequestMetadata,
    RequestResult,
    VoiceInfo,
    checked_statuses,
)
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
            if services.model_lists is not None:
                services.model_lists.start()
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
    def _call(self, generic: GenericRequest, started: float) -> Call:
        services = self.services
        default_retries = services.catalog.config.resilience.retry.max_retries
        tracing = services.recorder.tracing  # a child of the caller's current span, if any
        return Call(
            request_id=services.request_ids.next(),
            project_id=services.default_project_id,
            key_id=None,
            capability=generic.capability or Capability.REQUESTS,
            started=started,
            deadline=started + generic.timeout if generic.timeout else None,
            retries=default_retries if generic.retries is None else generic.retries,
            priority=generic.priority,
            cache=CacheAsk(ttl=generic.cache_ttl, key=generic.cache_key),
            tracing=tracing.begin(generic.capability or Capability.REQUESTS, None, started) if tracing else None,
        )

    def _parse(self, endpoint: str, options: dict[str, Any]) -> GenericRequest:
        payload = {"endpoint": endpoint, **{k: v for k, v in options.items() if v is not None}}
        try:
            return GenericRequest.model_validate(payload)
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
        request_id = ""
        try:
            generic = self._parse(endpoint, options)
            call = self._call(generic, started)
            request_id = call.request_id
            raw = RawRequest.plan(services.catalog, call.project_id, generic)
            async with services.pipeline.run(call, RAW, raw) as run:
                answer = envelope(run)
        except ConnectorError as error:
            return self._failed(error, started, request_id)
        return RequestResult.from_json(answer)

    async def make_streaming_request(self, endpoint: str, **options: Any) -> AsyncIterator[bytes]:
        """Like ``POST /v1/requests/stream``: the body as it arrives; a failure raises ``RequestFailed``."""
        services = self.services
        try:
            generic = self._parse(endpoint, options)
            call = self._call(generic, time.perf_counter())
            raw = RawRequest.plan(services.catalog, call.project_id, generic, stream=True)
        except ConnectorError as error:
            raise RequestFailed(ErrorInfo.from_json(envelope_error(error, services.redactor))) from None
        try:
            async with services.pipeline.run(call, RAW, raw) as run:
                assert run.stream is not None
                async for pieces in run.stream.batches():
                    for piece in pieces:
                        yield piece
        except ConnectorError as error:
            raise RequestFailed(ErrorInfo.from_json(envelope_error(error, services.redactor))) from None

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

    async def list_voices(self, provider: str) -> list[VoiceInfo]:
        """The voices a speech provider instance offers; a provider's own listing is fetched through the
        pipeline like any request (credential, limits, usage record)."""
        services = self.services
        call = Call(
            request_id=services.request_ids.next(),
            project_id=services.default_project_id,
            key_id=None,
            capability=Capability.REQUESTS,
            started=time.perf_counter(),
            retries=services.catalog.config.resilience.retry.max_retries,
        )
        try:
            voices, _ = await speech_routes.list_voices(services, call, provider)
        except ConnectorError as error:
            raise RequestFailed(ErrorInfo.from_json(envelope_error(error, services.redactor))) from None
        return [VoiceInfo.from_json(voice.as_json()) for voice in voices]

    async def get_metrics(self, time_range: str = "1h", step: str | None = None) -> dict[str, Any]:
        since, until, every = parse_time_range(time_range, step)
        rollups = health_routes.rollups_of(self.services)
        return await rollups.metrics(self.services.default_project_id, since, until, every)

    async def get_usage_stats(self, provider: str | None = None, time_range: str = "30d") -> dict[str, Any]:
        since, until, _ = parse_time_range(time_range, None)
        rollups = health_routes.rollups_of(self.services)
        return await rollups.usage_stats(self.services.default_project_id, provider, since, until)

    # -- connection lifecycle -------------------------------------------------------------------
    async def initialize_connections(
        self, config: GatewayConfig | Mapping[str, Any] | str | Path | None = None, *, strict: bool = False
    ) -> list[ConnectionStatus]:
        """Validate ``config`` (the configuration file's model, its mapping, or a YAML path), start with it
        (a running Connector is restarted on it), open every provider's pool and probe each.

        An invalid configuration raises ``RequestFailed`` (``config_error``) and changes nothing; a
        provider that cannot be reached is reported, and raised (``ConnectionsFailed``) only if ``strict``.
        """
        if config is not None:
            validated = _configuration(config)
            await self.close()
            self._config = validated
        await self.start()
        services = self.services
        statuses = await connections.initialize(services, connections.instances_in_reach(services, _every))
        await self._audit_connections("initialize", statuses)
        return checked_statuses(statuses, strict)

    async def refresh_connections(self, provider: str | None = None, *, strict: bool = False) -> list[ConnectionStatus]:
        """Renew every provider's pool (requests in flight finish on the old one), re-read credentials from
        the vault and external stores, and probe each again; ``provider`` narrows to one instance."""
        services = self.services
        instances = connections.instances_in_reach(services, _every)
        if provider is not None:
            instances = [i for i in instances if i.name == provider]
            if not instances:
                raise RequestFailed(ErrorInfo("not_found", f"no provider named {provider!r}"), 404)
        statuses = await connections.refresh(services, instances)
        await self._audit_connections("refresh", statuses)
        return checked_statuses(statuses, strict)

    async def _audit_connections(self, action: str, statuses: list[ConnectionStatus]) -> None:
        await connections.audit_connections(
            self.services,
            action,
            statuses,
            request_id=None,
            actor_key_id=None,
            project_id=None,
            reach="all",
            via="connector",
        )

    # -- response cache (governance) -------------------------------------------------------------
    async def clear_cache(self, pattern: str = "*") -> int:
        governance = self.services.governance
        return 0 if governance is None else await governance.cache.clear(self.services.default_project_id, pattern)

    async def get_cache_stats(self) -> dict[str, Any]:
        governance = self.services.governance
        if governance is None:
            return {"hits": 0, "misses": 0, "hit_rate": 0.0, "entries": 0, "bytes": 0}
        return (await governance.cache.stats(self.services.default_project_id)).as_dict()


def _every(_: str | None) -> bool:
    return True  # the embedded Connector is its process's operator: every instance is in reach


def _configuration(config: GatewayConfig | Mapping[str, Any] | str | Path) -> GatewayConfig:
    try:
        if isinstance(config, GatewayConfig):
            return config
        if isinstance(config, str | Path):
            return load_config(Path(config))
        return parse_config(dict(config))
    except ConnectorError as invalid:  # ConfigError: the caller's configuration, reported like any failure
        raise RequestFailed(ErrorInfo(invalid.code, invalid.message), 400) from None
