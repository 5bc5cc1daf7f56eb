"""A provider's own configured rate limit never takes the provider out.

The gateway refusing a call because a provider credential is at its configured limit is the gateway's
own decision: nothing was sent, the provider is healthy. Such refusals must not count against the
provider's breaker or health, the caller gets 429 ``rate_limited`` with a Retry-After, and the calls
that are let through stay within the limit (GCRA with the 1% burst). Before this was fixed, a flood
against a 600/minute limit opened the circuit: 12 calls served, then nearly 20,000 answered 503.

Each load is bounded: a fixed number of callers for a fixed number of seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.gateway import run_gateway
from tests.redis_space import REDIS_URL
from tests.routing.network import service

LIMIT = 600  # requests per minute: 10 a second, a burst of 6 (1%)
PER_SECOND = LIMIT / 60
BURST = 6
# GCRA keeps unused slots up to the burst: a pause in the calls loses capacity only beyond this long.
KEPT_S = BURST / PER_SECOND
BODY = {"model": "r", "messages": [{"role": "user", "content": "hello"}]}
KEY = "ack_provider_limit_key_0123456789abcdefghij"


def _config(**limit: Any) -> dict[str, Any]:
    return {
        "providers": {"limited": {"type": "sandbox", "rate_limit": {"requests_per_minute": LIMIT, **limit}}},
        "routes": {"r": {"targets": [{"provider": "limited", "model": "sandbox-chat"}]}},
    }


class Tally:
    """What the callers saw. The gateway decided each call somewhere between its send and its answer, so
    the span of its decisions is bracketed by those two instants, not read off the answers alone (under
    load an answer can arrive hundreds of milliseconds after the decision)."""

    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()
        self.retry_after: list[float] = []
        self.sent_ok: list[float] = []
        self.answered_ok: list[float] = []
        self.answered: list[float] = []  # every answer, in the order the callers saw them

    def add(self, answer: httpx.Response, sent: float) -> None:
        answered = time.monotonic()
        self.statuses[answer.status_code] += 1
        self.answered.append(answered)
        if answer.status_code == 200:
            self.sent_ok.append(sent)
            self.answered_ok.append(answered)
            return
        self.codes[answer.json()["error"]["code"]] += 1
        if answer.status_code == 429:
            self.retry_after.append(float(answer.headers["Retry-After"]))

    def within_limit(self, slack: float = 0.01) -> None:
        """The calls let through match the limit over the time they spanned: never above it (but for the
        burst), and below it by at most ``slack`` (1%: a slot goes unused only when no call was waiting).

        A slot also goes unused when no call reached the limiter for longer than the burst keeps: when the
        gateway or this process was paused (a full garbage collection of a test process that has run two
        thousand tests, a machine loaded by other work). Either pause stops the answers too, so the time
        with no answer beyond ``KEPT_S`` is taken off the span the lower bound asks to be used."""
        assert self.sent_ok, self.statuses
        longest = max(self.answered_ok) - min(self.sent_ok)  # the decisions spanned at most this...
        start, end = min(self.answered_ok), max(self.sent_ok)
        shortest = max(0.0, end - start)  # ...and at least this
        accepted = self.statuses[200]
        assert accepted <= BURST + PER_SECOND * longest + 1, (accepted, longest)
        inside = [start, *(t for t in sorted(self.answered) if start < t < end), end]
        paused = sum(max(0.0, later - earlier - KEPT_S) for earlier, later in pairwise(inside))
        used = shortest - paused
        assert accepted >= (1 - slack) * (BURST + PER_SECOND * used) - 1, (accepted, shortest, paused)


async def _flood(bases: list[str], callers: int, seconds: float, headers: dict[str, str]) -> Tally:
    """``callers`` clients posting back to back for ``seconds``."""
    tally = Tally()
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=30) as client:

        async def caller(index: int) -> None:
            base = bases[index % len(bases)]
            while time.monotonic() < deadline:
                sent = time.monotonic()
                tally.add(await client.post(base + "/v1/chat/completions", json=BODY, headers=headers), sent)

        await asyncio.gather(*(caller(i) for i in range(callers)))
    return tally


async def _paced(base: str, rate: float, seconds: float, headers: dict[str, str]) -> Tally:
    """An open-loop load: ``rate`` calls a second, each sent on time whether the last one ended or not."""
    tally = Tally()
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:

        async def one() -> None:
            sent = time.monotonic()
            tally.add(await client.post(base + "/v1/chat/completions", json=BODY, headers=headers), sent)

        tasks = []
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return tally


def _breaker_closed(base: str, headers: dict[str, str], provider: str = "limited") -> None:
    """The provider's breaker saw no failure at all: refusals by its configured limit are not its own."""
    state = httpx.get(base + "/admin/routing/state", headers=headers, timeout=10).json()
    breakers = {key: b for key, b in state["breakers"].items() if f":{provider}/" in key}
    assert breakers, state["breakers"]
    for breaker in breakers.values():
        assert breaker["state"] == "closed" and not breaker.get("window_failures"), breakers


