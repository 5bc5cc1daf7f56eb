"""Cost in USD of a request: the route target's ``price``, else an override from the file's
``prices:`` (custom models), else genai-prices' bundled data (offline). Unknown models cost None.
"""

from __future__ import annotations

from api_connector.core.usage import Usage
from api_connector.governance.settings_model import PriceOverride
from api_connector.routing.catalog import Target
from api_connector.routing.pricing import Price, model_facts

_MILLION = 1_000_000


class CostModel:
    def __init__(self, overrides: dict[str, PriceOverride]) -> None:
        self._overrides = overrides
        # Prices are looked up on every request and change only with the configuration: memoised.
        self._memo: dict[tuple[str, str, Price | None], PriceOverride | None] = {}

    def price(self, base_url: str, model: str, configured: Price | None = None) -> PriceOverride | None:
        key = (base_url, model, configured)
        try:
            return self._memo[key]
        except KeyError:
            pass
        found = self._lookup(base_url, model, configured)
        if len(self._memo) < 4096:  # model names can come from callers: bounded
            self._memo[key] = found
        return found

    def _lookup(self, base_url: str, model: str, configured: Price | None) -> PriceOverride | None:
        override = self._overrides.get(model)
        if override is not None:
            return override
        found = configured or model_facts(base_url, model).price
        if found is None:
            return None
        return PriceOverride(input_per_mtok=found.input_per_mtok, output_per_mtok=found.output_per_mtok)

    def cost(self, target: Target | None, usage: Usage) -> float | None:
        if target is None or not (usage.input_tokens or usage.output_tokens):
            return None
        price = self.price(target.instance.base_url, target.model, target.price)
        return None if price is None else compute(price, usage)


def compute(price: PriceOverride, usage: Usage) -> float:
    cached = min(usage.cached_tokens, usage.input_tokens)
    cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
    total = (
        (usage.input_tokens - cached) * price.input_per_mtok
        + cached * cached_rate
        + usage.output_tokens * price.output_per_mtok
    )
    return round(total / _MILLION, 10)


# Tokens an answer is expected to take when the request sets no cap (limits reserve this much).
DEFAULT_COMPLETION_TOKENS = 256


def estimate_tokens(
    messages_text: str, max_tokens: int | None, default_completion: int = DEFAULT_COMPLETION_TOKENS
) -> tuple[int, int]:
    """(prompt, completion) tokens guessed before the call: ~4 characters a token, plus the cap asked for."""
    return max(1, len(messages_text) // 4), max_tokens or default_completion
