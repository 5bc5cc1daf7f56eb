"""``serve --workers 2``: /metrics from either worker shows the totals of both (multiprocess mode), and a
worker that exits stops showing in the live gauges."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.test_cli import _free_port, serving


def _requests_total(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "api_connector_requests_total" and sample.labels.get("outcome") == "success":
                total += sample.value
    return total


def test_two_workers_report_correct_totals(tmp_path: Path) -> None:
    port = _free_port()
    key = "ack_metrics_workers_key_0123456789abcdefgh"
    env = {"WORKERS": "2", "API_CONNECTOR_ADMIN_KEY": key, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prom")}
    with serving(tmp_path, port, tmp_path / "workers.log", **env) as base:
        chat = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}
        pids = set()
        for _ in range(30):
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
                assert client.post(base + "/v1/chat/completions", json=chat).status_code == 200
        # Each worker passes its figures on at most a second after its last request (observability/tally.py).
        time.sleep(1.5)
        scrapes = []
        for _ in range(6):  # new connections: the scrapes land on both workers
            with httpx.Client(timeout=30) as client:
                scrapes.append(_requests_total(client.get(base + "/metrics").text))
        pids = {p.name.split("_")[-1] for p in (tmp_path / "prom").glob("*.db")}
    assert len(pids) >= 2, "both workers should have written samples"
    assert scrapes == [30.0] * len(scrapes)


def _live_gauge_files(directory: Path, pid: str) -> list[Path]:
    return list(directory.glob(f"gauge_live*_{pid}.db"))


def test_a_dead_workers_live_gauges_are_dropped(tmp_path: Path) -> None:
    """When a worker exits, serve marks it dead: its live gauges leave the scrape (counters stay: they count)."""
    port = _free_port()
    key = "ack_metrics_workers_key_0123456789abcdefgh"
    prom = tmp_path / "prom"
    env = {"WORKERS": "2", "API_CONNECTOR_ADMIN_KEY": key, "PROMETHEUS_MULTIPROC_DIR": str(prom)}
    with serving(tmp_path, port, tmp_path / "workers.log", **env) as base:
        chat = {"model": "sandbox/sandbox-chat", "messages": [{"role": "user", "content": "hi"}]}
        # New connections, so that both workers serve some. Each worker sets a live gauge as it starts (the
        # parent's start-up ones are already dropped); on a loaded machine the second may start after the
        # first has served a while: called until both have.
        deadline, sent, workers = time.monotonic() + 30, 0, set()
        while sent < 10 or len(workers) < 2:
            assert time.monotonic() < deadline, f"live gauges of {workers} only"
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
                assert client.post(base + "/v1/chat/completions", json=chat).status_code == 200
                client.get(base + "/metrics")
            sent += 1
            workers = {p.name.split("_")[-1].removesuffix(".db") for p in prom.glob("gauge_live*.db")}
        victim, survivor = sorted(workers)
        time.sleep(1.5)  # what a worker gathered reaches its files within a second (observability/tally.py)
        os.kill(int(victim), signal.SIGKILL)  # a worker of the server this test started
        deadline = time.monotonic() + 30
        while _live_gauge_files(prom, victim):
            assert time.monotonic() < deadline, "the dead worker's live gauges were not dropped"
            time.sleep(0.05)
        assert _live_gauge_files(prom, survivor)  # the living worker's stay
        with httpx.Client(timeout=30) as client:
            text = client.get(base + "/metrics").text
        totals = [
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "api_connector_requests_total"
        ]
        assert sum(totals) == sent  # counters of both, the dead worker's included
