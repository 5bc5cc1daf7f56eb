"""Alerts on provider incidents, POSTed to webhooks signed per the Standard Webhooks scheme.

An incident opens when a provider's consecutive failures, live error rate or p95 latency crosses its
threshold; it produces one ``provider.unhealthy`` alert however long it lasts (no storms), and one
``provider.recovered`` alert when every condition has cleared. Each delivery carries ``webhook-id``
(the same on every retry, so receivers can de-duplicate), ``webhook-timestamp`` and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where the key is
the base64 part of the ``whsec_...`` secret. Failed deliveries are retried with exponential backoff.
``format: slack`` sends a Slack incoming-webhook payload (``{"text": ...}``) instead.

Deliveries go through the service's own HTTP client (``transport.http.Transport``), in guarded pools,
as a project's own providers do: a literal address in the URL is checked when the manager is built, and
every address the URL's host stands for (a literal one included) when the connection is made.
Link-local and metadata addresses are never reached; loopback and private ones only where the service
allows them (``UPSTREAM_ALLOW_PRIVATE``) or the operator allows them for that webhook
(``allow_private: true``). A redirect is never followed: a 3xx is a failed delivery, not retried (its
``Location`` could point anywhere, the guard's refusals included). A refused webhook is logged (host
only: webhook paths often hold tokens) and never contacted.
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
from urllib.parse import urlsplit

import orjson

from api_connector.errors import AddressForbidden, UpstreamError, ValidationFailed
from api_connector.observability.logging import get_logger
from api_connector.observability.redaction import Redactor
from api_connector.observability.settings_model import AlertsConfig, WebhookConfig
from api_connector.transport.guard import check_base_url
from api_connector.transport.http import Timeouts, Transport

if TYPE_CHECKING:
    from api_connector.storage.shared_state import SharedState

log = get_logger("api_connector.alerts")
# The transport's pools for deliveries: the service's private-address policy, and the webhooks the
# operator marked ``allow_private``. Provider pools are named "<project>:<name>": no colon, no clash.
_POOL = "alert-webhooks"
_POOL_PRIVATE = "alert-webhooks-private"
_MAX_CONNECTIONS = 16


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature header value for one delivery."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_refusal(hook: WebhookConfig, allow_private: bool) -> str | None:
    """Why the SSRF policy refuses ``hook``'s URL before any connection, or None."""
    parts = urlsplit(hook.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be http(s)://host/..."
    try:
        check_base_url(hook.url, allow_private or hook.allow_private)
    except ValidationFailed as refused:
        return refused.message.removeprefix("base_url: ")
    return None


def _host(url: str) -> str:
    """Where a webhook points, for logs: scheme and host only (the path may carry a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


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
        shared: SharedState | None = None,
        allow_private: bool = False,
        transport: Transport | None = None,
    ) -> None:
        self.config = config
        # The service's transport when given (one client for every outbound call); else one of our own.
        self._own_transport = transport is None
        self._transport = transport if transport is not None else Transport()
        for pool, private in ((_POOL, allow_private), (_POOL_PRIVATE, True)):
            self._transport.configure_pool(pool, max_connections=_MAX_CONNECTIONS, guarded=True, allow_private=private)
        self._timeouts = Timeouts(connect=config.timeout, read=config.timeout, total=config.timeout)
        # With several replicas, each sees the incident; a shared claim decides which one announces it.
        self._shared = shared
        self._redactor = redactor
        self._secrets: list[str | None] = []
        for hook in config.webhooks:
            secret = resolve_secret(hook.secret.get_secret_value() if hook.secret else None, environ or {})
            if secret:
                redactor.add(secret)
            self._secrets.append(secret)
        self._refused: list[str | None] = [webhook_refusal(hook, allow_private) for hook in config.webhooks]
        for hook, reason in zip(config.webhooks, self._refused, strict=True):
            if reason is not None:
                log.error("alert webhook refused: it will not be called", webhook=_host(hook.url), reason=reason)
        self._open: dict[str, dict[str, Any]] = {}  # instance pool key -> the incident's alert
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent: list[dict[str, Any]] = []  # delivered alerts, newest last (admin view, tests)
        self.failed_deliveries = 0  # (webhook, alert) pairs given up on: refused, redirected or out of retries

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

    def notify(self, kind: str, data: dict[str, Any]) -> None:
        """An alert of another kind than provider health (e.g. ``budget.threshold``) to every webhook, in
        the background. Not de-duplicated here: the caller decides that it is sent once."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        alert = {"type": kind, "timestamp": stamp, "data": {"provider": None, "reasons": [], **data}}
        hooks = zip(self.config.webhooks, self._secrets, self._refused, strict=True)
        sends = [self._deliver(hook, secret, alert) for hook, secret, refused in hooks if refused is None]

        async def send() -> None:
            await asyncio.gather(*sends)

        task = asyncio.create_task(send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _claim(self, alert: dict[str, Any]) -> bool:
        """True when this replica is the one to announce (always without Redis)."""
        if self._shared is None:
            return True
        data = alert["data"]
        key = f"alert:open:{data['project_id'] or '*'}:{data['provider']}"
        if alert["type"] == "provider.unhealthy":
            return await self._shared.claim(key, 7 * 86400, data["incident_id"])
        return await self._shared.release(key)

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
                for hook, secret, refused in zip(self.config.webhooks, self._secrets, self._refused, strict=True)
                if refused is None
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
        pool = _POOL_PRIVATE if hook.allow_private else _POOL
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
                response = await self._transport.send(
                    pool, "POST", hook.url, headers=headers, body=body, timeouts=self._timeouts
                )
            except AddressForbidden as refused:  # the policy, not a hiccup: no retry
                log.error("alert webhook refused", webhook=_host(hook.url), reason=refused.message)
                self.failed_deliveries += 1
                return
            except UpstreamError as exc:  # messages name no URL (the transport's rule)
                why = exc.message
            else:
                if response.status < 300:
                    self.sent.append(alert)
                    return
                why = f"HTTP {response.status}"
                if response.status < 400:
                    # Not followed, and not retried: the same redirect would come back. Its Location stays
                    # out of the log, as the URL's path does (either may carry a token).
                    why += ": a redirect, which is not followed"
                    break
            if attempt < self.config.retries:
                await asyncio.sleep(delay)
                delay *= 2
        self.failed_deliveries += 1
        log.error(
            "alert not delivered",
            type=alert["type"],
            provider=alert["data"]["provider"],
            webhook=_host(hook.url),
            reason=why,
        )

    async def close(self) -> None:
        if self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 2)
        if self._own_transport:
            await self._transport.close()
