"""Cost per unit: every unit at its own rate, cached input at its own, None only when nothing used is priced."""

from __future__ import annotations

import pytest

from api_connector.core.usage import Usage
from api_connector.governance.cost import CostModel, compute
from api_connector.governance.settings_model import PriceOverride
from api_connector.providers import REGISTRY
from api_connector.routing.catalog import ProviderInstance, Target
from api_connector.routing.pricing import Price
from api_connector.transport.http import Timeouts

OPENAI = "https://api.openai.com/v1"
EVERY_RATE = PriceOverride(
    input_per_mtok=2.0,
    output_per_mtok=8.0,
    cached_input_per_mtok=0.5,
    per_million_characters=15.0,
    per_audio_minute=0.006,
    per_page=0.001,
    per_row=0.00001,
    per_request=0.01,
    per_search=0.002,
)


def _target(model: str, base_url: str = "http://127.0.0.1:1/v1", price: Price | None = None) -> Target:
    instance = ProviderInstance("upstream", REGISTRY["openai"], base_url, None, Timeouts())
    return Target(instance, model, price=price)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (Usage(characters=2_000_000), 30.0),
        (Usage(audio_seconds=90.0), 0.009),  # a minute and a half
        (Usage(audio_seconds=1.0), 0.0001),  # pro rata to the second
        (Usage(pages=25), 0.025),
        (Usage(rows=50_000), 0.5),
        (Usage(requests=3), 0.03),
        (Usage(searches=10), 0.02),
        # 1M input of which 400k cached: 600k at 2.0, 400k at 0.5; 100k output at 8.0.
        (Usage(input_tokens=1_000_000, output_tokens=100_000, cached_tokens=400_000), 1.2 + 0.2 + 0.8),
        # A provider claiming more cached than input tokens is capped at the input.
        (Usage(input_tokens=1_000, cached_tokens=5_000), 0.0005),
        (
            Usage(input_tokens=1_000, output_tokens=500, characters=1_000, audio_seconds=6.0, pages=1, requests=1),
            0.002 + 0.004 + 0.015 + 0.0006 + 0.001 + 0.01,
        ),
    ],
)
def test_each_unit_at_its_rate(usage: Usage, expected: float) -> None:
    assert compute(EVERY_RATE, usage) == pytest.approx(expected)


def test_cached_input_defaults_to_the_input_rate() -> None:
    price = PriceOverride(input_per_mtok=1, output_per_mtok=2)
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cached_tokens=500_000)
    assert compute(price, usage) == pytest.approx(3.0)
    only_cached = PriceOverride(cached_input_per_mtok=0.25)  # the rest of the input is unpriced
    assert compute(only_cached, usage) == pytest.approx(0.125)


def test_none_only_when_nothing_used_has_a_price() -> None:
    crawler = PriceOverride(per_page=0.002)
    assert compute(crawler, Usage(input_tokens=100, output_tokens=10)) is None  # tokens not priced here
    assert compute(crawler, Usage()) is None  # nothing used at all
    assert compute(crawler, Usage(pages=5, rows=100)) == pytest.approx(0.01)  # rows unpriced, pages counted
    # A rate of 0 is a price (free), not the absence of one.
    free = PriceOverride(input_per_mtok=0, output_per_mtok=0)
    assert compute(free, Usage(input_tokens=100)) == 0.0
    assert compute(free, Usage(characters=100)) is None


def test_cost_model_prices_targets_through_overrides_and_genai_prices() -> None:
    costs = CostModel({"crawler-v1": PriceOverride(per_page=0.001, per_request=0.01)})
    assert costs.cost(_target("crawler-v1"), Usage(pages=40, requests=1)) == pytest.approx(0.05)
    assert costs.cost(_target("crawler-v1"), Usage(input_tokens=10)) is None
    assert costs.cost(_target("crawler-v1"), Usage()) is None
    assert costs.cost(None, Usage(pages=1)) is None
    assert costs.cost(_target("no-such-model-xyz"), Usage(pages=1, input_tokens=5)) is None
    # genai-prices' bundled data (offline): characters for text-to-speech, minutes of audio for
    # transcription, cached input at its own rate for chat.
    assert costs.cost(_target("tts-1", OPENAI), Usage(characters=1_000_000)) == pytest.approx(15.0)
    assert costs.cost(_target("whisper-1", OPENAI), Usage(audio_seconds=120.0)) == pytest.approx(0.012)
    chat = costs.cost(_target("gpt-4o-mini", OPENAI), Usage(input_tokens=1_000_000, cached_tokens=1_000_000))
    assert chat == pytest.approx(0.075)
    # A route target's own price wins over genai-prices'.
    routed = _target("gpt-4o-mini", OPENAI, price=Price(1.0, 2.0))
    assert costs.cost(routed, Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == pytest.approx(3.0)

