"""Caller limits that change while the service runs: the configuration file's, replaced subject by
subject by those stored through the admin API, applied to the limiter at once on the replica that
made the change and, through a version counter in Redis polled every half second
(``governance.sync``), on every other replica within a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from api_connector.governance.limiter import CallerLimiter
from api_connector.governance.quota import QuotaTracker
from api_connector.governance.settings_model import LimitsConfig, LimitSpec
from api_connector.governance.sync import GovernanceSync
from api_connector.storage.limit_store import LimitStore, StoredLimit

if TYPE_CHECKING:
    from api_connector.storage.db import Database
    from api_connector.storage.shared_state import SharedState


def merged_limits(file: LimitsConfig, stored: Sequence[StoredLimit]) -> LimitsConfig:
    """The file's limits with each stored subject's entry replacing the file's (never merged field by field)."""
    keys = dict(file.keys)
    projects = dict(file.projects)
    for limit in stored:
        (keys if limit.kind == "key" else projects)[limit.subject_id] = LimitSpec(**limit.values)
    return file.model_copy(update={"keys": keys, "projects": projects})


class LiveLimits:
    def __init__(
        self,
        file: LimitsConfig,
        limiter: CallerLimiter,
        database: Database,
        shared: SharedState | None,
        quota: QuotaTracker,
    ) -> None:
        self.file = file
        self.store = LimitStore(database)
        self._limiter = limiter
        self._shared = GovernanceSync(shared, quota, self.reload) if shared is not None else None

    async def start(self) -> None:
        if self._shared is not None:
            await self._shared.start()  # the version first: a change made while loading is seen next poll
        await self.reload()

    async def reload(self) -> None:
        self._limiter.configure(merged_limits(self.file, await self.store.list()))

    async def changed(self) -> None:
        """After an edit on this replica: applied here now, and announced to the others."""
        await self.reload()
        if self._shared is not None:
            await self._shared.limits_changed()

    async def close(self) -> None:
        if self._shared is not None:
            await self._shared.close()
