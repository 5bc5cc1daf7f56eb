"""Target order per strategy, priority levels, and capability matching."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from api_connector.capabilities.chat import ChatNeeds
from api_connector.config import parse_config
from api_connector.core.chat import ChatRequest
from api_connector.errors import ConfigError
from api_connector.routing.catalog import Catalog, Route
from api_connector.routing.latency import TargetStats
from api_connector.routing.strategies import Needs, order_targets

PROVIDERS = {name: {"type": "sandbox"} for name in ("a", "b", "c")}


def route(strategy: str, *targets: dict[str, Any]) -> Route:
    config = parse_config({"providers": PROVIDERS, "routes": {"r": {"strategy": strategy, "targets": list(targets)}}})
    return Catalog(config).routes()["r"]


def chat(**fields: Any) -> Needs:
    body = {"model": "r", "messages": [{"role": "user", "content": "hello"}], **fields}
    return ChatNeeds(ChatRequest.from_json_obj(body))


def names(targets: list[Any]) -> list[str]:
    return [t.instance.name for t in targets]


def test_priority_levels_come_first_then_configured_order() -> None:
    r = route(
        "priority",
        {"provider": "a", "model": "m", "priority": 2},
        {"provider": "b", "model": "m", "priority": 1},
        {"provider": "c", "model": "m", "priority": 1},
    )
    assert names(order_targets(r, chat(), TargetStats(), lambda: 0.5)) == ["b", "c", "a"]


def test_weighted_draws_in_proportion_within_a_level() -> None:
    r = route("weighted", {"provider": "a", "model": "m", "weight": 3}, {"provider": "b", "model": "m", "weight": 1})
    rng = random.Random(7)
    orders = [names(order_targets(r, chat(), TargetStats(), rng.random)) for _ in range(4000)]
    firsts = Counter(order[0] for order in orders)
    assert 2850 < firsts["a"] < 3150  # 3:1
    assert all(sorted(order) == ["a", "b"] for order in orders)  # the other one stays as the fallback


def test_least_latency_prefers_the_fastest_and_tries_unknown_ones_first() -> None:
    r = route("least_latency", *({"provider": p, "model": "m"} for p in "abc"))
    stats = TargetStats()
    keys = {t.instance.name: t.key for t in r.targets}
    stats.end(stats.begin(keys["a"]), 0.30)
    stats.end(stats.begin(keys["b"]), 0.05)
    assert names(order_targets(r, chat(), stats, lambda: 0.5)) == ["c", "b", "a"]  # c never tried yet
    stats.end(stats.begin(keys["c"]), 0.10)
    assert names(order_targets(r, chat(), stats, lambda: 0.5)) == ["b", "c", "a"]
    for _ in range(5):  # b slows down: the EWMA follows within a few calls
        stats.end(stats.begin(keys["b"]), 0.5)
    assert names(order_targets(r, chat(), stats, lambda: 0.5))[0] == "c"


def test_least_busy_prefers_the_fewest_calls_in_flight() -> None:
    r = route("least_busy", *({"provider": p, "model": "m"} for p in "abc"))
    stats = TargetStats()
    keys = {t.instance.name: t.key for t in r.targets}
    stats.begin(keys["a"])
    stats.begin(keys["a"])
    stats.begin(keys["b"])
    assert names(order_targets(r, chat(), stats, lambda: 0.5)) == ["c", "b", "a"]


def test_lowest_cost_uses_genai_prices_and_configured_overrides() -> None:
    r = route(
        "lowest_cost",
        {"provider": "a", "model": "gpt-4o"},  # priced by genai-prices (offline data)
        {"provider": "b", "model": "gpt-4o-mini"},
        {"provider": "c", "model": "in-house", "price": {"input_per_mtok": 0.01, "output_per_mtok": 0.02}},
        {"provider": "a", "model": "unpriced-model"},
    )
    by_model = {t.model: t for t in r.targets}
    assert by_model["gpt-4o-mini"].price is not None and by_model["gpt-4o-mini"].price.input_per_mtok == 0.15
    assert by_model["unpriced-model"].price is None
    ordered = [t.model for t in order_targets(r, chat(), TargetStats(), lambda: 0.5)]
    assert ordered == ["in-house", "gpt-4o-mini", "gpt-4o", "unpriced-model"]


def test_capability_matching_skips_targets_that_cannot_take_the_request() -> None:
    r = route(
        "priority",
        {"provider": "a", "model": "small", "features": {"context_window": 50}},
        {"provider": "b", "model": "no-extras", "features": {"tools": False, "vision": False, "streaming": False}},
        {"provider": "c", "model": "any"},
    )
    order = lambda needs: [t.model for t in order_targets(r, needs, TargetStats(), lambda: 0.5)]  # noqa: E731
    assert order(chat()) == ["small", "no-extras", "any"]
    assert order(chat(max_tokens=100)) == ["no-extras", "any"]  # 100 answer tokens do not fit in 50
    assert order(chat(messages=[{"role": "user", "content": "x" * 400}])) == ["no-extras", "any"]
    assert order(chat(stream=True)) == ["small", "any"]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert order(chat(tools=tools)) == ["small", "any"]
    image = [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": "data:,x"}}]
    assert order(chat(messages=[{"role": "user", "content": image}])) == ["small", "any"]


def test_context_window_comes_from_genai_prices_when_not_configured() -> None:
    r = route("priority", {"provider": "a", "model": "gpt-4o-mini"}, {"provider": "b", "model": "m"})
    assert r.targets[0].features.context_window == 128_000
    huge = chat(messages=[{"role": "user", "content": "x" * 600_000}])
    assert names(order_targets(r, huge, TargetStats(), lambda: 0.5)) == ["b"]


def test_target_credentials_must_be_references() -> None:
    with pytest.raises(ConfigError, match="must be a reference"):
        route("priority", {"provider": "a", "model": "m", "credential": "sk-pasted-secret"})
    r = route("priority", {"provider": "a", "model": "m", "credential": "env:OTHER_KEY"})
    assert r.targets[0].credential == "env:OTHER_KEY" and r.targets[0].key.endswith("#env:OTHER_KEY")
