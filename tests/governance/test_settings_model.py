"""The ``prices:`` section: per-unit rates validate, wave-one entries still do, mistakes are refused."""

from __future__ import annotations

import pytest

from api_connector.config import parse_config
from api_connector.errors import ConfigError


def test_every_unit_has_a_rate_and_wave_one_entries_stay_valid() -> None:
    config = parse_config(
        {
            "prices": {
                # Wave one: tokens only, exactly as older files have it.
                "custom-chat": {"input_per_mtok": 2.0, "output_per_mtok": 10.0, "cached_input_per_mtok": 0.5},
                "custom-tts": {"per_million_characters": 15},
                "custom-stt": {"per_audio_minute": 0.006},
                "crawler": {"per_page": 0.001, "per_request": 0.01},
                "warehouse": {"per_row": 0.00001},
                "reranker": {"per_search": 0.002, "input_per_mtok": 0},
            }
        }
    )
    prices = config.prices
    assert (prices["custom-chat"].input_per_mtok, prices["custom-chat"].output_per_mtok) == (2.0, 10.0)
    assert prices["custom-tts"].per_million_characters == 15 and prices["custom-tts"].input_per_mtok is None
    assert prices["custom-stt"].per_audio_minute == 0.006
    assert (prices["crawler"].per_page, prices["crawler"].per_request, prices["crawler"].per_row) == (0.001, 0.01, None)
    assert prices["warehouse"].per_row == 0.00001
    assert prices["reranker"].per_search == 0.002 and prices["reranker"].input_per_mtok == 0


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"input_per_mtok": 1, "per_pages": 0.1}, "prices.m.per_pages"),  # unknown keys are still errors
        ({"per_audio_second": 0.0001}, "prices.m.per_audio_second"),  # audio is priced per minute
        ({"per_page": -1}, "prices.m.per_page"),
        ({}, "at least one rate"),  # an entry pricing nothing is a mistake, not a price
        ({"per_row": None}, "at least one rate"),
    ],
)
def test_bad_price_entries_are_refused(entry: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config({"prices": {"m": entry}})
    assert fragment in error.value.message
