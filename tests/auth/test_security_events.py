"""Security events: failed authentications, permission denials, refused addresses and key changes are
audit events naming the client address, counted in /metrics; an address flooding bad keys is turned
away before any key lookup, across replicas with Redis, while a valid key from elsewhere still works."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_connector.auth.throttle import AuthThrottle
from api_connector.errors import AuthThrottled
from api_connector.storage.redis import SharedRedis
from api_connector.storage.shared_state import SharedState
from tests.gateway import RunningGateway, run_gateway
from tests.redis_space import REDIS_URL

BAD_KEY = "ack_not_a_real_key_0123456789abcdefghijkl"
CHAT = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}


def _audit(gateway: RunningGateway, action: str, count: int = 1) -> list[Any]:
    """Every project's audit rows of ``action`` (read from the store: the test's own address may be the
    one being turned away)."""
    deadline = time.monotonic() + 10
    while True:
        rows = gateway.call(gateway.services.audit_queries.list_audit(None, action))
        if len(rows) >= count or time.monotonic() > deadline:
            return list(rows)
        time.sleep(0.05)


def test_a_flood_of_bad_keys_is_refused_before_any_lookup(tmp_path: Path) -> None:
    with run_gateway(tmp_path, auth_failure_limit=5, auth_failure_window=30) as gateway:
        lookups: list[str] = []
        authenticator = gateway.services.authenticator
        original = authenticator._lookup

        async def counted(key_hash: str) -> Any:
            lookups.append(key_hash)
            return await original(key_hash)

        authenticator._lookup = counted  # type: ignore[method-assign]

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=10) as client:
                headers = {"Authorization": f"Bearer {BAD_KEY}"}
                url = gateway.v1 + "/chat/completions"
                return [await client.post(url, json=CHAT, headers=headers) for _ in range(40)]

        answers = asyncio.run(flood())
        codes = [a.json()["error"]["code"] for a in answers]
        assert codes[:5] == ["invalid_api_key"] * 5
        assert set(codes[5:]) == {"auth_throttled"}
        refused = answers[5]
        assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 30
        assert len(lookups) <= 5  # the throttled requests never reached the key store

        # The gateway's own key, from this same address, is turned away too until the window ends...
        assert httpx.post(gateway.v1 + "/chat/completions", json=CHAT, headers=gateway.headers()).status_code == 429

        # ...and each failure is an audit event with the address and a fingerprint, never the key.
        rows = _audit(gateway, "security.auth_failed", 5)
        assert len(rows) == 5
        fingerprint = hashlib.sha256(f"Bearer {BAD_KEY}".encode()).hexdigest()[:12]
        assert {row.target_id for row in rows} == {fingerprint}
        assert all(row.details["client"] == "127.0.0.1" for row in rows)
        assert BAD_KEY not in str(rows)
        gateway.services.recorder.flush_metrics()
        metrics = httpx.get(gateway.base_url + "/metrics", timeout=10).text
        assert 'api_connector_security_events_total{action="security.auth_failed",outcome="failure"} 5.0' in metrics


def test_a_valid_key_from_another_address_is_unaffected() -> None:
    throttle = AuthThrottle(limit=3, window=60)

    async def scenario() -> None:
        for _ in range(3):
            await throttle.failed("10.0.0.66")
        with pytest.raises(AuthThrottled):
            throttle.check("10.0.0.66")
        throttle.check("10.0.0.7")  # another address: nothing to refuse

    asyncio.run(scenario())


@pytest.mark.redis
def test_replicas_share_the_count(redis_prefix: str) -> None:
    from redis.asyncio import Redis

    async def scenario() -> None:
        redis = Redis.from_url(REDIS_URL)
        try:
            a = AuthThrottle(limit=4, window=60, shared=SharedState(SharedRedis(redis, redis_prefix)))
            b = AuthThrottle(limit=4, window=60, shared=SharedState(SharedRedis(redis, redis_prefix)))
            for throttle in (a, b, a):  # three failures, seen by two replicas
                await throttle.failed("10.0.0.9")
            b.check("10.0.0.9")  # not yet at the limit
            await b.failed("10.0.0.9")  # the fourth, wherever it lands, blocks the address there
            with pytest.raises(AuthThrottled):
                b.check("10.0.0.9")
            await a.failed("10.0.0.9")  # and the next failure on the other replica blocks it there too
            with pytest.raises(AuthThrottled):
                a.check("10.0.0.9")
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_denials_and_key_changes_are_audited_with_the_address(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway, httpx.Client(base_url=gateway.base_url, timeout=10) as http:
        created = http.post(
            "/admin/keys", json={"name": "inference-only", "scopes": ["inference"]}, headers=gateway.headers()
        ).json()
        denied = http.get("/admin/keys", headers={"Authorization": f"Bearer {created['key']}"})
        assert denied.status_code == 403
        assert http.delete(f"/admin/keys/{created['id']}", headers=gateway.headers()).status_code == 200

        [denial] = _audit(gateway, "security.permission_denied")
        assert denial.actor_key_id == created["id"] and denial.target_id == "GET /admin/keys"
        assert denial.details["client"] == "127.0.0.1"
        for action in ("key.create", "key.revoke"):
            [row] = _audit(gateway, action)
            assert row.details["client"] == "127.0.0.1"
        metrics = httpx.get(gateway.base_url + "/metrics", timeout=10).text
        assert 'api_connector_security_events_total{action="key.create",outcome="success"} 1.0' in metrics


def test_an_address_the_guard_refuses_is_a_security_event(tmp_path: Path) -> None:
    # A project's provider whose host name resolves to loopback, with private addresses not allowed: the
    # guard refuses it when connecting (a literal address would be refused when saved). Nothing leaves.
    with run_gateway(tmp_path, upstream_allow_private=False) as gateway, httpx.Client(timeout=10) as http:
        config = {"type": "openai_compatible", "base_url": "http://localhost:9/v1"}
        created = http.post(
            gateway.base_url + "/admin/providers", json={"name": "inward", "config": config}, headers=gateway.headers()
        )
        assert created.status_code == 201, created.text
        body = {"model": "inward/m", "messages": [{"role": "user", "content": "hi"}]}
        answer = http.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers())
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "connect_error"
        rows = _audit(gateway, "security.address_refused")  # one per attempt (the retry is refused too)
        assert rows and {(row.target_id, row.details["client"]) for row in rows} == {("inward", "127.0.0.1")}
