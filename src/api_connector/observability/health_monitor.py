"""Active health checks: each provider's cheap probe on its interval, one replica at a time.

With Redis, the replica that claims ``health:lock:<pool>`` (``storage.shared_state``, for one interval)
runs the probe and publishes the result under ``health:result:<pool>``; the others read that result when
the check is due, so every replica sees every check and the provider sees one probe per interval.
Without Redis the process runs every check itself. After each round the alert manager looks at the
reports (off the request path).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from api_connector.core.call import Call
from api_connector.core.capabilities import Capability
from api_connector.core.exchange import Outbound
from api_connector.errors import ConnectorError
from api_connector.observability.health import HealthRegistry, now_utc, provider_name
from api_connector.observability.logging import get_logger
from api_connector.routing.attempts import AttemptLog
from api_connector.routing.catalog import Catalog, ProviderInstance, Target
from api_connector.routing.classify import classify_status
from api_connector.routing.exchange import Upstreams
from api_connector.transport.http import Timeouts

if TYPE_CHECKING:
    from api_connector.observability.alerts import AlertManager
    from api_connector.observability.redaction import Redactor
    from api_connector.storage.shared_state import SharedState

log = get_logger("api_connector.health")


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    ok: bool
    elapsed_ms: float | None  # None when no answer came
    error: str | None = None  # why not, scrubbed of secrets
    code: str | None = None  # the error tree's stable code (auth_failed, timeout, ...)


_TICK = 0.25  # how often the loop looks for due checks (seconds)


class HealthMonitor:
    def __init__(
        self,
        registry: HealthRegistry,
        catalog: Catalog,
        upstreams: Upstreams,
        redactor: Redactor,
        *,
        shared: SharedState | None = None,
        alerts: AlertManager | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.catalog = catalog
        self._upstreams = upstreams
        self._redactor = redactor
        self._shared = shared
        self.alerts = alerts
        self._clock = clock
        self._due: dict[str, float] = {}
        self._running: dict[str, asyncio.Task[None]] = {}
        self._failing: set[str] = set()  # pools whose last probe here failed (logged once per run)
        self._loop: asyncio.Task[None] | None = None
        self.probes_sent = 0  # this replica's probes (tests count them across replicas)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.registry.config.enabled and self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="health-monitor")

    async def close(self) -> None:
        tasks = [t for t in (self._loop, *self._running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._loop = None
        if self.alerts is not None:
            await self.alerts.close()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # one bad round must not end monitoring
                log.exception("health round failed")
            await asyncio.sleep(_TICK)

    # -- one round ----------------------------------------------------------------------------
    def instances(self, project_id: str | None = None) -> list[ProviderInstance]:
        """What ``project_id`` may see (the file's instances and its own); every project's when None."""
        if project_id is not None:
            return self.catalog.instances(project_id)
        seen: dict[str, ProviderInstance] = {i.pool: i for i in self.catalog.instances(None)}
        for project in self.catalog.project_ids():
            for instance in self.catalog.instances(project):
                seen.setdefault(instance.pool, instance)
        return list(seen.values())

    def interval(self, instance: ProviderInstance) -> float | None:
        """Seconds between checks; None when the provider is not checked."""
        if instance.spec.probe is None or (not instance.base_url and instance.spec.local is None):
            return None
        own = instance.config.health_check if instance.config is not None else None
        if own is not None:
            return own.interval if own.enabled else None
        return self.registry.config.default_interval

    async def tick(self) -> None:
        now = self._clock()
        for instance in self.instances():
            key = instance.pool
            interval = self.interval(instance)
            if interval is None or key in self._running:
                continue
            if self._due.get(key, 0.0) > now:
                continue
            self._due[key] = now + interval
            task = asyncio.create_task(self.check(instance, interval))
            self._running[key] = task
            task.add_done_callback(functools.partial(self._finished, key))
        if self.alerts is not None:
            self.alerts.evaluate([(key, self.registry.report(key)) for key in self.registry.pool_keys()])

    def _finished(self, key: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)

    async def check(self, instance: ProviderInstance, interval: float) -> None:
        """Run the probe if this replica holds the lock; otherwise take the published result."""
        key = instance.pool
        if self._shared is not None:
            held = await self._shared.claim_ms(f"health:lock:{key}", max(1, int(interval * 1000)))
            if not held:
                raw = await self._shared.get(f"health:result:{key}")
                if raw:
                    self.registry.apply_shared(key, orjson.loads(raw))
                return
        ok, elapsed_ms, error = await self.probe(instance)
        checked = now_utc()
        self.registry.record_probe(key, ok, elapsed_ms, checked, error)
        if ok:
            self._failing.discard(key)
        elif key not in self._failing:
            # Once per run of failing probes, not every interval; the reason names no URL, only the answer.
            self._failing.add(key)
            log.warning("health probe failed", provider=instance.name, reason=error)
        if self._shared is not None:
            state = self.registry.state(key)
            shared = {
                "ok": ok,
                "response_time_ms": elapsed_ms,
                "last_checked": checked.isoformat(),
                "error": error,
                "consecutive_failures": state.consecutive_failures,
            }
            ttl = max(1, int(interval * 10))
            await self._shared.put(f"health:result:{key}", orjson.dumps(shared), ttl)

    async def probe(self, instance: ProviderInstance) -> tuple[bool, float | None, str | None]:
        """The provider's declared probe with its own credential: (ok, milliseconds, why not)."""
        outcome = await self.probe_outcome(instance)
        return outcome.ok, outcome.elapsed_ms, outcome.error

    async def probe_outcome(self, instance: ProviderInstance) -> ProbeOutcome:
        """The probe's verdict with the stable code of its failure (a connection refresh reports it)."""
        probe = instance.spec.probe
        assert probe is not None
        self.probes_sent += 1
        cap = self.registry.config.probe_timeout
        limits = Timeouts(
            connect=min(instance.timeouts.connect, cap),
            read=min(instance.timeouts.read, cap),
            total=min(instance.timeouts.total, cap),
        )
        target = Target(dataclasses.replace(instance, timeouts=limits), "")
        started = time.perf_counter()
        project = instance.project_id or ""
        call = Call(f"health-{instance.name}", project, None, Capability.REQUESTS, started, retries=0)
        try:
            response = await self._upstreams.exchange(call, AttemptLog(), target).send(
                Outbound(probe.path, method=probe.method)
            )
        except ConnectorError as error:
            return ProbeOutcome(False, None, self._redactor.scrub(error.message), error.code)
        except (OSError, TimeoutError) as error:
            return ProbeOutcome(False, None, type(error).__name__, "connect_error")
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        if response.status in probe.ok_statuses:
            return ProbeOutcome(True, elapsed)
        code = classify_status(response.status, None, response.headers, provider=instance.name).code
        if 300 <= response.status < 400:  # the transport never follows one: say so, not where it pointed
            why = f"probe answered HTTP {response.status}: a redirect, which is not followed"
            return ProbeOutcome(False, elapsed, why, code)
        return ProbeOutcome(False, elapsed, f"probe answered HTTP {response.status}", code)

    def reports(self, project_id: str | None = None, provider: str | None = None) -> list[dict[str, Any]]:
        """The report of every instance ``project_id`` can use (or of the one named ``provider``),
        including instances not checked or called yet; with no project, every instance's."""
        reports = [
            report
            for key, report in self.pool_reports(project_id)
            if provider is None or provider_name(key) == provider
        ]
        return sorted(reports, key=lambda r: r["provider"])

    def pool_reports(self, project_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """(pool key, report) of every instance ``project_id`` can use; the key says whose instance it is."""
        keys = {i.pool for i in self.instances(project_id)}
        if project_id is None:  # the operator's view: also instances removed since they were seen
            keys.update(self.registry.pool_keys())
        return [(key, self.registry.report(key)) for key in keys]
