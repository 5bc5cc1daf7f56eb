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

log = logging.getLogger(__name__)
_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

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
        except LookupError:
            continue
        except Exception:  # the data is third-party: a bad entry must not stop the catalog
            log.warning("genai-prices could not price %s", model, exc_info=True)
            return UNKNOWN
        price = Price(float(found.input_price), float(found.output_price))
        return ModelFacts(price, found.model.context_window)
    return UNKNOWN
