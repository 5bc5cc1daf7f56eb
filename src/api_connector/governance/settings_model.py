"""The ``limits:``, ``budgets:`` and ``prices:`` sections of the configuration file.

Kept apart from ``config.py`` so that governance owns its own shape; ``GatewayConfig`` only embeds it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    """USD per unit of what a model's calls use (``core.usage.Unit``), as providers quote them.

    Every rate is optional: an absent one leaves its unit unpriced, which is not the same as free (0).
    A call priced in none of the units it used costs None ("unknown"), never a guessed 0; one priced
    in some of them costs what those add up to. Audio is priced per minute, as speech APIs quote it,
    and charged pro rata to the second.
    """

    input_per_mtok: float | None = Field(None, ge=0)  # per million input tokens not read from a cache
    output_per_mtok: float | None = Field(None, ge=0)  # per million output tokens
    cached_input_per_mtok: float | None = Field(None, ge=0)  # per million cached input tokens; None: input rate
    per_million_characters: float | None = Field(None, ge=0)  # e.g. text-to-speech input
    per_audio_minute: float | None = Field(None, ge=0)  # e.g. transcription, speech output
    per_page: float | None = Field(None, ge=0)  # e.g. a crawler's pages
    per_row: float | None = Field(None, ge=0)  # e.g. a data store's rows
    per_request: float | None = Field(None, ge=0)  # a fee per billable call
    per_search: float | None = Field(None, ge=0)  # e.g. a rerank search, a model's web search

    @model_validator(mode="after")
    def _prices_something(self) -> PriceOverride:
        # An entry without a single rate is a mistake (a misspelt or misplaced key), not a price.
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("a price needs at least one rate, e.g. input_per_mtok or per_request")
        return self


class CacheConfig(_Strict):
    max_entries: int = Field(10_000, ge=1)
    max_entry_bytes: int = Field(1_048_576, ge=1)
    default_ttl: int | None = Field(None, ge=1)  # when set, chat and rerank answers are cached this long
    # Seconds past its TTL a cached answer may still answer an idempotent request whose every target
    # failed (graceful degradation; routes and requests may set their own). Answers are kept that much
    # longer for it. None: never.
    stale_if_error: int | None = Field(None, ge=1, le=30 * 86400)
