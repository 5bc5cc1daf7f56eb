"""Alerts on provider incidents, POSTed to webhooks signed per the Standard Webhooks scheme.

An incident opens when a provider's consecutive failures, live error rate or p95 latency crosses its
threshold; it produces one ``provider.unhealthy`` alert however long it lasts (no storms), and one
``provider.recovered`` alert when every condition has cleared. Each delivery carries ``webhook-id``
(the same on every retry, so receivers can de-duplicate), ``webhook-timestamp`` and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where the key is
the base64 part of the ``whsec_...`` secret. Failed deliveries are retried with exponential backoff.
``format: slack`` sends a Slack incoming-webhook payload (``{"text": ...}``) instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from api_connector.observability.logging import get_logger
from api_connector.observability.redaction import Redactor
from api_connector.observability.settings_model import AlertsConfig, WebhookConfig

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("api_connector.alerts")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def resolve_secret(value: str | None, environ: Mapping[str, str]) -> str | None:
    """A webhook secret given as ``env:NAME`` is read from the environment (configuration holds references)."""
    if value is None:
        return None
    if value.startswith("env:"):
        return environ.get(value[4:])
    return value


class AlertManager:
    def __init__(
        self,
        config: AlertsConfig,
        redactor: Redactor,
        environ: Mapping[str, str] | None = None,
        *,
        redis: Redis | None = None,
        prefix: str = "apc:",
    ) -> None:
        self.config = config
        # With several replicas, each sees the incident; a Redis key decides which one announces it.
        self._redis = redis
        self._prefix = prefix
        self._redactor = redactor
        self._secrets: list[str | None] = []
        for hook in config.webhooks:
            secret = resolve_secret(hook.secret.get_secret_value() if hook.secret else None, environ or {})
            if secret:
                redactor.add(secret)
            self._secrets.append(secret)
        self._open: dict[str, dict[str, Any]] = {}  # instance pool key -> the incident's alert
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent: list[dict[str, Any]] = []  # delivered alerts, newest last (admin view, tests)

    def _reasons(self, report: Mapping[str, Any]) -> list[str]:
        c = self.config
        reasons = []
        if report["consecutive_failures"] >= c.consecutive_failures:
            reasons.append(f"{report['consecutive_failures']} consecutive failures")
        window = report.get("window") or {}
        if window.get("calls", 0) >= 1 and report["error_rate"] >= c.error_rate and window.get("errors", 0) >= 2:
            reasons.append(f"error rate {report['error_rate']:.0%}")
        p95 = window.get("p95_ms")
        if p95 is not None and p95 > c.latency_p95_ms:
            reasons.append(f"p95 latency {p95:.0f} ms")
        return reasons

    def evaluate(self, reports: list[tuple[str, dict[str, Any]]]) -> None:
        """Open or close incidents from the latest (pool key, report) pairs; sends happen in the background."""
        if not self.config.webhooks:
            return
        for key, report in reports:
            reasons = self._reasons(report)
            if reasons and key not in self._open:
                alert = self._alert("provider.unhealthy", key, report, reasons)
                self._open[key] = alert
                self._dispatch(alert)
            elif not reasons and key in self._open and report["is_healthy"]:
                opened = self._open.pop(key)
                alert = self._alert("provider.recovered", key, report, [])
                alert["data"]["incident_id"] = opened["data"]["incident_id"]
                self._dispatch(alert)

    def _alert(self, kind: str, key: str, report: Mapping[str, Any], reasons: list[str]) -> dict[str, Any]:
        fields = ("provider", "is_healthy", "error_rate", "consecutive_failures", "score", "last_checked")
        data = {name: report[name] for name in fields}
        # A project's own instance may share its name with another project's: say whose it is.
        project = key.partition(":")[0]
        data["project_id"] = None if project in ("*", key) else project
        data["reasons"] = reasons
        data["incident_id"] = f"inc_{uuid.uuid4().hex[:16]}"
        if report.get("last_error"):
            data["last_error"] = self._redactor.scrub(str(report["last_error"]))
        return {"type": kind, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "data": data}

    def _dispatch(self, alert: dict[str, Any]) -> None:
        task = asyncio.create_task(self._announce(alert))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim(self, alert: dict[str, Any]) -> bool:
        """True when this replica is the one to announce (always without Redis)."""
        if self._redis is None:
            return True
        data = alert["data"]
        key = f"{self._prefix}alert:open:{data['project_id'] or '*'}:{data['provider']}"
        if alert["type"] == "provider.unhealthy":
            return bool(await self._redis.set(key, alert["data"]["incident_id"], nx=True, ex=7 * 86400))
        return bool(await self._redis.delete(key))

    async def _announce(self, alert: dict[str, Any]) -> None:
        try:
            claimed = await self._claim(alert)
        except Exception:  # Redis down: better a duplicate alert than none
            claimed = True
        if not claimed:
            return
        log.warning("alert", type=alert["type"], provider=alert["data"]["provider"])
        await asyncio.gather(
            *(
                self._deliver(hook, secret, alert)
                for hook, secret in zip(self.config.webhooks, self._secrets, strict=True)
            )
        )

    @staticmethod
    def _payload(hook: WebhookConfig, alert: dict[str, Any]) -> bytes:
        if hook.format == "slack":
            data = alert["data"]
            icon = ":red_circle:" if alert["type"] == "provider.unhealthy" else ":large_green_circle:"
            why = "; ".join(data["reasons"]) or "healthy again"
            return orjson.dumps({"text": f"{icon} {alert['type']}: {data['provider']} ({why})"})
        return orjson.dumps(alert)

    async def _deliver(self, hook: WebhookConfig, secret: str | None, alert: dict[str, Any]) -> None:
        body = self._payload(hook, alert)
        message_id = f"msg_{uuid.uuid4().hex}"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        delay = self.config.backoff
        for attempt in range(self.config.retries + 1):
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
            }
            if secret:
                headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
            try:
                async with self._session.post(hook.url, data=body, headers=headers) as response:
                    if response.status < 300:
                        self.sent.append(alert)
                        return
                    why = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                why = type(exc).__name__
            if attempt < self.config.retries:
                await asyncio.sleep(delay)
                delay *= 2
        log.error("alert not delivered", type=alert["type"], provider=alert["data"]["provider"], reason=why)

    async def close(self) -> None:
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 2)
        if self._session is not None:
            await self._session.close()
            self._session = None
