"""The sums a batch adds to the roll-ups, made in Python: keyed by UTC minute and hour, SQL's NULL rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from api_connector.storage.rollup_delta import hour_sums, key_time, minute_sums
from api_connector.storage.rollup_models import ROLLUP_SUMS
from api_connector.storage.usage_insert import usage_values
from tests.storage.factories import usage

AT = datetime(2026, 5, 4, 13, 59, 58, tzinfo=UTC)


def _sums(**given: object) -> dict[str, object]:
    return dict(zip(ROLLUP_SUMS, [0] * len(ROLLUP_SUMS), strict=True)) | given


def test_rows_are_keyed_by_their_utc_minute_even_when_the_minutes_alternate() -> None:
    # 13:59:58, 14:00:00.5 (given in UTC+02:00), back to 13:59:59.999999, then 14:00 again.
    plus_two = timezone(timedelta(hours=2))
    times = [
        AT,
        (AT + timedelta(seconds=2.5)).astimezone(plus_two),
        AT + timedelta(seconds=1, microseconds=999_999),
        AT + timedelta(seconds=62),
    ]
    rows = [usage_values(usage(i, created_at=at, latency_ms=1.0 + i)) for i, at in enumerate(times)]
    minutes = minute_sums(rows)
    assert {key_time(key, 60): sums[0] for key, sums in minutes.items()} == {
        datetime(2026, 5, 4, 13, 59, tzinfo=UTC): 2,
        datetime(2026, 5, 4, 14, 0, tzinfo=UTC): 1,
        datetime(2026, 5, 4, 14, 1, tzinfo=UTC): 1,
    }
    hours = hour_sums(minutes)
    assert {key_time(key, 3600): (sums[0], sums[-1]) for key, sums in hours.items()} == {
        datetime(2026, 5, 4, 13, tzinfo=UTC): (2, 3.0),
        datetime(2026, 5, 4, 14, tzinfo=UTC): (2, 4.0),
    }


def test_sums_count_errors_add_units_and_keep_cost_null_only_when_no_row_has_one() -> None:
    rows = [
        usage_values(usage(1, created_at=AT, cost_usd=None, latency_ms=7.5, characters=4)),
        usage_values(usage(2, created_at=AT, cost_usd=0.25, latency_ms=2.0, status="error", audio_seconds=1.5)),
        usage_values(usage(3, created_at=AT, provider="free", cost_usd=None, latency_ms=1.0)),
        usage_values(usage(4, created_at=AT, model="m" * 300, cost_usd=0.5)),
        usage_values(usage(5, created_at=AT, model="m" * 256, cost_usd=0.125)),  # the same name once cut
    ]
    sums = {key[1][1:3]: dict(zip(ROLLUP_SUMS, values, strict=True)) for key, values in minute_sums(rows).items()}
    assert sums == {
        ("openai-main", "gpt-4o-mini"): _sums(
            requests=2,
            errors=1,
            prompt_tokens=20,
            completion_tokens=10,
            characters=4,
            audio_seconds=1.5,
            cost_usd=0.25,
            latency_ms_sum=9.5,
            latency_ms_max=7.5,
        ),
        ("free", "gpt-4o-mini"): _sums(
            requests=1, prompt_tokens=10, completion_tokens=5, cost_usd=None, latency_ms_sum=1.0, latency_ms_max=1.0
        ),
        ("openai-main", "m" * 255): _sums(
            requests=2, prompt_tokens=20, completion_tokens=10, cost_usd=0.625, latency_ms_sum=25.0, latency_ms_max=12.5
        ),
    }


def test_hours_add_their_minutes_by_the_same_rules() -> None:
    early = [usage_values(usage(1, created_at=AT - timedelta(minutes=5), cost_usd=None, latency_ms=9.0))]
    late = [usage_values(usage(2, created_at=AT, cost_usd=None, latency_ms=3.0))]
    paid = [usage_values(usage(3, created_at=AT - timedelta(minutes=1), cost_usd=0.75, latency_ms=1.0))]
    unknown = hour_sums(minute_sums(early + late))
    assert [dict(zip(ROLLUP_SUMS, values, strict=True))["cost_usd"] for values in unknown.values()] == [None]
    both = hour_sums(minute_sums(early + paid + late))
    (values,) = both.values()
    hour = dict(zip(ROLLUP_SUMS, values, strict=True))
    assert (hour["requests"], hour["cost_usd"], hour["latency_ms_sum"], hour["latency_ms_max"]) == (3, 0.75, 13.0, 9.0)
