"""The services a handler may call, built once by ``create_app`` and kept on the application."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from api_connector.auth.authenticator import Authenticator, Principal
    from api_connector.auth.throttle import AuthThrottle
    from api_connector.config import GatewayConfig, ProviderConfig
    from api_connector.credentials.vault import CredentialVault
    from api_connector.governance.wiring import Governance
    from api_connector.observability.access_log import AccessLog, RequestIds
    from api_connector.observability.audit_retention import AuditRetention
    from api_connector.observability.health_monitor import HealthMonitor
    from api_connector.observability.metrics import Metrics
    from api_connector.observability.recorder import Recorder
    from api_connector.observability.redaction import Redactor
    from api_connector.observability.rollups import Rollups
    from api_connector.pipeline.pipeline import Pipeline
    from api_connector.routing.catalog import Catalog
    from api_connector.routing.exchange import Upstreams
    from api_connector.routing.failover import Resilience
    from api_connector.routing.model_lists import ModelLists
    from api_connector.routing.wiring import Routing
    from api_connector.settings import Settings
    from api_connector.storage.db import Database
    from api_connector.storage.keys import KeyStore
    from api_connector.storage.provider_store import ProviderStore
    from api_connector.storage.queries import AuditQueries, UsageQueries
    from api_connector.storage.record_writer import RecordWriter
    from api_connector.storage.request_audit import RequestAuditStore
    from api_connector.storage.response_store import ResponseStore
    from api_connector.storage.tenancy import TenancyStore
    from api_connector.transport.http import Transport


@dataclass(slots=True)
class Services:
    settings: Settings
    config: GatewayConfig
    redactor: Redactor
    metrics: Metrics
    database: Database
    tenancy: TenancyStore
    keys: KeyStore
    providers: ProviderStore
    usage_queries: UsageQueries
    audit_queries: AuditQueries
    authenticator: Authenticator
    catalog: Catalog
    pipeline: Pipeline
    upstreams: Upstreams
    resilience: Resilience
    writer: RecordWriter
    recorder: Recorder
    transport: Transport
    request_ids: RequestIds
    access_log: AccessLog | None
    default_project_id: str = ""
    extra: dict[str, Any] | None = None
    vault: CredentialVault | None = None
    routing: Routing | None = None
    governance: Governance | None = None
    health: HealthMonitor | None = None
    rollups: Rollups | None = None
    model_lists: ModelLists | None = None
    auth_throttle: AuthThrottle | None = None
    responses: ResponseStore | None = None  # only when the operator keeps Responses answers (RESPONSES_STORE)
    request_audits: RequestAuditStore | None = None  # the request audit's rows (GET/DELETE /admin/audit/requests)
    audit_retention: AuditRetention | None = None  # deletes them past retention_days


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal", "Principal")  # type: ignore[arg-type]
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
STARTED: web.RequestKey[float] = web.RequestKey("started", float)  # time.perf_counter() at arrival


def install_project_providers(services: Services, project_id: str, providers: list[tuple[str, ProviderConfig]]) -> None:
    """Replace a project's own instances; their connections are held to the SSRF policy."""
    services.catalog.set_project_providers(project_id, providers)
    for instance in services.catalog.instances(project_id):
        if instance.project_id == project_id:
            services.transport.configure_pool(instance.pool, max_connections=instance.max_connections, guarded=True)
    governance = services.governance
    if governance is not None and any(config.rate_limit is not None for _, config in providers):
        governance.provider_limits = True  # from now on every call is admitted against provider limits
