"""Backoff with full jitter, Retry-After within the deadline, and the retry budget."""

from __future__ import annotations

from api_connector.config import RetryConfig
from api_connector.errors import RateLimited, UpstreamServerError
from api_connector.routing.retry import RetryBudget, backoff_delay


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_full_jitter_is_bounded_by_the_exponential_cap() -> None:
    config = RetryConfig(base_delay=0.1, max_delay=1.0)
    error = UpstreamServerError("boom")
    assert backoff_delay(config, 0, error, lambda: 0.999, None, False) < 0.1
    assert backoff_delay(config, 3, error, lambda: 0.999, None, False) < 0.8
    assert backoff_delay(config, 10, error, lambda: 0.999, None, False) < 1.0  # capped
    assert backoff_delay(config, 10, error, lambda: 0.0, None, False) == 0.0  # full jitter reaches zero


def test_retry_after_is_honoured_within_the_deadline() -> None:
    config = RetryConfig(max_retry_after=5)
    limited = RateLimited("slow down", retry_after=2.0)
    assert backoff_delay(config, 0, limited, lambda: 0.5, None, False) == 2.0
    assert backoff_delay(config, 0, limited, lambda: 0.5, 1.5, False) is None  # the deadline comes first
    assert backoff_delay(config, 0, RateLimited("x", retry_after=60), lambda: 0.5, None, False) is None
    # Another target is left: going there now beats waiting for this one.
    assert backoff_delay(config, 0, limited, lambda: 0.5, None, True) is None


def test_budget_keeps_retries_under_the_ratio() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(budget_ratio=0.2, budget_min_retries=0, budget_window=10), clock)
    granted = 0
    for _ in range(1000):
        budget.on_request()
        for _ in range(3):  # every request would like three retries
            granted += budget.try_spend()
        clock.now += 0.001
    assert granted <= 200 and granted >= 190
    assert budget.refused == 3000 - granted


def test_budget_floor_lets_a_quiet_service_retry() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(budget_ratio=0.2, budget_min_retries=3, budget_window=10), clock)
    budget.on_request()
    assert [budget.try_spend() for _ in range(4)] == [True, True, True, False]


def test_budget_window_slides() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(budget_ratio=0.5, budget_min_retries=0, budget_window=10), clock)
    for _ in range(10):
        budget.on_request()
    assert sum(budget.try_spend() for _ in range(10)) == 5
    clock.now += 11  # everything above left the window
    assert not budget.try_spend()
    budget.on_request()
    budget.on_request()
    assert budget.try_spend() and not budget.try_spend()


def test_retries_that_served_their_request_are_given_back() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(budget_ratio=0.2, budget_min_retries=0, budget_window=10), clock)
    for _ in range(100):
        budget.on_request()
        assert budget.try_spend()  # one sick provider: every request fails over...
        budget.refund()  # ...and the healthy one serves it
    assert budget.refused == 0
    for _ in range(50):
        budget.try_spend()  # a full outage: nothing is given back any more
    assert budget.refused == 30  # 20 of 100 requests' worth of retries, then no more