def test_a_flood_against_the_provider_limit_gets_429_and_never_503(tmp_path: Path) -> None:
    with run_gateway(tmp_path, _config()) as gateway:
        tally = asyncio.run(_flood([gateway.base_url], 6, 8.0, gateway.headers()))
        assert set(tally.statuses) == {200, 429}, tally.statuses
        assert set(tally.codes) == {"rate_limited"}, tally.codes
        assert tally.statuses[429] > tally.statuses[200]  # it really was a flood
        tally.within_limit()
        # The Retry-After is right: at this limit a slot frees within a fraction of a second.
        assert min(tally.retry_after) >= 1 and max(tally.retry_after) <= 1
        _breaker_closed(gateway.base_url, gateway.headers())
        health = httpx.get(gateway.base_url + "/admin/health/limited", headers=gateway.headers(), timeout=10)
        report = health.json()
        assert report["is_healthy"] and report["error_rate"] == 0, report


def test_paced_load_above_the_limit_is_shaped_to_it(tmp_path: Path) -> None:
    with run_gateway(tmp_path, _config()) as gateway:
        tally = asyncio.run(_paced(gateway.base_url, 15.0, 8.0, gateway.headers()))
        assert set(tally.statuses) == {200, 429}, tally.statuses
        tally.within_limit()
        _breaker_closed(gateway.base_url, gateway.headers())


def test_with_max_wait_calls_wait_for_the_next_slot_instead(tmp_path: Path) -> None:
    with run_gateway(tmp_path, _config(max_wait=3)) as gateway:
        # 12 a second against 10: the backlog grows by 2 a second, under 3 s of waiting after 5 s.
        tally = asyncio.run(_paced(gateway.base_url, 12.0, 5.0, gateway.headers()))
        assert tally.statuses == Counter({200: 60}), (tally.statuses, tally.codes)
        tally.within_limit()


def test_every_target_at_its_limit_answers_429_with_the_soonest_retry(tmp_path: Path) -> None:
    config = {
        "providers": {
            "a": {"type": "sandbox", "rate_limit": {"requests_per_minute": 60}},
            "b": {"type": "sandbox", "rate_limit": {"requests_per_hour": 60}},
        },
        "routes": {"r": {"targets": [{"provider": "a", "model": "m"}, {"provider": "b", "model": "m"}]}},
    }
    with (
        run_gateway(tmp_path, config) as gateway,
        httpx.Client(base_url=gateway.v1, headers=gateway.headers(), timeout=10) as client,
    ):
        answers = [client.post("/chat/completions", json=BODY) for _ in range(3)]
        # One burst slot each: a, then b, then both are at their limits.
        assert [a.status_code for a in answers] == [200, 200, 429]
        refused = answers[2]
        assert refused.json()["error"]["code"] == "rate_limited"
        # a frees a slot within a second, b within a minute: the caller is told the sooner.
        assert refused.headers["Retry-After"] == "1"
        _breaker_closed(gateway.base_url, gateway.headers(), "a")
        _breaker_closed(gateway.base_url, gateway.headers(), "b")


def test_three_processes_on_one_redis_share_the_provider_limit(tmp_path: Path, redis_prefix: str) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(_config()))
    common = {
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "API_CONNECTOR_CONFIG": str(config),
        "API_CONNECTOR_ADMIN_KEY": KEY,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        service(tmp_path / "shared", "replica-a", **common) as a,
        service(tmp_path / "shared", "replica-b", **common) as b,
        service(tmp_path / "shared", "replica-c", **common) as c,
    ):
        tally = asyncio.run(_flood([a, b, c], 6, 8.0, headers))
        assert set(tally.statuses) == {200, 429}, (tally.statuses, tally.codes)
        # Three services and the flood share two cores here: there are moments when every caller's call
        # is still on its way to a limiter, and a slot passes unused. Overshoot is still never allowed.
        tally.within_limit(slack=0.08)
        for base in (a, b, c):
            _breaker_closed(base, headers)
