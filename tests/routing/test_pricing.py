"""Rates read from genai-prices' bundled data (offline), converted to the units usage is metered in."""

from __future__ import annotations

import pytest

from api_connector.routing.pricing import model_facts

OPENAI = "https://api.openai.com/v1"


def test_genai_prices_rates_in_our_units() -> None:
    tts = model_facts(OPENAI, "tts-1").price
    whisper = model_facts(OPENAI, "whisper-1").price
    chat = model_facts(OPENAI, "gpt-4o-mini").price
    assert tts is not None and tts.per_million_characters == pytest.approx(15.0)
    assert whisper is not None and whisper.per_audio_minute == pytest.approx(0.006)  # its $0.36 an hour
    assert chat is not None and chat.cached_input_per_mtok == pytest.approx(0.075)
    assert chat.per_search == pytest.approx(0.01)  # its web searches, $10 a thousand
    assert chat.per_million_characters is None and chat.per_audio_minute is None  # none known: unpriced


def test_unknown_models_have_no_price() -> None:
    assert model_facts("http://127.0.0.1:1/v1", "no-such-model-xyz").price is None
