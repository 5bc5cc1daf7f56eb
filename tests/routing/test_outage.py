"""A full outage of every target: no request vanishes, and retries never multiply the traffic."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from tests.gateway import RunningGateway, run_gateway

REQUESTS = 500
CONCURRENCY = 25


def outage_config(**resilience: Any) -> dict[str, Any]:
    down = {"type": "sandbox", "headers": {"x-sandbox-status": "503"}}
    return {
        "providers": {"down-a": down, "down-b": down},
        "routes": {
            "everything": {"targets": [{"provider": "down-a", "model": "m"}, {"provider": "down-b", "model": "m"}]}
        },
        "resilience": resilience,
    }


async def _one(client: httpx.AsyncClient, gateway: RunningGateway, index: int) -> tuple[int, str, str]:
    if index % 5 == 4:  # a fifth through the generic request API, the rest as chat completions
        body: dict[str, Any] = {"provider": "down-a", "endpoint": "/chat/completions", "body": {"n": index}}
        answer = await client.post(gateway.v1 + "/requests", json=body)
    else:
        chat = {"model": "everything", "messages": [{"role": "user", "content": f"request {index}"}]}
        answer = await client.post(gateway.v1 + "/chat/completions", json=chat)
    code = answer.json().get("error", {}).get("code", "") if answer.status_code != 200 else ""
    return answer.status_code, answer.headers["x-request-id"], code


async def _storm(gateway: RunningGateway) -> list[tuple[int, str, str]]:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(headers=gateway.headers(), timeout=60) as client:

        async def bounded(index: int) -> tuple[int, str, str]:
            async with limit:
                return await _one(client, gateway, index)

        return await asyncio.gather(*(bounded(i) for i in range(REQUESTS)))


def _dead_letter_ids(gateway: RunningGateway, expected: int) -> list[str]:
    """The dead letters listed once ``expected`` are stored. The bound is not a latency figure: it covers
    the batch writer retrying a batch (its back-off reaches 30 s) when the database is slow to take
    it, as on a loaded machine; what the test proves is that none is lost."""
    deadline = time.monotonic() + 120
    while True:
        listed = httpx.get(gateway.base_url + "/admin/dlq", params={"limit": 1000}, headers=gateway.headers()).json()
        if listed["total"] >= expected or time.monotonic() > deadline:
            return [entry["request_id"] for entry in listed["data"]]
        time.sleep(0.1)


def _why_missing(gateway: RunningGateway, results: list[tuple[int, str, str]], stored: list[str]) -> str:
    """A short account of dead letters that were not stored, for whoever reads the failure."""
    missing = [(status, code) for status, rid, code in results if status != 200 and rid not in stored]
    extra = set(stored) - {rid for status, rid, _ in results if status != 200}
    routing = gateway.services.routing
    captured = routing.dead_letters.captured if routing is not None else None
    problems = [line for line in gateway.logs.lines() if "record" in line or "writ" in line or "dead" in line]
    listed = httpx.get(gateway.base_url + "/admin/dlq", params={"limit": 1000}, headers=gateway.headers()).json()
    ids = [entry["request_id"] for entry in listed["data"]]
    return "\n".join(
        [
            f"{len(missing)} failed requests without a dead letter, {len(extra)} dead letters of no failure",
            f"now listed: total {listed['total']}, {len(ids)} entries, {len(set(ids))} requests",
            f"their answers: {Counter(missing).most_common()}",
            f"dead letters captured: {captured}; record writer: {gateway.services.writer.stats()}",
            *problems[-20:],
        ]
    )


def _failed_attempts(gateway: RunningGateway) -> float:
    metrics = httpx.get(gateway.base_url + "/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("api_connector_upstream_failures_total{") and 'code="upstream_error"' in line
    )


def test_every_request_is_answered_or_dead_lettered(tmp_path: Path) -> None:
    with run_gateway(tmp_path, outage_config()) as gateway:
        results = asyncio.run(_storm(gateway))
        failed = [rid for status, rid, _ in results if status != 200]
        assert len(results) == REQUESTS and len(set(failed)) == len(failed)
        stored = _dead_letter_ids(gateway, len(failed))
        assert sorted(stored) == sorted(failed), _why_missing(gateway, results, stored)  # none vanished, none twice
        # Breakers opened early: most requests never reached a provider at all.
        assert _failed_attempts(gateway) < REQUESTS / 5
        codes = {
            e["error"]["code"]
            for e in httpx.get(gateway.base_url + "/admin/dlq?limit=1000", headers=gateway.headers()).json()["data"]
        }
        assert codes <= {"all_targets_failed", "upstream_error", "circuit_open"}


def test_retries_stay_under_a_fifth_of_requests_without_breakers(tmp_path: Path) -> None:
    # Breakers off and three retries asked for on each of two targets: only the budget holds traffic back.
    config = outage_config(breaker={"enabled": False}, retry={"max_retries": 3, "base_delay": 0.001})
    with run_gateway(tmp_path, config) as gateway:
        results = asyncio.run(_storm(gateway))
        assert all(status != 200 for status, _, _ in results)
        extra = _failed_attempts(gateway) - REQUESTS
        assert 0 < extra <= 0.2 * REQUESTS, extra  # without the budget it would be 7 per chat request
        state = httpx.get(gateway.base_url + "/admin/routing/state", headers=gateway.headers()).json()
        assert state["retry_budget"]["refused"] > 0
        assert len(_dead_letter_ids(gateway, REQUESTS)) == REQUESTS
