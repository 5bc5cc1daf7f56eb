"""Which targets of a route to try, in which order.

First the targets that cannot take the request are dropped: those without the capability, and those
whose declared features rule it out (context window too small for the prompt, no tools, no vision,
no streaming). The rest are tried by ascending ``priority``; within one priority level the route's
strategy orders them:

* ``priority``: the configured order (plain failover);
* ``weighted``: drawn in proportion to the weights, the rest kept as fallbacks in weighted order;
* ``least_latency``: lowest EWMA of recent latency first (targets not tried yet go first, to learn it);
* ``least_busy``: fewest calls in flight from this process first;
* ``lowest_cost``: lowest estimated price of this request first (targets without a price go last).

Sorting is stable, so ties keep the configured order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection

from api_connector.config import Strategy
from api_connector.core.capabilities import Capability
from api_connector.routing.catalog import Route, Target
from api_connector.routing.latency import TargetStats

# When a request sets no output limit, cost estimates assume an answer of this many tokens.
DEFAULT_OUTPUT_TOKENS = 256


class Needs:
    """What a request needs from a target: its capability, whether it streams, and (for capabilities
    whose targets declare features) tools, vision and context. A capability's declaration gives a
    subclass that works out the expensive parts only if a target asks."""

    __slots__ = ("capability", "stream")

    def __init__(self, capability: Capability, stream: bool = False) -> None:
        self.capability = capability
        self.stream = stream

    def tools(self) -> bool:
        return False

    def vision(self) -> bool:
        return False

    def prompt_tokens(self) -> int:
        return 0

    def output_tokens(self) -> int:
        return 0

    def tokens(self) -> int:
        """Context the request occupies: the prompt plus the room asked for the answer."""
        return self.prompt_tokens() + self.output_tokens()

    def describe(self) -> str:
        wants = [self.capability.value]
        if self.stream:
            wants.append("streaming")
        if self.tools():
            wants.append("tools")
        if self.vision():
            wants.append("vision")
        tokens = self.tokens()
        if tokens:
            wants.append(f"a context window of about {tokens} tokens")
        return ", ".join(wants)


def order_targets(
    route: Route,
    needs: Needs,
    stats: TargetStats,
    rng: Callable[[], float],
    unhealthy: Collection[str] = (),
) -> list[Target]:
    """The strategy's order, with targets whose provider is unhealthy moved behind the healthy ones.

    Unhealthy targets stay as a last resort (better a doubtful answer than none); ``unhealthy`` is the
    health registry's live set of instance pool keys (project-scoped), usually empty.
    """
    ordered = _candidates_in_order(route, needs, stats, rng)
    if not unhealthy or len(ordered) < 2:
        return ordered
    healthy = [t for t in ordered if t.instance.pool not in unhealthy]
    if len(healthy) == len(ordered):
        return ordered
    return healthy + [t for t in ordered if t.instance.pool in unhealthy]


def _candidates_in_order(route: Route, needs: Needs, stats: TargetStats, rng: Callable[[], float]) -> list[Target]:
    capable = route.capable(needs.capability)
    candidates = [t for t in capable if t.accepts(needs)]
    if len(candidates) < 2:
        return candidates
    if candidates[0].priority == candidates[-1].priority:  # targets are sorted by priority
        return _order(route.strategy, candidates, needs, stats, rng)
    ordered: list[Target] = []
    for _, level in itertools.groupby(candidates, key=lambda t: t.priority):
        ordered.extend(_order(route.strategy, list(level), needs, stats, rng))
    return ordered


def _order(
    strategy: Strategy, targets: list[Target], needs: Needs, stats: TargetStats, rng: Callable[[], float]
) -> list[Target]:
    if len(targets) < 2 or strategy is Strategy.PRIORITY:
        return targets
    if strategy is Strategy.WEIGHTED:
        return _weighted_order(targets, rng)
    if strategy is Strategy.LEAST_LATENCY:
        return sorted(targets, key=lambda t: _latency(stats, t))
    if strategy is Strategy.LEAST_BUSY:
        return sorted(targets, key=lambda t: stats.in_flight(t.key))
    if strategy is Strategy.LOWEST_COST:
        prompt = needs.prompt_tokens()
        answer = needs.output_tokens() or DEFAULT_OUTPUT_TOKENS
        return sorted(targets, key=lambda t: t.price.estimate(prompt, answer) if t.price else float("inf"))
    return targets


def _latency(stats: TargetStats, target: Target) -> float:
    seen = stats.latency(target.key)
    return -1.0 if seen is None else seen


def _weighted_order(targets: list[Target], rng: Callable[[], float]) -> list[Target]:
    remaining = list(targets)
    ordered: list[Target] = []
    while remaining:
        total = sum(t.weight for t in remaining)
        pick = rng() * total
        for index, target in enumerate(remaining):
            pick -= target.weight
            if pick <= 0 or index == len(remaining) - 1:
                ordered.append(remaining.pop(index))
                break
    return ordered
