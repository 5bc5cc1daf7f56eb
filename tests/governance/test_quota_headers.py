"""Quota steering reads the remaining-quota headers each provider declares (Cerebras per day and per
minute, Fireworks in prompt and generated tokens, Together without the kind in the name), and the common
names for providers that declare none."""

from __future__ import annotations

import pytest

from api_connector.governance.quota import QuotaTracker
from api_connector.providers import REGISTRY


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("provider", "headers", "pause"),
    [
        ("cerebras", {"x-ratelimit-remaining-requests-day": "5", "x-ratelimit-remaining-tokens-minute": "0",
                      "x-ratelimit-reset-requests-day": "33011.38", "x-ratelimit-reset-tokens-minute": "11.38"}, 11.38),
        ("fireworks", {"x-ratelimit-remaining-requests": "40", "x-ratelimit-remaining-tokens-generated": "0",
                       "x-ratelimit-reset-requests": "7s"}, 7.0),
        ("together", {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}, 2.0),
        ("openai", {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1m30s"}, 90.0),
    ],
)
def test_a_provider_out_of_quota_is_avoided_until_its_reset(provider: str, headers: dict[str, str],
                                                            pause: float) -> None:
    clock = Clock()
    tracker = QuotaTracker(clock=clock)
    tracker.observe("t", 200, headers, REGISTRY[provider].rate_limit_headers)
    assert tracker.exhausted("t")
    clock.now += pause - 0.01
    assert tracker.exhausted("t")
    clock.now += 0.02
    assert not tracker.exhausted("t")


def test_only_the_declared_names_are_read() -> None:
    tracker = QuotaTracker()
    # Cerebras declares its own names: OpenAI's, were they present, are not its quota.
    tracker.observe("t", 200, {"x-ratelimit-remaining-requests": "0"}, REGISTRY["cerebras"].rate_limit_headers)
    assert not tracker.exhausted("t")
    tracker.observe("t", 200, {"x-ratelimit-remaining-tokens-minute": "12000"}, REGISTRY["cerebras"].rate_limit_headers)
    assert not tracker.exhausted("t")


def test_placeholder_values_are_ignored() -> None:
    tracker = QuotaTracker()
    tracker.observe("t", 200, {"x-ratelimit-remaining-requests": "X-RATELIMIT-REMAINING-REQUESTS-XXX"})
    assert not tracker.exhausted("t")
