"""``GET /metrics`` answers only the operator's token when one is set, and its labels carry no name a
project chose unless the operator turns them on (``METRICS_PROJECT_LABELS``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.gateway import RunningGateway, run_gateway

from api_connector.observability.metric_labels import MetricLabels
from api_connector.settings import load_settings

TOKEN = "mt-0123456789abcdef-scrape-token"
SECRET_NAME = "zebra7private"  # in the names one project gives its instance, route and model


def _labels(text: str) -> set[tuple[str, str]]:
    return {
        (name, value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for name, value in sample.labels.items()
    }


def test_a_metrics_token_guards_the_scrape(tmp_path: Path) -> None:
    with run_gateway(tmp_path, metrics_token=TOKEN) as gateway:
        url = gateway.base_url + "/metrics"
        for headers in ({}, {"Authorization": "Bearer wrong-token"}, gateway.headers(), {"Authorization": TOKEN}):
            refused = httpx.get(url, headers=headers, timeout=30)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["code"] == "invalid_metrics_token"
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
            assert "api_connector_" not in refused.text
        scraped = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
        assert scraped.status_code == 200 and "api_connector_requests" in scraped.text
        # The rest of the service is untouched: health needs nothing, admin reads need a gateway key.
        assert httpx.get(gateway.base_url + "/health", timeout=30).status_code == 200
        denied = httpx.get(gateway.base_url + "/admin/alerts", headers={"Authorization": f"Bearer {TOKEN}"})
        assert denied.status_code == 401
        logs = gateway.logs.getvalue()
    assert TOKEN not in logs


def test_without_a_token_the_scrape_needs_no_key(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        assert httpx.get(gateway.base_url + "/metrics", timeout=30).status_code == 200


def test_the_token_setting() -> None:
    assert load_settings(metrics_token="  ").metrics_token is None  # set but empty: no token at all
    assert load_settings(metrics_token=" abc ").metrics_token.get_secret_value() == "abc"  # type: ignore[union-attr]
    assert load_settings().metrics_project_labels is False


def _project_traffic(gateway: RunningGateway) -> None:
    """The default project adds an instance and a route of its own and sends a request through each."""

    def admin(method: str, path: str, body: dict[str, Any]) -> None:
        answer = httpx.request(method, gateway.base_url + path, json=body, headers=gateway.headers(), timeout=30)
        assert answer.status_code in (200, 201), answer.text

    admin("POST", "/admin/providers", {"name": f"{SECRET_NAME}-inst", "config": {"type": "sandbox"}})
    route = {"targets": [{"provider": "sandbox", "model": f"{SECRET_NAME}-model"}]}
    admin("PUT", f"/admin/routes/{SECRET_NAME}-route", route)
    for model in (f"{SECRET_NAME}-inst/sandbox-chat", f"{SECRET_NAME}-route", "sandbox/sandbox-chat"):
        body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
        answer = httpx.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers(), timeout=30)
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("names_on", [False, True])
def test_project_names_stay_out_of_labels_unless_turned_on(tmp_path: Path, names_on: bool) -> None:
    with run_gateway(tmp_path, metrics_project_labels=names_on) as gateway:
        _project_traffic(gateway)
        text = httpx.get(gateway.base_url + "/metrics", timeout=30).text
    labels = _labels(text)
    assert ("provider", "sandbox") in labels  # the operator's own instance keeps its name either way
    assert ("model", "sandbox-chat") in labels
    if names_on:
        assert ("provider", f"{SECRET_NAME}-inst") in labels and ("model", f"{SECRET_NAME}-model") in labels
        return
    assert SECRET_NAME not in text
    assert ("provider", "project") in labels  # the project's instance, under a neutral name
    assert ("model", "other") in labels  # the project route's model, which no operator configured
    assert ("target", "project/other") in labels  # its breaker


def test_the_label_policy() -> None:
    policy = MetricLabels(["openai-main"], ["gpt-4o-mini"])
    assert policy.provider("openai-main") == "openai-main" and policy.provider("mine") == "project"
    assert policy.provider("none") == "none" and policy.model("") == ""
    assert policy.model("gpt-4o-mini") == "gpt-4o-mini" and policy.model("my-finetune") == "other"
    assert policy.pool("*:openai-main") == "openai-main" and policy.pool("proj_1:openai-main") == "project"
    assert policy.target("*:openai-main/gpt-4o-mini") == "openai-main/gpt-4o-mini"
    assert policy.target("*:openai-main/gpt-4o-mini#cred_abc") == "openai-main/gpt-4o-mini"
    assert policy.target("*:openai-main/my-finetune") == "openai-main/other"
    assert policy.target("proj_1:mine/gpt-4o-mini") == "project/other"
    named = MetricLabels([], [], project_labels=True)
    assert named.provider("mine") == "mine" and named.target("proj_1:mine/m#cred_abc") == "proj_1:mine/m#cred_abc"
