"""Admission control: a bound on requests served at once, shed by priority.

With ``MAX_IN_FLIGHT`` = N, a low-priority request is refused once the process has 75% of N in flight,
a normal one at 90%, a high one at N: under overload the least important work goes first and the
headroom that is left serves the requests that matter. A refusal is immediate (no queueing, so no
latency is added to anyone) and says when to come back: 503 ``overloaded`` with ``Retry-After``.
The count is per process, like the worker's own capacity it protects.
"""

from __future__ import annotations

from api_connector.core.call import Priority
from api_connector.errors import Overloaded, ValidationFailed

_SHARES = {Priority.LOW: 0.75, Priority.NORMAL: 0.9, Priority.HIGH: 1.0}
RETRY_AFTER_SECONDS = 1.0
PRIORITY_HEADER = "x-priority"


def parse_priority(value: str | None) -> Priority:
    if value is None or value == "":
        return Priority.NORMAL
    try:
        return Priority(value.lower())
    except ValueError:
        raise ValidationFailed("priority must be low, normal or high", param="priority") from None


class Admission:
    __slots__ = ("_limits", "in_flight", "limit", "refused")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0
        self.refused = {p.value: 0 for p in Priority}
        # At least one request of each priority is let in, whatever the rounding.
        self._limits = {p: max(1, int(limit * share)) for p, share in _SHARES.items()}

    def enter(self, priority: Priority = Priority.NORMAL) -> None:
        """Count a request in, or refuse it; every successful ``enter`` must be paired with ``leave``."""
        if self.limit and self.in_flight >= self._limits[priority]:
            self.refused[priority.value] += 1
            raise Overloaded(
                f"the service is at capacity for {priority.value}-priority requests; retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
