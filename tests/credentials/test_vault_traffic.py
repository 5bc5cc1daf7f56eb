"""Under load, on SQLite and PostgreSQL: every use is audited, and a master-key rotation fails nothing.

Both tests are bounded in request count and in time, and send traffic only to loopback.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api_connector.storage.credential_models import CredentialVersionRow, MasterKeyRow
from api_connector.storage.db import Database
from api_connector.storage.models import AuditRow
from tests.credentials.conftest import ROOT_KEY, clear_vault
from tests.credentials.upstream import fake_provider
from tests.gateway import run_gateway

CLI = str(Path(sys.executable).with_name("api-connector"))


@pytest.fixture(autouse=True)
async def _leave_no_ring(database_url: str) -> AsyncIterator[None]:
    yield
    await _fresh_vault(database_url)  # the shared PostgreSQL database: no ring bound to this test's root key


USES = 1000


async def _fresh_vault(url: str) -> None:
    database = Database(url)
    try:
        await database.migrate()
        await clear_vault(database)
    finally:
        await database.close()


async def _run_concurrently(http: httpx.AsyncClient, bodies: list[dict[str, object]], workers: int) -> list[str]:
    queue = list(reversed(bodies))
    failures: list[str] = []

    async def worker() -> None:
        while queue:
            answer = await http.post("/v1/chat/completions", json=queue.pop())
            if answer.status_code != 200:
                failures.append(answer.text)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return failures


async def test_a_thousand_uses_make_a_thousand_audit_rows(tmp_path: Path, database_url: str) -> None:
    await _fresh_vault(database_url)
    with run_gateway(
        tmp_path, database_url=database_url, integration_crypto_key=ROOT_KEY, record_batch_size=100
    ) as gateway:
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
            created = await http.post(
                "/admin/credentials", json={"name": "load", "provider": "sandbox", "secret": "sk-load-test-00000001"}
            )
            cred_id = created.json()["id"]
            provider = {"name": "sb", "config": {"type": "sandbox", "credential": cred_id}}
            assert (await http.post("/admin/providers", json=provider)).status_code == 201
            chat = {"model": "sb/sandbox-chat", "messages": [{"role": "user", "content": "count me"}]}
            assert await _run_concurrently(http, [chat] * USES, workers=16) == []
    # The gateway has stopped gracefully: everything queued must be in the database now.
    database = Database(database_url)
    try:
        async with database.session() as session:
            query = select(func.count(), func.count(func.distinct(AuditRow.request_id))).where(
                AuditRow.action == "credential.use", AuditRow.target_id == cred_id
            )
            rows, distinct_requests = (await session.execute(query)).one()
            audits = list(await session.scalars(select(AuditRow).where(AuditRow.target_id == cred_id)))
    finally:
        await database.close()
    assert (rows, distinct_requests) == (USES, USES)
    uses = [a for a in audits if a.action == "credential.use"]
    assert all(a.details["version"] == 1 and a.outcome == "success" and a.actor_key_id for a in uses)
    assert {a.action for a in audits} >= {"credential.create", "credential.verify", "credential.use"}


def _cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES__", "REDIS", "DATABASE_URL", "API_CONNECTOR_", "INTEGRATION_CRYPTO"))
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        DATABASE_URL=database_url,
        INTEGRATION_CRYPTO_KEY=ROOT_KEY,
        LOG_LEVEL="WARNING",
    )
    return env


async def _master_keys(url: str) -> tuple[list[str], dict[str, int]]:
    database = Database(url)
    try:
        async with database.session() as session:
            keys = list(await session.scalars(select(MasterKeyRow.id).order_by(MasterKeyRow.created_at)))
            counts = dict(
                (
                    await session.execute(
                        select(CredentialVersionRow.master_key_id, func.count()).group_by(
                            CredentialVersionRow.master_key_id
                        )
                    )
                ).all()
            )
    finally:
        await database.close()
    return keys, {str(k): int(v) for k, v in counts.items()}


async def test_rotation_under_traffic_fails_no_request(tmp_path: Path, database_url: str) -> None:
    await _fresh_vault(database_url)
    keys = {f"sk-rotation-traffic-{i:03d}-{random.randrange(10**8):08d}": f"k{i}" for i in range(24)}
    async with fake_provider(keys) as upstream:
        # No decrypted credential is cached and the ring is reloaded only on a miss: every request
        # reads its row and opens its envelope while the rotation changes them underneath.
        with run_gateway(
            tmp_path,
            database_url=database_url,
            integration_crypto_key=ROOT_KEY,
            credential_cache_ttl=0,
            key_ring_ttl=3600,
        ) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                for index, secret in enumerate(keys):
                    cred = await http.post(
                        "/admin/credentials",
                        json={"name": f"c{index}", "provider": "openai", "secret": secret, "verify": False},
                    )
                    config = {
                        "type": "openai_compatible",
                        "base_url": upstream.base_url,
                        "credential": cred.json()["id"],
                        "models": ["m"],
                    }
                    assert (
                        await http.post("/admin/providers", json={"name": f"p{index}", "config": config})
                    ).status_code == 201
                (old_key,), _ = await _master_keys(database_url)
                upstream.served.clear()
                failures, sent, during = await _traffic_while_rotating(http, tmp_path, database_url, len(keys))
                keys_after, counts = await _master_keys(database_url)
                # Retire the old key: nothing is left under it, and requests keep working without it.
                retire = await asyncio.create_subprocess_exec(
                    CLI,
                    "rotate-master-key",
                    "--retire",
                    old_key,
                    env=_cli_env(tmp_path, database_url),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, retire_err = await retire.communicate()
                assert retire.returncode == 0, retire_err.decode()
                bodies = [
                    {"model": f"p{i}/m", "messages": [{"role": "user", "content": "after"}]} for i in range(len(keys))
                ]
                failures += await _run_concurrently(http, bodies, workers=4)
    print(f"rotation under traffic: {sent} requests, {during} while rotating, {len(failures)} failed")
    assert failures == []
    assert during >= 20, f"only {during} requests overlapped the rotation"
    assert sent <= 6000
    new_key = next(k for k in keys_after if k != old_key)
    assert counts == {new_key: len(keys)}
    assert sorted(set(upstream.served)) == sorted(keys.values())  # every key reached the provider intact


async def _traffic_while_rotating(
    http: httpx.AsyncClient, tmp_path: Path, database_url: str, providers: int
) -> tuple[list[str], int, int]:
    """Requests from 8 workers until the rotation command has finished (at most 6000, at most 90 s)."""
    failures: list[str] = []
    counters = {"sent": 0, "during": 0}
    rotating = asyncio.Event()
    done = asyncio.Event()
    deadline = time.monotonic() + 90

    async def worker() -> None:
        while not done.is_set() and counters["sent"] < 6000 and time.monotonic() < deadline:
            counters["sent"] += 1
            chat = {"model": f"p{random.randrange(providers)}/m", "messages": [{"role": "user", "content": "x"}]}
            answer = await http.post("/v1/chat/completions", json=chat)
            if rotating.is_set():
                counters["during"] += 1
            if answer.status_code != 200:
                failures.append(answer.text)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    await asyncio.sleep(0.3)  # traffic is flowing before the rotation starts
    rotation = await asyncio.create_subprocess_exec(
        CLI,
        "rotate-master-key",
        "--batch-size",
        "2",
        "--pause",
        "0.1",
        env=_cli_env(tmp_path, database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    rotating.set()
    try:
        _, err = await asyncio.wait_for(rotation.communicate(), 60)
    finally:
        rotating.clear()
        done.set()
        await asyncio.gather(*workers)
    assert rotation.returncode == 0, err.decode()
    assert "re-wrapped" in err.decode()
    return failures, counters["sent"], counters["during"]
