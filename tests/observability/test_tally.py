"""Tallied metrics render exactly as prometheus_client's own inc/observe would have them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from api_connector.observability.tally import Tallies

_BUCKETS = (0.001, 0.01, 0.1, 1.0)
# On a bound, between bounds, below the first, above the last, zero, and repeats.
_AMOUNTS = (0.0, 0.0005, 0.001, 0.001, 0.005, 0.01, 0.5, 1.0, 1.5, 99.0, 0.01)


def _pair() -> tuple[CollectorRegistry, Counter, Histogram, Tallies]:
    registry = CollectorRegistry()
    tallies = Tallies()
    registry.register(tallies)
    counter = Counter("c", "c", ["x"], registry=registry)
    histogram = Histogram("h", "h", ["x"], buckets=_BUCKETS, registry=registry)
    return registry, counter, histogram, tallies


def _without_created(text: bytes) -> list[str]:
    return [line for line in text.decode().splitlines() if "_created" not in line]


def test_tallies_render_like_direct_updates() -> None:
    direct_registry, direct_counter, direct_histogram, _ = _pair()
    tallied_registry, counter, histogram, tallies = _pair()
    requests = tallies.counter(counter.labels("a"))
    latency = tallies.histogram(histogram.labels("a"))
    for amount in _AMOUNTS:
        direct_counter.labels("a").inc()
        direct_histogram.labels("a").observe(amount)
        requests.pending += 1
        latency.observe(amount)
    # Collecting the registry flushes first: nothing gathered is missing from a scrape.
    assert _without_created(generate_latest(tallied_registry)) == _without_created(generate_latest(direct_registry))


def test_flushes_add_up_and_nothing_is_counted_twice() -> None:
    registry, counter, histogram, tallies = _pair()
    requests = tallies.counter(counter.labels("a"))
    latency = tallies.histogram(histogram.labels("a"))
    requests.pending += 2
    latency.observe(0.05)
    assert counter.labels("a")._value.get() == 0  # gathered, not yet passed on
    tallies.flush()
    assert counter.labels("a")._value.get() == 2
    tallies.flush()  # nothing new: no change
    requests.pending += 3
    latency.observe(5.0)
    assert registry.get_sample_value("c_total", {"x": "a"}) == 5
    assert registry.get_sample_value("h_count", {"x": "a"}) == 2
    assert registry.get_sample_value("h_bucket", {"x": "a", "le": "0.1"}) == 1
    assert registry.get_sample_value("h_bucket", {"x": "a", "le": "+Inf"}) == 2
    assert registry.get_sample_value("h_sum", {"x": "a"}) == 5.05
