"""The request audit's retention: a background job forgetting what the audit kept past each project's
``retention_days``.

Two things are kept, and go differently:

* bodies (``request_audits`` rows, sanitized mode): each row's expiry is fixed when it is written
  (``created_at`` + the project's days), so a sweep is one indexed range delete, in batches;
* the caller's address on usage rows (metadata and sanitized modes): cleared (set NULL) on the rows of
  each project written before now - its days, in batches. The usage rows themselves are the usage log
  and stay. After its first sweep the job only looks at rows written since its previous cutoff (a day's
  margin for late writes), so a sweep never rescans the years of usage rows already cleared.

Several replicas sweeping at once only delete or clear the same rows. The first sweep runs at start-up,
then every ``audit.purge_interval`` seconds.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from api_connector.core.tasks import stop
from api_connector.observability.logging import get_logger
from api_connector.observability.payloads import AuditPolicies
from api_connector.storage.models import utcnow
from api_connector.storage.request_audit import RequestAuditStore

log = get_logger("api_connector.audit_retention")
# Rows are written within moments of their created_at; a batch held through a database outage may come
# hours late. A day of overlap between sweeps covers that at the cost of rereading a day of rows.
_LATE_WRITES = timedelta(days=1)


class AuditRetention:
    def __init__(self, store: RequestAuditStore, policies: AuditPolicies, interval: float) -> None:
        self._store = store
        self._policies = policies
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._cleared_to: dict[str | None, datetime] = {}  # each retention group's previous cutoff
        self.purged = 0  # bodies rows deleted by this process since it started
        self.cleared = 0  # caller addresses cleared on usage rows by this process since it started
        self.swept = asyncio.Event()  # set after each sweep of the background task (for whoever waits on one)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="request-audit-retention")

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop(task)

    async def sweep(self) -> int:
        """Forget what is past retention now; how many requests lost something (bodies or address)."""
        now = utcnow()
        removed = await self._store.purge_expired(now)
        cleared = 0
        others = self._policies.own_projects
        for project, days in self._policies.retentions():
            cutoff = now - timedelta(days=days)
            previous = self._cleared_to.get(project)
            cleared += await self._store.forget_clients(
                cutoff,
                since=None if previous is None else previous - _LATE_WRITES,
                project_id=project,
                other_than=others if project is None else (),
            )
            self._cleared_to[project] = cutoff
        self.purged += removed
        self.cleared += cleared
        if removed or cleared:
            log.info("request audit past retention forgotten", bodies=removed, addresses=cleared)
        return removed + cleared

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a database hiccup: the rows are still expired next round
                log.warning("request audit retention sweep failed; retrying next round")
            self.swept.set()
            await asyncio.sleep(self._interval)
