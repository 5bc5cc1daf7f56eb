"""What replicas share through Redis besides the limits themselves: the version of the stored limits
(an edit on one replica is applied by the others at their next poll) and provider quota steering.

One background poll every ``interval`` seconds costs one round trip per replica (the version and the
quota deadlines still ahead, ``storage.shared_state``), never one per request. Without Redis nothing
here runs: one process applies its own edits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from api_connector.core.tasks import stop
from api_connector.governance.quota import QuotaTracker
from api_connector.observability.logging import get_logger

if TYPE_CHECKING:
    from api_connector.storage.shared_state import SharedState

log = get_logger("api_connector.governance")
_WARN_EVERY = 30.0
_VERSION = "gov:limits-version"
_QUOTA = "gov:quota"


class GovernanceSync:
    def __init__(
        self,
        shared: SharedState,
        quota: QuotaTracker,
        on_limits_changed: Callable[[], Awaitable[None]],
        interval: float = 0.5,
    ) -> None:
        self._shared = shared
        self._quota = quota
        self._on_limits_changed = on_limits_changed
        self._interval = interval
        self._version: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._warned = 0.0
        quota.publish = self.publish_quota

    async def start(self) -> None:
        """Remember the current version (the caller loads the limits next), then poll."""
        with contextlib.suppress(Exception):
            self._version = await self._shared.get(_VERSION)
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def limits_changed(self) -> None:
        """Tell the other replicas that the stored limits changed (this one has applied them already)."""
        try:
            self._version = str(await self._shared.incr(_VERSION)).encode()
        except Exception:
            log.warning("limits changed but other replicas could not be told (Redis unreachable)")

    def publish_quota(self, target_key: str, until: float) -> None:
        task = asyncio.ensure_future(self._publish(target_key, until))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, target_key: str, until: float) -> None:
        try:
            await self._shared.put_deadline(_QUOTA, target_key, until)
        except Exception:
            self._warn("quota steering not shared (Redis unreachable)")

    async def poll(self) -> None:
        version, steered = await self._shared.version_and_deadlines(_VERSION, _QUOTA, time.time())
        if steered:
            self._quota.merge(steered)
        if version != self._version:
            await self._on_limits_changed()
            self._version = version  # only once applied: a failed reload is tried again next poll

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll()
            except Exception as exc:  # Redis or the database down: keep what we have, try again
                self._warn(f"shared governance state not refreshed ({type(exc).__name__})")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned > _WARN_EVERY:
            self._warned = now
            log.warning(message)

    async def close(self) -> None:
        await stop(self._task)
        self._task = None
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
