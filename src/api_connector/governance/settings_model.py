"""The ``limits:``, ``budgets:`` and ``prices:`` sections of the configuration file.

Kept apart from ``config.py`` so that governance owns its own shape; ``GatewayConfig`` only embeds it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LimitSpec(_Strict):
    """Limits of one subject (a gateway key, a project or a provider instance); absent means unlimited."""

    requests_per_minute: int | None = Field(None, ge=1)
    requests_per_hour: int | None = Field(None, ge=1)
    tokens_per_minute: int | None = Field(None, ge=1)
    concurrent: int | None = Field(None, ge=1)

    def empty(self) -> bool:
        return not (self.requests_per_minute or self.requests_per_hour or self.tokens_per_minute or self.concurrent)


class LimitsConfig(_Strict):
    # Burst allowance of request rates, as a fraction of the limit (GCRA tolerance): 0.01 lets a
    # 600/minute key send 6 at once, and never more than 606 in any minute.
    burst: float = Field(0.01, ge=0, le=1)
    default_key: LimitSpec | None = None  # applies to every key without an entry of its own
    keys: dict[str, LimitSpec] = Field(default_factory=dict)  # by key id (key_...)
    projects: dict[str, LimitSpec] = Field(default_factory=dict)  # by project id


class BudgetSpec(_Strict):
    usd: float = Field(gt=0)
    period: Literal["day", "month"] = "month"
    soft_ratio: float = Field(0.8, gt=0, le=1)  # an alert when spend crosses this share of the budget


class BudgetsConfig(_Strict):
    projects: dict[str, BudgetSpec] = Field(default_factory=dict)
    keys: dict[str, BudgetSpec] = Field(default_factory=dict)


class PriceOverride(_Strict):
    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float | None = Field(None, ge=0)


class CacheConfig(_Strict):
    max_entries: int = Field(10_000, ge=1)
    max_entry_bytes: int = Field(1_048_576, ge=1)
    default_ttl: int | None = Field(None, ge=1)  # when set, chat and rerank answers are cached this long
