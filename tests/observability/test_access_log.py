"""The access log line: fixed fields, a UTC timestamp to the microsecond (its date part kept per second)."""

from __future__ import annotations

import io
import time

import orjson
import pytest

from api_connector.observability.access_log import AccessLog


async def test_each_line_carries_its_own_utc_time(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    log = AccessLog("svc", out)
    # Two requests in one second, then one in the next: the kept date part must not go stale.
    for now in (1795480783.225094, 1795480783.9, 1795480784.25):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        log.record("POST", "/v1/chat/completions", 200, 1.234, "r1")
    log.flush()
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["ts"] for line in lines] == [
        "2026-11-24T00:39:43.225094Z",
        "2026-11-24T00:39:43.900000Z",
        "2026-11-24T00:39:44.250000Z",
    ]
    assert lines[0] == {
        "event": "request",
        "level": "info",
        "service": "svc",
        "request_id": "r1",
        "method": "POST",
        "path": "/v1/chat/completions",
        "status": 200,
        "ms": 1.23,
        "ts": "2026-11-24T00:39:43.225094Z",
    }
