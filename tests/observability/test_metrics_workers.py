"""``serve --workers 2``: /metrics from either worker shows the totals of both (multiprocess mode)."""

from __future__ import annotations

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
        scrapes = []
        for _ in range(6):  # new connections: the scrapes land on both workers
            with httpx.Client(timeout=30) as client:
                scrapes.append(_requests_total(client.get(base + "/metrics").text))
        pids = {p.name.split("_")[-1] for p in (tmp_path / "prom").glob("*.db")}
    assert len(pids) >= 2, "both workers should have written samples"
    assert scrapes == [30.0] * len(scrapes)
