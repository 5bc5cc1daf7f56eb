"""Spend counters of the budgets on the shared Redis: ``<prefix>budget:<subject>``, one per budget and
period, added to by one script call that also claims the period's alert.

``governance.budgets`` decides what a subject is and when a budget alerts; the limiter's admission
script (``limit_scripts``) reads the same counters. Failures come back as ``SharedStateUnavailable``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from api_connector.storage.redis import client_errors, unavailable

if TYPE_CHECKING:
    from api_connector.storage.redis import SharedRedis

BUDGET_SPACE = "budget:"

# KEYS: spend counter, alert claim. ARGV: cost, soft threshold (USD), expiry (s). Answers
# {total, 1 when this call crossed the threshold first}.
_ADD = """
local total = tonumber(redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
local claimed = 0
if total >= tonumber(ARGV[2]) and redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[3]) then claimed = 1 end
return {tostring(total), claimed}
"""


class BudgetCounters:
    def __init__(self, shared: SharedRedis) -> None:
        self._redis = shared.client
        self._space = shared.prefix + BUDGET_SPACE
        self._add: Any = shared.client.register_script(_ADD)

    async def add(self, subject: str, cost: float, threshold: float, keep_seconds: int) -> tuple[float, bool]:
        """Add ``cost`` to ``subject``'s spend (kept ``keep_seconds``): the total after it, and True for
        the one call, across replicas, whose total first reached ``threshold``."""
        keys = [self._space + subject, self._space + "alerted:" + subject]
        try:
            total, claimed = await self._add(keys=keys, args=[repr(cost), repr(threshold), keep_seconds])
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return float(total), bool(int(claimed))

    async def spent(self, subject: str) -> float:
        """``subject``'s spend so far (0 when nothing was added)."""
        try:
            value = await self._redis.get(self._space + subject)
        except client_errors() as exc:
            raise unavailable(exc) from exc
        return float(value or 0)
