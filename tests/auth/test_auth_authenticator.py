"""Authenticator hot path: header parsing, caching, invalidation, bounded negative cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from api_connector.auth.authenticator import Authenticator, Principal
from api_connector.auth.keys import generate_key, hash_key
from api_connector.errors import AuthenticationRequired, InvalidAPIKey, NotFound, PermissionDenied
from api_connector.storage.records import GatewayKey

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class FakeKeys:
    """An in-memory key store that counts lookups and can be slowed down or broken."""

    def __init__(self) -> None:
        self.by_hash: dict[str, GatewayKey] = {}
        self.lookups = 0
        self.touched: list[list[str]] = []
        self.delay = 0.0
        self.fail_touch = False

    def add(self, project_id: str | None = "proj_a", scopes: frozenset[str] = frozenset({"inference"})) -> str:
        plaintext = generate_key()
        key_id = f"key_{len(self.by_hash)}"
        self.by_hash[hash_key(plaintext)] = GatewayKey(
            id=key_id, project_id=project_id, name="k", prefix=plaintext[:12], scopes=scopes, created_at=NOW
        )
        return plaintext

    async def get_by_hash(self, key_hash: str) -> GatewayKey | None:
        self.lookups += 1
        found = self.by_hash.get(key_hash)  # read first, answer later: a slow query's snapshot
        if self.delay:
            await asyncio.sleep(self.delay)
        return found

    async def touch_last_used(self, key_ids: Sequence[str]) -> None:
        if self.fail_touch:
            raise ConnectionError("database down")
        self.touched.append(list(key_ids))

    async def revoke(self, key_id: str, project_id: str | None = None) -> GatewayKey:
        for key_hash, key in self.by_hash.items():
            if key.id == key_id and (project_id is None or key.project_id == project_id):
                revoked = GatewayKey(
                    id=key.id,
                    project_id=key.project_id,
                    name=key.name,
                    prefix=key.prefix,
                    scopes=key.scopes,
                    created_at=key.created_at,
                    revoked_at=NOW,
                )
                self.by_hash[key_hash] = revoked
                return revoked
        raise NotFound("key not found")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_bearer_and_x_api_key_headers() -> None:
    store = FakeKeys()
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=5)
    for authorization, x_api_key in (
        (f"Bearer {plaintext}", None),
        (f"bearer   {plaintext}  ", None),
        (None, plaintext),
        ("Bearer", plaintext),  # empty bearer falls back to x-api-key
        (f"Basic {plaintext}", plaintext),
    ):
        principal = await auth.authenticate(authorization, x_api_key)
        assert principal == Principal(key_id="key_0", project_id="proj_a", scopes=frozenset({"inference"}))


@pytest.mark.parametrize(("authorization", "x_api_key"), [(None, None), ("", ""), ("Bearer ", None), ("Bearer", "  ")])
async def test_missing_key(authorization: str | None, x_api_key: str | None) -> None:
    with pytest.raises(AuthenticationRequired) as caught:
        await Authenticator(FakeKeys(), cache_ttl=5).authenticate(authorization, x_api_key)
    assert caught.value.code == "missing_api_key"


async def test_unknown_and_revoked_keys_get_the_same_answer_without_echo() -> None:
    store = FakeKeys()
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=5)
    unknown = generate_key()
    with pytest.raises(InvalidAPIKey) as first:
        await auth.authenticate(f"Bearer {unknown}", None)
    await auth.revoke("key_0")
    with pytest.raises(InvalidAPIKey) as second:
        await auth.authenticate(f"Bearer {plaintext}", None)
    assert first.value.message == second.value.message
    assert unknown not in first.value.message and plaintext not in second.value.message
    with pytest.raises(InvalidAPIKey):
        await auth.authenticate(f"Basic {plaintext}", None)
    lookups = store.lookups
    with pytest.raises(InvalidAPIKey):
        await auth.authenticate("Bearer " + "x" * 10_000, None)
    assert store.lookups == lookups  # absurdly long keys are refused before any lookup


async def test_known_key_costs_no_lookup_within_ttl() -> None:
    store, clock = FakeKeys(), Clock()
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=5, clock=clock)
    for _ in range(100):
        await auth.authenticate(f"Bearer {plaintext}", None)
    assert store.lookups == 1
    clock.now += 5.1
    await auth.authenticate(f"Bearer {plaintext}", None)
    assert store.lookups == 2


async def test_zero_ttl_disables_caching() -> None:
    store = FakeKeys()
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=0)
    for _ in range(3):
        await auth.authenticate(None, plaintext)
        with pytest.raises(InvalidAPIKey):
            await auth.authenticate(None, "ack_wrong")
    assert store.lookups == 6


async def test_revocation_invalidates_at_once() -> None:
    store = FakeKeys()
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=300)
    await auth.authenticate(None, plaintext)
    await auth.revoke("key_0", "proj_a")
    with pytest.raises(InvalidAPIKey):
        await auth.authenticate(None, plaintext)


async def test_invalidate_by_hash_and_all() -> None:
    store = FakeKeys()
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=300)
    await auth.authenticate(None, plaintext)
    auth.invalidate(hash_key(plaintext))
    await auth.authenticate(None, plaintext)
    auth.invalidate_all()
    await auth.authenticate(None, plaintext)
    assert store.lookups == 3


async def test_negative_results_are_cached_briefly_and_bounded() -> None:
    store, clock = FakeKeys(), Clock()
    auth = Authenticator(store, cache_ttl=5, max_negative_entries=100, clock=clock)
    unknown = generate_key()
    for _ in range(10):
        with pytest.raises(InvalidAPIKey):
            await auth.authenticate(None, unknown)
    assert store.lookups == 1
    clock.now += 1.1  # negative entries live at most a second
    with pytest.raises(InvalidAPIKey):
        await auth.authenticate(None, unknown)
    assert store.lookups == 2

    for _ in range(5_000):  # a flood of random keys
        with pytest.raises(InvalidAPIKey):
            await auth.authenticate(None, generate_key())
    assert auth.cache_sizes == (0, 100)


async def test_positive_cache_is_bounded_too() -> None:
    store = FakeKeys()
    keys = [store.add() for _ in range(20)]
    auth = Authenticator(store, cache_ttl=60, max_cached_keys=8)
    for plaintext in keys:
        await auth.authenticate(None, plaintext)
    assert auth.cache_sizes[0] == 8


async def test_concurrent_lookups_of_one_key_share_one_query() -> None:
    store = FakeKeys()
    store.delay = 0.05
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=5)
    results = await asyncio.gather(*(auth.authenticate(None, plaintext) for _ in range(50)))
    assert {r.key_id for r in results} == {"key_0"}
    assert store.lookups == 1


async def test_a_lookup_racing_a_revocation_does_not_refill_the_cache() -> None:
    store = FakeKeys()
    store.delay = 0.05
    plaintext = store.add()
    auth = Authenticator(store, cache_ttl=300)
    racing = asyncio.create_task(auth.authenticate(None, plaintext))
    await asyncio.sleep(0.01)  # the lookup has read the still-active key and is "in flight"
    await auth.revoke("key_0")
    await racing  # it may still answer with what it read...
    with pytest.raises(InvalidAPIKey):  # ...but must not have cached it
        await auth.authenticate(None, plaintext)


async def test_last_used_is_flushed_in_batches_and_kept_on_failure() -> None:
    store = FakeKeys()
    first, second = store.add(), store.add()
    auth = Authenticator(store, cache_ttl=5)
    assert await auth.flush_last_used() == 0
    for plaintext in (first, second, first):
        await auth.authenticate(None, plaintext)
    store.fail_touch = True
    assert await auth.flush_last_used() == 0
    store.fail_touch = False
    assert await auth.flush_last_used() == 2
    assert store.touched == [["key_0", "key_1"]]
    assert await auth.flush_last_used() == 0


def test_principal_scopes_and_projects() -> None:
    project_key = Principal(key_id="k", project_id="proj_a", scopes=frozenset({"admin", "inference"}))
    project_key.require("admin")
    with pytest.raises(PermissionDenied):
        project_key.require("requests")
    assert project_key.can_access_project("proj_a")
    assert not project_key.can_access_project("proj_b")
    assert not project_key.is_global_admin
    with pytest.raises(PermissionDenied):
        project_key.require_project("proj_b")

    root = Principal(key_id="r", project_id=None, scopes=frozenset({"admin"}))
    assert root.is_global_admin and root.can_access_project("proj_b")
    global_inference = Principal(key_id="g", project_id=None, scopes=frozenset({"inference"}))
    assert not global_inference.can_access_project("proj_b")
