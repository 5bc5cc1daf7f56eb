"""Coalescing semantics without HTTP, and prices: genai-prices offline, overrides, unknown models."""

from __future__ import annotations

import asyncio

import pytest

from api_connector.core.usage import Usage
from api_connector.governance.coalesce import Coalescer
from api_connector.governance.cost import CostModel, compute
from api_connector.governance.settings_model import PriceOverride


async def test_cancelling_one_waiter_leaves_the_call_and_the_others() -> None:
    coalescer = Coalescer()
    calls = 0
    gate = asyncio.Event()

    async def call() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "answer"

    waiters = [asyncio.create_task(coalescer.run("k", call)) for _ in range(5)]
    await asyncio.sleep(0.01)
    waiters[0].cancel()
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*waiters[1:])
    assert calls == 1 and [r[0] for r in results] == ["answer"] * 4
    assert waiters[0].cancelled() and coalescer.in_flight == 0


async def test_a_failure_reaches_every_waiter_and_the_next_call_starts_afresh() -> None:
    coalescer = Coalescer()

    async def failing() -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("upstream down")

    results = await asyncio.gather(*[coalescer.run("k", failing) for _ in range(3)], return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)

    async def fine() -> str:
        return "ok"

    assert await coalescer.run("k", fine) == ("ok", False)


def test_genai_prices_offline_overrides_and_unknown_models() -> None:
    costs = CostModel({"my-model": PriceOverride(input_per_mtok=1, output_per_mtok=2, cached_input_per_mtok=0.5)})
    known = costs.price("https://api.openai.com/v1", "gpt-4o-mini")
    assert known is not None and known.input_per_mtok == pytest.approx(0.15)
    assert costs.price("http://127.0.0.1:1/v1", "no-such-model-xyz") is None
    custom = costs.price("http://127.0.0.1:1/v1", "my-model")
    assert custom is not None
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=500_000)
    assert compute(custom, usage) == pytest.approx(0.5 + 0.25 + 2)
