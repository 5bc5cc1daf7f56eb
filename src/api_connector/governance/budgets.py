"""Spending budgets per project and per key: a soft alert threshold and a hard stop before the call.

Spend is counted per period (UTC day or month) in this process, and in Redis when configured so that
every replica sees the same total. The hard stop is not a request of its own: ``gates`` hands the
limiter the budgets of a request, checked in the limiter's one admission step (the same Lua call in
Redis). The cost of a request is added when it ends (a request in flight may overshoot by its own
cost), in one script call that also claims the period's alert (``storage.budget_scripts``), so the soft
threshold alerts once per budget and period across replicas. Without Redis, ``rebuild`` reads the
period's spend back from the usage table at start-up, so a restart does not reset a budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from api_connector.governance.ratelimit import BudgetGate
from api_connector.governance.settings_model import BudgetsConfig, BudgetSpec
from api_connector.observability.logging import get_logger

if TYPE_CHECKING:
    from api_connector.storage.budget_scripts import BudgetCounters

log = get_logger("api_connector.budgets")
_KEEP_SECONDS = 40 * 86400  # a month's counter outlives its month

Alert = Callable[[str, dict[str, Any]], None]  # AlertManager.notify(kind, data)


class SpendSource(Protocol):
    async def spend_since(self, since: datetime) -> list[tuple[str, str | None, float]]: ...


def _period(spec: BudgetSpec, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%d" if spec.period == "day" else "%Y-%m")


def _period_start(spec: BudgetSpec, now: datetime) -> datetime:
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start if spec.period == "day" else start.replace(day=1)


class Budgets:
    def __init__(self, config: BudgetsConfig, counters: BudgetCounters | None = None) -> None:
        self._config = config
        self._counters = counters  # the shared spend (Redis); None: this process's count only
        self._spent: dict[str, float] = {}
        self._alerted: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.alert: Alert | None = None  # the alert webhooks, when configured (set by the app)
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

    def gates(self, project_id: str, key_id: str | None) -> list[BudgetGate]:
        """The budgets a request must pass, for the limiter's admission step; [] when none applies."""
        if not self.active:
            return []
        return [
            BudgetGate(
                subject,
                spec.usd,
                self._spent.get(subject, 0.0),
                f"the {subject.split(':', 1)[0]}'s budget of {spec.usd:g} USD for this {spec.period}",
            )
            for subject, spec in self._subjects(project_id, key_id)
        ]

    async def spent(self, subject: str) -> float:
        if self._counters is not None:
            try:
                return await self._counters.spent(subject)
            except Exception:  # Redis down: this process's own count is the best we have
                pass
        return self._spent.get(subject, 0.0)

    def add(self, project_id: str, key_id: str | None, cost: float | None) -> None:
        """Charge a request's cost; with Redis in the background (nothing on the answer's path waits)."""
        if not self.active or not cost:
            return
        for subject, spec in self._subjects(project_id, key_id):
            total = self._spent[subject] = self._spent.get(subject, 0.0) + cost
            if self._counters is None:
                if total >= spec.usd * spec.soft_ratio and subject not in self._alerted:
                    self._alerted.add(subject)
                    self._announce(subject, spec, total)
                continue
            task = asyncio.ensure_future(self._add_shared(self._counters, subject, spec, cost))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _add_shared(self, counters: BudgetCounters, subject: str, spec: BudgetSpec, cost: float) -> None:
        try:
            total, claimed = await counters.add(subject, cost, spec.usd * spec.soft_ratio, _KEEP_SECONDS)
        except Exception:
            log.warning("budget spend not shared (Redis unreachable)", subject=subject.split(":")[0])
            return
        if claimed:
            self._announce(subject, spec, total)

    def _announce(self, subject: str, spec: BudgetSpec, total: float) -> None:
        kind, subject_id, period = subject.split(":", 2)
        data = {
            "kind": kind,
            "id": subject_id,
            "period": period,
            "spent_usd": round(total, 6),
            "budget_usd": spec.usd,
            "soft_ratio": spec.soft_ratio,
            "reasons": [f"{kind} {subject_id} spent {total:.4f} of {spec.usd:g} USD in {period}"],
        }
        log.warning("budget alert threshold crossed", subject=subject, spent=data["spent_usd"], budget=spec.usd)
        if self.alert is not None:
            self.alert("budget.threshold", data)

    async def rebuild(self, source: SpendSource, now: datetime | None = None) -> None:
        """This process's spend of the current periods, summed from the usage records (no Redis only:
        with Redis the shared counters survive a restart). Budgets already past their alert threshold
        are taken as alerted: they were announced before the restart."""
        if not self.active or self._counters is not None:
            return
        now = now or datetime.now(UTC)
        starts = {
            spec.period: _period_start(spec, now)
            for spec in (*self._config.projects.values(), *self._config.keys.values())
        }
        for period, since in starts.items():
            rows = await source.spend_since(since)
            for kind, specs in (("project", self._config.projects), ("key", self._config.keys)):
                for name, spec in specs.items():
                    if spec.period != period:
                        continue
                    total = sum(cost for project, key, cost in rows if (project if kind == "project" else key) == name)
                    subject = f"{kind}:{name}:{_period(spec, now)}"
                    self._spent[subject] = total
                    if total >= spec.usd * spec.soft_ratio:
                        self._alerted.add(subject)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

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
