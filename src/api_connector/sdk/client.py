"""``Client``: the SDK against a running api-connector service, over HTTP (aiohttp).

async with Client("http://127.0.0.1:9004", api_key) as client:
    result = await client.make_request(provider="sandbox", endpoint="/models", method="GET")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from api_connector.core.connections import ConnectionStatus
from api_connector.sdk.types import (
    ErrorInfo,
    HealthStatus,
    ProviderInfo,
    RequestFailed,
    RequestResult,
    VoiceInfo,
    checked_statuses,
)


class Client:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 60.0, project_id: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        if project_id:
            self._headers["x-project-id"] = project_id
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._open()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self._open().request(method, self.base_url + path, **kwargs) as response:
            if response.status == 204:
                return None
            body = await response.json(content_type=None)
            if response.status >= 400:
                raise RequestFailed(_error_of(body), response.status)
            return body

    # -- requests -----------------------------------------------------------------------------
    async def make_request(
        self,
        endpoint: str,
        *,
        provider: str | None = None,
        capability: str | None = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the gateway-side deadline of the request)
        retries: int | None = None,
        priority: str | None = None,
        cache_key: str | None = None,
        cache_ttl: int | None = None,
    ) -> RequestResult:
        """``POST /v1/requests``; a failure comes back as ``success=False`` with ``error`` (never raised)."""
        payload = _payload(locals())
        async with self._open().post(self.base_url + "/v1/requests", json=payload) as response:
            raw = await response.json(content_type=None)
        if "success" not in raw:
            return RequestResult(False, _empty_metadata(), None, _error_of(raw))
        return RequestResult.from_json(raw)

    async def make_streaming_request(
        self,
        endpoint: str,
        *,
        provider: str | None = None,
        capability: str | None = None,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109 (the gateway-side deadline of the request)
        retries: int | None = None,
        priority: str | None = None,
    ) -> AsyncIterator[bytes]:
        """``POST /v1/requests/stream``: the upstream body as it arrives; a failure raises ``RequestFailed``."""
        payload = _payload(locals())
        async with self._open().post(self.base_url + "/v1/requests/stream", json=payload) as response:
            if response.headers.get("x-provider") is None and response.status >= 400:
                raise RequestFailed(_error_of(await response.json(content_type=None)), response.status)
            async for chunk in response.content.iter_any():
                yield chunk

    # -- health, providers, metrics -----------------------------------------------------------
    async def check_connection_health(self, provider: str | None = None) -> list[HealthStatus]:
        params = {"provider": provider} if provider else None
        body = await self._json("GET", "/admin/health", params=params)
        return [HealthStatus.from_json(item) for item in body["data"]]

    async def add_provider(self, name: str, config: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._json("POST", "/admin/providers", json={"name": name, "config": config}))

    async def remove_provider(self, name: str) -> None:
        await self._json("DELETE", f"/admin/providers/{name}")

    async def list_providers(self) -> list[ProviderInfo]:
        body = await self._json("GET", "/admin/providers")
        return [ProviderInfo.from_json(item) for item in body["data"]]

    async def get_metrics(self, time_range: str = "1h", step: str | None = None) -> dict[str, Any]:
        params = {"time_range": time_range, **({"step": step} if step else {})}
        return dict(await self._json("GET", "/admin/metrics", params=params))

    async def list_voices(self, provider: str) -> list[VoiceInfo]:
        """The voices a speech provider instance offers (its declared list, or its own listing)."""
        body = await self._json("GET", f"/admin/providers/{quote(provider, safe='')}/voices")
        return [VoiceInfo.from_json(item) for item in body["data"]]

    async def get_usage_stats(self, provider: str | None = None, time_range: str = "30d") -> dict[str, Any]:
        params = {"time_range": time_range, **({"provider": provider} if provider else {})}
        return dict(await self._json("GET", "/admin/usage/stats", params=params))

    # -- connection lifecycle -------------------------------------------------------------------
    async def initialize_connections(
        self, config: Mapping[str, Any] | None = None, *, strict: bool = False
    ) -> list[ConnectionStatus]:
        """``POST /admin/connections/initialize``: ``config`` is ``{"providers": {name: config}}`` for the
        key's project (validated by the service, all or nothing); their connections are opened and each
        is probed. Each provider's status; ``ConnectionsFailed`` only when ``strict`` and one failed."""
        body = await self._json("POST", "/admin/connections/initialize", json=dict(config or {}))
        return checked_statuses([ConnectionStatus.from_json(item) for item in body["data"]], strict)

    async def refresh_connections(
        self, provider: str | None = None, *, strict: bool = False, scope: str | None = None
    ) -> list[ConnectionStatus]:
        """``POST /admin/connections/refresh``: renew connections, re-read credentials, probe again; the
        key's project's providers (a global admin key: every provider, or ``scope="global"``)."""
        params = {k: v for k, v in (("provider", provider), ("scope", scope)) if v}
        body = await self._json("POST", "/admin/connections/refresh", params=params)
        return checked_statuses([ConnectionStatus.from_json(item) for item in body["data"]], strict)

    # -- response cache (governance) -------------------------------------------------------------
    async def clear_cache(self, pattern: str = "*") -> int:
        """Remove cached answers whose cache key matches ``pattern`` (glob); answers how many."""
        body = await self._json("DELETE", "/admin/cache", params={"pattern": pattern})
        return int(body["data"]["removed"])

    async def get_cache_stats(self) -> dict[str, Any]:
        """Hits, misses, hit rate, entries and bytes of the response cache."""
        return dict((await self._json("GET", "/admin/cache/stats"))["data"])


def _payload(arguments: dict[str, Any]) -> dict[str, Any]:
    fields = ("provider", "capability", "endpoint", "method", "headers", "body", "timeout", "retries", "priority")
    extra = ("cache_key", "cache_ttl")
    return {k: arguments[k] for k in (*fields, *extra) if k in arguments and arguments[k] is not None}


def _error_of(raw: Any) -> ErrorInfo:
    error = raw.get("error") if isinstance(raw, dict) else None
    if isinstance(error, dict) and "code" in error:
        return ErrorInfo.from_json(error)
    return ErrorInfo("unknown", str(raw)[:500])


def _empty_metadata() -> Any:
    from api_connector.sdk.types import RequestMetadata

    return RequestMetadata(None, 0.0, False, "")
