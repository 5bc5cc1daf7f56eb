"""Spending budgets per project and per key: a soft alert threshold and a hard stop before the call.

Spend is counted per period (UTC day or month) in this process, and in Redis when configured so that
every replica sees the same total. The check before a call reads the running total; the cost of the
request itself is added when it ends (a request in flight may overshoot by its own cost).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from api_connector.errors import BudgetExceeded
from api_connector.governance.settings_model import BudgetsConfig, BudgetSpec
from api_connector.observability.logging import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = get_logger("api_connector.budgets")


def _period(spec: BudgetSpec, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%d" if spec.period == "day" else "%Y-%m")


class Budgets:
    def __init__(self, config: BudgetsConfig, redis: Redis | None = None, prefix: str = "apc:") -> None:
        self._config = config
        self._redis = redis
        self._prefix = prefix + "budget:"
        self._spent: dict[str, float] = {}
        self._alerted: set[str] = set()
        self.active = bool(config.projects or config.keys)

    def _subjects(self, project_id: str, key_id: str | None) -> list[tuple[str, BudgetSpec]]:
        out: list[tuple[str, BudgetSpec]] = []
        if project_id in self._config.projects:
            spec = self._config.projects[project_id]
            out.append((f"project:{project_id}:{_period(spec)}", spec))
        if key_id and key_id in self._config.keys:
            spec = self._config.keys[key_id]
            out.append((f"key:{key_id}:{_period(spec)}", spec))
        return out

    async def spent(self, subject: str) -> float:
        if self._redis is not None:
            try:
                value = await self._redis.get(self._prefix + subject)
                return float(value or 0)
            except Exception:  # Redis down: this process's own count is the best we have
                pass
        return self._spent.get(subject, 0.0)

    async def check(self, project_id: str, key_id: str | None) -> None:
        """Hard stop before the call; cheap no-op when no budget is configured."""
        if not self.active:
            return
        for subject, spec in self._subjects(project_id, key_id):
            if await self.spent(subject) >= spec.usd:
                kind = subject.split(":", 1)[0]
                raise BudgetExceeded(f"the {kind}'s budget of {spec.usd:g} USD for this {spec.period} is spent")

    async def add(self, project_id: str, key_id: str | None, cost: float | None) -> None:
        if not self.active or not cost:
            return
        for subject, spec in self._subjects(project_id, key_id):
            total = self._spent[subject] = self._spent.get(subject, 0.0) + cost
            if self._redis is not None:
                try:
                    total = float(await self._redis.incrbyfloat(self._prefix + subject, cost))
                    await self._redis.expire(self._prefix + subject, 40 * 86400)
                except Exception:
                    log.warning("budget spend not shared (Redis unreachable)", subject=subject.split(":")[0])
            if total >= spec.usd * spec.soft_ratio and subject not in self._alerted:
                self._alerted.add(subject)
                log.warning("budget alert threshold crossed", subject=subject, spent=round(total, 6), budget=spec.usd)

    async def status(self) -> list[dict[str, object]]:
        rows: list[dict[str, object]] = []
        for kind, specs in (("project", self._config.projects), ("key", self._config.keys)):
            for name, spec in specs.items():
                subject = f"{kind}:{name}:{_period(spec)}"
                spent = await self.spent(subject)
                rows.append(
                    {
                        "kind": kind,
                        "id": name,
                        "period": _period(spec),
                        "usd": spec.usd,
                        "spent": spent,
                        "soft_ratio": spec.soft_ratio,
                        "alert": spent >= spec.usd * spec.soft_ratio,
                        "exhausted": spent >= spec.usd,
                    }
                )
        return rows
