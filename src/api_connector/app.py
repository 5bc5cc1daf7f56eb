"""``create_app(settings)``: wires every service, route and middleware. Nothing here is global."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from aiohttp import web

from api_connector.api import (
    admin_routes,
    anthropic_routes,
    audit_routes,
    connections_routes,
    credentials_routes,
    dlq_routes,
    embeddings_routes,
    governance_routes,
    health_routes,
    live_routes,
    openai_routes,
    requests_routes,
    rerank_routes,
    responses_routes,
    routing_routes,
    speech_routes,
    system_routes,
    transcription_routes,
)
from api_connector.api.middleware import Routes
from api_connector.api.services import SERVICES, Services, install_project_providers
from api_connector.auth.authenticator import Authenticator
from api_connector.auth.keys import Scope
from api_connector.auth.throttle import AuthThrottle
from api_connector.config import GatewayConfig, ProviderConfig, load_config
from api_connector.credentials.resolver import CredentialResolver
from api_connector.credentials.wiring import build_vault
from api_connector.governance.wiring import build_governance
from api_connector.observability.access_log import AccessLog, RequestIds
from api_connector.observability.alerts import AlertManager
from api_connector.observability.audit_retention import AuditRetention
from api_connector.observability.health import HealthRegistry
from api_connector.observability.health_monitor import HealthMonitor
from api_connector.observability.logging import get_logger
from api_connector.observability.metric_labels import MetricLabels
from api_connector.observability.metrics import Metrics
from api_connector.observability.payloads import AuditPolicies
from api_connector.observability.recorder import Recorder
from api_connector.observability.redaction import Redactor
from api_connector.observability.rollups import Rollups
from api_connector.observability.tracing import Tracing
from api_connector.pipeline.pipeline import Pipeline
from api_connector.routing.catalog import Catalog
from api_connector.routing.exchange import Upstreams
from api_connector.routing.model_lists import ModelLists
from api_connector.routing.wiring import Routing, build_routing, load_project_routes
from api_connector.settings import Settings, environment
from api_connector.storage.db import Database
from api_connector.storage.keys import KeyStore
from api_connector.storage.provider_store import ProviderStore
from api_connector.storage.queries import AuditQueries, UsageQueries
from api_connector.storage.record_writer import RecordWriter
from api_connector.storage.request_audit import RequestAuditStore
from api_connector.storage.response_store import ResponseStore
from api_connector.storage.shared_state import SharedState
from api_connector.storage.tenancy import TenancyStore
from api_connector.transport.http import Transport

log = get_logger("api_connector.app")
_LAST_USED_FLUSH_SECONDS = 30.0


def build_services(
    settings: Settings,
    config: GatewayConfig | None = None,
    redactor: Redactor | None = None,
    access_stream: TextIO | None = None,
) -> Services:
    """Every service of one process; shared by the HTTP app and the embedded Connector."""
    config = config if config is not None else load_config(settings.api_connector_config)
    redactor = redactor or Redactor()
    if settings.api_connector_admin_key:
        redactor.add(settings.api_connector_admin_key.get_secret_value())
    if settings.metrics_token:
        redactor.add(settings.metrics_token.get_secret_value())
    database = Database.from_settings(settings)
    keys = KeyStore(database)
    catalog = Catalog(config)
    transport = Transport(user_agent=f"{settings.service_name}/0.1", allow_private=settings.allow_private_upstreams)
    for instance in catalog.instances(None):
        transport.configure_pool(instance.pool, max_connections=instance.max_connections)
    metrics = Metrics(settings.prometheus_multiproc_dir, _label_policy(settings, catalog))
    writer = RecordWriter(
        database,
        queue_size=settings.record_queue_size,
        batch_size=settings.record_batch_size,
        flush_interval=settings.record_flush_interval,
        # Records the database refuses, or that outlive a shutdown during an outage, land here.
        spill_path=settings.data_dir / "unwritten-records.jsonl",
    )
    resolver = CredentialResolver(environment(), redactor)
    _learn_environment_secrets(config, resolver)
    routing = build_routing(settings, config, database, writer, redactor)
    # Small values replicas share (model lists, failed-authentication counts, health checks, alerts, the
    # limits' version), on the routing layer's connection to Redis (one pool per process).
    shared = SharedState(routing.shared) if routing.shared is not None else None
    recorder = Recorder(metrics, writer)
    # Before the pipeline: its record layer reads them.
    audit_policies = recorder.audit_policies = AuditPolicies(config.audit)
    governance = build_governance(settings, config, routing.shared, shared, database)
    recorder.governance = governance
    upstreams = Upstreams(transport, resolver, governance.after_attempt)
    pipeline = Pipeline(
        catalog=catalog,
        resilience=routing.resilience,
        upstreams=upstreams,
        recorder=recorder,
        redactor=redactor,
        governance=governance,
        admission=routing.admission,
        dead_letters=routing.dead_letters,
    )
    vault = build_vault(settings, database, recorder.audit, redactor, resolver, upstreams)
    request_audits = RequestAuditStore(database, audit_policies.retention_days)
    return Services(
        settings=settings,
        config=config,
        redactor=redactor,
        metrics=metrics,
        database=database,
        tenancy=TenancyStore(database),
        keys=keys,
        providers=ProviderStore(database),
        usage_queries=UsageQueries(database),
        audit_queries=AuditQueries(database),
        authenticator=Authenticator(keys, cache_ttl=settings.key_cache_ttl),
        catalog=catalog,
        pipeline=pipeline,
        upstreams=upstreams,
        resilience=routing.resilience,
        writer=writer,
        recorder=recorder,
        transport=transport,
        request_ids=RequestIds(),
        access_log=AccessLog(settings.service_name, access_stream) if settings.access_log_enabled else None,
        vault=vault,
        routing=routing,
        governance=governance,
        rollups=Rollups(database),
        model_lists=_model_lists(settings, catalog, upstreams, shared),
        auth_throttle=AuthThrottle(settings.auth_failure_limit, settings.auth_failure_window, shared=shared),
        health=_build_health(settings, config, catalog, upstreams, redactor, recorder, routing, shared),
        responses=ResponseStore(database, settings.responses_store_days) if settings.responses_store else None,
        request_audits=request_audits,
        audit_retention=AuditRetention(request_audits, audit_policies, config.audit.purge_interval),
    )


def _learn_environment_secrets(config: GatewayConfig, resolver: CredentialResolver) -> None:
    """The configuration's ``env:`` credentials are known secrets from the start, not from their first
    use: what callers send (kept by the request audit) is masked of them even before any call used one."""
    references = [provider.credential for provider in config.providers.values()]
    references += [target.credential for route in config.routes.values() for target in route.targets]
    for reference in references:
        if reference is not None and reference.startswith("env:"):
            resolver.known(reference)  # reading one teaches the redactor its value


def _label_policy(settings: Settings, catalog: Catalog) -> MetricLabels:
    """The names metric labels may carry: the configuration file's instances and models (projects add
    their own at run time, and those stay out of labels unless METRICS_PROJECT_LABELS is on)."""
    instances = catalog.instances(None)
    models = {model for instance in instances for model in instance.models}
    models.update(target.model for route in catalog.routes(None).values() for target in route.targets)
    return MetricLabels(
        (instance.name for instance in instances), models, project_labels=settings.metrics_project_labels
    )


def _model_lists(settings: Settings, catalog: Catalog, upstreams: Upstreams, shared: SharedState | None) -> ModelLists:
    """Providers' live model lists, shared by the replicas through Redis when there is one; routing
    refuses a model a live list lacks (``Catalog.offers``)."""
    lists = ModelLists(catalog, upstreams, ttl=settings.model_list_ttl, shared=shared)
    catalog.offers = lists.offers
    return lists


def _build_health(
    settings: Settings,
    config: GatewayConfig,
    catalog: Catalog,
    upstreams: Upstreams,
    redactor: Redactor,
    recorder: Recorder,
    routing: Routing,
    shared: SharedState | None,
) -> HealthMonitor:
    """Passive health from the recorder, probes from the monitor, the unhealthy set to the router."""
    registry = HealthRegistry(config.health)
    recorder.health = registry
    if settings.tracing_enabled:
        recorder.tracing = Tracing()
    routing.resilience.unhealthy = registry.unhealthy
    alerts = None
    if config.alerts.webhooks:
        alerts = AlertManager(
            config.alerts,
            redactor,
            environment(),
            shared=shared,
            allow_private=settings.allow_private_upstreams,
            transport=upstreams.transport,  # webhooks go out through the same client as every other call
        )
    return HealthMonitor(
        registry,
        catalog,
        upstreams,
        redactor,
        shared=shared,
        alerts=alerts,
    )


async def prepare_storage(services: Services, *, announce: TextIO | None = None) -> None:
    """Migrate, make the default tenancy, and make sure an admin key exists (printed once if generated)."""
    await services.database.migrate()
    _, project = await services.tenancy.ensure_default()
    services.default_project_id = project.id
    settings = services.settings
    if services.vault is not None:
        await services.vault.start()
    if settings.api_connector_admin_key:
        await services.keys.ensure_bootstrap(settings.api_connector_admin_key.get_secret_value())
    elif not any(k.project_id is None and k.active for k in await services.keys.list(None)):
        key, plaintext = await services.keys.create(None, "bootstrap", [Scope.ADMIN, Scope.INFERENCE, Scope.REQUESTS])
        out = announce or sys.stderr
        # Printed, not logged: the log scrubs keys, and this is the one time anyone can see it.
        print(
            f"api-connector: generated admin key {key.id} (shown once, store it now): {plaintext}", file=out, flush=True
        )
    for stored_project in await services.tenancy.list_projects():
        stored = await services.providers.list(stored_project.id)
        if stored:
            install_project_providers(
                services, stored_project.id, [(p.name, ProviderConfig.model_validate(p.config)) for p in stored]
            )
    if services.routing is not None:
        await load_project_routes(services.routing, services.catalog, services.tenancy)
    if services.governance is not None:  # stored limits, budgets' spend, shared state between replicas
        alerts = services.health.alerts if services.health is not None else None
        await services.governance.start(services.usage_queries, alerts)


async def _flush_metrics(services: Services) -> None:
    # Requests flush their metrics at most once a second themselves; this covers a worker gone idle.
    while True:
        await asyncio.sleep(1.0)
        services.recorder.flush_metrics()


async def _flush_last_used(services: Services) -> None:
    while True:
        await asyncio.sleep(_LAST_USED_FLUSH_SECONDS)
        try:
            await services.authenticator.flush_last_used()
        except Exception:  # a database hiccup must not end the loop; it is retried next round
            log.warning("could not record key last-use times")


def create_app(
    settings: Settings,
    config: GatewayConfig | None = None,
    redactor: Redactor | None = None,
    log_stream: TextIO | None = None,
) -> web.Application:
    services = build_services(settings, config, redactor, log_stream)
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SERVICES] = services
    modules = (
        openai_routes,
        rerank_routes,
        embeddings_routes,
        requests_routes,
        admin_routes,
        credentials_routes,
        routing_routes,
        dlq_routes,
        health_routes,
        governance_routes,
        anthropic_routes,
        responses_routes,
        speech_routes,
        transcription_routes,
        live_routes,
        audit_routes,
        connections_routes,
    )
    routes = Routes(app)
    for module in (*modules, system_routes):
        module.setup(routes)
    routes.add_fallback()  # last: what no route above matches
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    services = app[SERVICES]
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
    if services.audit_retention is not None:
        services.audit_retention.start()
    flushers = [asyncio.create_task(_flush_last_used(services)), asyncio.create_task(_flush_metrics(services))]
    log.info("started", providers=len(services.catalog.instances(None)))
    yield
    for flusher in flushers:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
    services.recorder.flush_metrics()
    await shutdown(services)


async def shutdown(services: Services) -> None:
    """Flush everything still queued, then let go of connections. Safe to call once."""
    with contextlib.suppress(Exception):
        await services.authenticator.flush_last_used()
    if services.governance is not None:  # first: its last settlements and alerts need Redis and webhooks
        await services.governance.close()
    if services.health is not None:
        await services.health.close()
    if services.rollups is not None:
        await services.rollups.close()
    if services.model_lists is not None:
        await services.model_lists.close()
    if services.audit_retention is not None:
        await services.audit_retention.close()
    if services.routing is not None:
        await services.routing.close()  # breaker counts still buffered go to Redis first
    await services.writer.close()
    if services.access_log is not None:
        services.access_log.flush()
    await services.transport.close()
    await services.database.close()
