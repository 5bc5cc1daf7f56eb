"""The request audit's retention: a background job deleting rows past their project's ``retention_days``.

Each row's expiry is fixed when it is written (``created_at`` + the project's days), so a sweep is one
indexed range delete, in batches, and several replicas sweeping at once only delete the same rows. The
first sweep runs at start-up, then every ``audit.purge_interval`` seconds.
"""

from __future__ import annotations

import asyncio

from api_connector.core.tasks import stop
from api_connector.observability.logging import get_logger
from api_connector.storage.request_audit import RequestAuditStore

log = get_logger("api_connector.audit_retention")


class AuditRetention:
    def __init__(self, store: RequestAuditStore, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.purged = 0  # rows deleted by this process since it started
        self.swept = asyncio.Event()  # set after each sweep of the background task (for whoever waits on one)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="request-audit-retention")

    async def close(self) -> None:
        task, self._task = self._task, None
        await stop(task)

    async def sweep(self) -> int:
        """Delete the expired rows now; how many went."""
        removed = await self._store.purge_expired()
        self.purged += removed
        if removed:
            log.info("request audit rows past retention deleted", rows=removed)
        return removed

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a database hiccup: the rows are still expired next round
                log.warning("request audit retention sweep failed; retrying next round")
            self.swept.set()
            await asyncio.sleep(self._interval)
