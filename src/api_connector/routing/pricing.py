"""Prices and context windows of models, from the ``genai-prices`` data bundled with the package.

Looked up once per target when the catalog is built, never on the request path, and never over the
network: the package's snapshot ships inside it and this module does not ask it to update. The
provider is recognised by the target's base URL (no provider names here); a custom base URL (a proxy,
a self-hosted server) falls back to the model name alone. A route's ``price`` overrides what is found.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million input and output tokens (what ``lowest_cost`` compares), and the model's other
    rates where genai-prices knows them (None: not priced in that unit), named as in the ``prices:``
    section (``governance.settings_model.PriceOverride``)."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None  # None: cached input costs the input rate
    per_million_characters: float | None = None
    per_audio_minute: float | None = None
    per_request: float | None = None
    per_search: float | None = None

    def estimate(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_mtok + completion_tokens * self.output_per_mtok) / _MILLION


@dataclass(frozen=True, slots=True)
class ModelFacts:
    price: Price | None = None
    context_window: int | None = None


UNKNOWN = ModelFacts()


@functools.lru_cache(maxsize=4096)
def model_facts(base_url: str, model: str) -> ModelFacts:
    """What genai-prices knows of ``model`` served at ``base_url``; UNKNOWN when it knows nothing."""
    if not model:
        return UNKNOWN
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # an installation without the optional data: lowest_cost sees no prices
        return UNKNOWN
    usage = Usage(input_tokens=_MILLION, output_tokens=_MILLION)
    for url in (base_url, None):
        try:
            found = calc_price(usage, model, provider_api_url=url)
            rates = found.model_price
            cached = None
            if getattr(rates, "cache_read_mtok", None) is not None:
                # Priced like the input rate (a million tokens, all of them read from the cache), so
                # that both sit in the same tier of a tiered model.
                every_one_cached = Usage(input_tokens=_MILLION, cache_read_tokens=_MILLION)
                cached = float(calc_price(every_one_cached, model, provider_api_url=url).input_price)
        except LookupError:
            continue
        except Exception:  # the data is third-party: a bad entry must not stop the catalog
            log.warning("genai-prices could not price %s", model, exc_info=True)
            return UNKNOWN
        price = Price(
            float(found.input_price),
            float(found.output_price),
            cached_input_per_mtok=cached,
            per_million_characters=_rate(rates, "input_mchars", 1),
            per_audio_minute=_rate(rates, "audio_hours", 60),
            per_request=_rate(rates, "requests_kcount", 1000),
            per_search=_rate(rates, "web_searches_kcount", 1000),
        )
        return ModelFacts(price, found.model.context_window)
    return UNKNOWN


def _rate(rates: Any, name: str, per: int) -> float | None:
    """genai-prices' rate ``name`` (per ``per`` of our units: its hours are 60 of our minutes, its
    ``kcount`` a thousand of our requests or searches) as USD per one of ours; None when it has none."""
    value = getattr(rates, name, None)
    value = getattr(value, "base", value)  # tiered: the rate below the first tier
    return None if value is None else float(value) / per
