"""Which targets of a route to try, in which order.

Every strategy first drops targets that cannot serve the capability; ``priority`` keeps the configured
order (failover), ``weighted`` draws the first target in proportion to the weights and keeps the rest
as fallbacks in weighted order too.
"""

from __future__ import annotations

from collections.abc import Callable

from api_connector.config import Strategy
from api_connector.core.capabilities import Capability
from api_connector.routing.catalog import Route, Target


def order_targets(route: Route, capability: Capability, rng: Callable[[], float]) -> list[Target]:
    capable = route.capable(capability)
    if route.strategy is Strategy.WEIGHTED and len(capable) > 1:
        return _weighted_order(list(capable), rng)
    return list(capable)


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
