"""Cost in USD of a request: an override from the file's ``prices:`` (keyed ``<instance>/<model>``,
``<model>`` or ``<instance>/*``, in that order), else the route target's ``price``, else genai-prices'
bundled data (offline). Unknown models cost None.

Every unit of ``core.usage.Usage`` has its own rate; a unit without one is unpriced rather than free,
so a call that used only unpriced units costs None, and one that used some priced units costs those.
"""

from __future__ import annotations

from dataclasses import fields

from api_connector.core.usage import Usage
from api_connector.governance.settings_model import PriceOverride
from api_connector.routing.catalog import Target
from api_connector.routing.pricing import Price, model_facts

_MILLION = 1_000_000
# The units other than tokens: the Usage field, the PriceOverride rate, and how many units that rate
# is for (audio is quoted per minute and metered in seconds).
_OTHER_UNITS = (
    ("characters", "per_million_characters", _MILLION),
    ("audio_seconds", "per_audio_minute", 60),
    ("pages", "per_page", 1),
    ("rows", "per_row", 1),
    ("requests", "per_request", 1),
    ("searches", "per_search", 1),
)
# The rates of a route target's or genai-prices' Price, carried over under the same names.
_PRICE_RATES = tuple(f.name for f in fields(Price))


class CostModel:
    def __init__(self, overrides: dict[str, PriceOverride]) -> None:
        self._overrides = overrides
        # Prices are looked up on every request and change only with the configuration: memoised.
        self._memo: dict[tuple[str, str, Price | None, str | None], PriceOverride | None] = {}

    def price(
        self, base_url: str, model: str, configured: Price | None = None, instance: str | None = None
    ) -> PriceOverride | None:
        key = (base_url, model, configured, instance)
        try:
            return self._memo[key]
        except KeyError:
            pass
        found = self._lookup(base_url, model, configured, instance)
        if len(self._memo) < 4096:  # model names can come from callers: bounded
            self._memo[key] = found
        return found

    def _lookup(
        self, base_url: str, model: str, configured: Price | None, instance: str | None
    ) -> PriceOverride | None:
        # One instance's model, then the model wherever it is served, then everything of the instance
        # (vendors that price per provider, not per model: Azure's and Google's voices).
        names = (f"{instance}/{model}", model, f"{instance}/*") if instance else (model,)
        override = next((self._overrides[name] for name in names if name in self._overrides), None)
        if override is not None:
            return override
        found = configured or model_facts(base_url, model).price
        if found is None:
            return None
        return PriceOverride(**{name: getattr(found, name) for name in _PRICE_RATES})

    def cost(self, target: Target | None, usage: Usage) -> float | None:
        if target is None or not usage.any():
            return None
        price = self.price(target.instance.base_url, target.model, target.price, target.instance.name)
        return None if price is None else compute(price, usage)


def compute(price: PriceOverride, usage: Usage) -> float | None:
    """What ``usage`` costs at ``price``: the sum over the units it used that have a rate; None when
    none of them has one (or nothing was used)."""
    total = 0.0
    priced = False
    if usage.input_tokens or usage.output_tokens:
        # Cached tokens are part of the input tokens: charged at their own rate (else the input one), the
        # rest at the input rate. A provider reporting more cached than input tokens is capped, not trusted.
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
        fresh = usage.input_tokens - cached
        if fresh and price.input_per_mtok is not None:
            total += fresh * price.input_per_mtok / _MILLION
            priced = True
        if cached and cached_rate is not None:
            total += cached * cached_rate / _MILLION
            priced = True
        if usage.output_tokens and price.output_per_mtok is not None:
            total += usage.output_tokens * price.output_per_mtok / _MILLION
            priced = True
    # The other units, looked at only when one was used (a chat call uses none of them).
    if usage.characters or usage.audio_seconds or usage.pages or usage.rows or usage.requests or usage.searches:
        for unit, rate_name, per in _OTHER_UNITS:
            amount = getattr(usage, unit)
            if amount:
                rate = getattr(price, rate_name)
                if rate is not None:
                    total += amount * rate / per
                    priced = True
    return round(total, 10) if priced else None


# Tokens an answer is expected to take when the request sets no cap (limits reserve this much).
DEFAULT_COMPLETION_TOKENS = 256


def estimate_tokens(
    messages_text: str, max_tokens: int | None, default_completion: int = DEFAULT_COMPLETION_TOKENS
) -> tuple[int, int]:
    """(prompt, completion) tokens guessed before the call: ~4 characters a token, plus the cap asked for."""
    return max(1, len(messages_text) // 4), max_tokens or default_completion
