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
from api_connector.core.chat import ChatRequest
from api_connector.routing.catalog import Route, Target
from api_connector.routing.latency import TargetStats

# When a request sets no output limit, cost estimates assume an answer of this many tokens.
DEFAULT_OUTPUT_TOKENS = 256
_IMAGE_PARTS = frozenset({"image_url", "input_image", "image"})


class Needs:
    """What a request needs from a target; the expensive parts are worked out only if a target asks."""

    __slots__ = ("_prompt", "_request", "capability", "stream")

    def __init__(self, capability: Capability, request: ChatRequest | None = None) -> None:
        self.capability = capability
        self.stream = bool(request and request.stream)
        self._request = request
        self._prompt: int | None = None

    def tools(self) -> bool:
        return bool(self._request and self._request.tools)

    def vision(self) -> bool:
        if self._request is None:
            return False
        return any(
            part.type in _IMAGE_PARTS
            for message in self._request.messages
            if isinstance(message.content, list)
            for part in message.content
        )

    def prompt_tokens(self) -> int:
        """A rough count (about four characters a token, plus per-message overhead)."""
        if self._prompt is None:
            request = self._request
            if request is None:
                self._prompt = 0
            else:
                chars = 0
                for message in request.messages:  # on every request to a route with a known window: kept lean
                    content = message.content
                    if isinstance(content, str):
                        chars += len(content)
                    elif content:
                        chars += sum(len(part.text or "") for part in content if part.type == "text")
                self._prompt = (chars + 3) // 4 + 4 * len(request.messages) + 3
        return self._prompt

    def output_tokens(self) -> int:
        limit = self._request.output_token_limit() if self._request else None
        return limit or 0

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
        if self._request is not None:
            wants.append(f"a context window of about {self.tokens()} tokens")
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
