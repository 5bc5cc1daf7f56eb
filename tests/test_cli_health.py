"""``api-connector health`` against a running gateway: table, JSON, and the exit code as a check."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner

from api_connector.cli import app
from tests.gateway import ADMIN_KEY, RunningGateway, run_gateway

runner = CliRunner()
KEY_ENV = {"API_CONNECTOR_ADMIN_KEY": ADMIN_KEY}


def _fail_twice(gateway: RunningGateway, provider: str) -> None:
    body = {"provider": provider, "endpoint": "/models", "method": "GET", "retries": 0}
    for _ in range(2):
        httpx.post(f"{gateway.base_url}/v1/requests", json=body, headers=gateway.headers())


def test_health_table_and_exit_code(tmp_path: Path) -> None:
    config = {
        "providers": {"down": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}}},
        "health": {"unhealthy_after": 2},
    }
    with run_gateway(tmp_path, config) as gateway:
        healthy = runner.invoke(app, ["health", "--url", gateway.base_url], env=KEY_ENV)
        assert healthy.exit_code == 0, healthy.output
        assert "down" in healthy.output and "sandbox" in healthy.output

        _fail_twice(gateway, "down")
        sick = runner.invoke(app, ["health", "--url", gateway.base_url], env=KEY_ENV)
        assert sick.exit_code == 1, sick.output
        row = next(line for line in sick.output.splitlines() if " down " in line)
        assert "no" in row and "2" in row  # unhealthy, two consecutive failures

        one = runner.invoke(app, ["health", "sandbox", "--url", gateway.base_url, "--json"], env=KEY_ENV)
        assert one.exit_code == 0, one.output
        reports = json.loads(one.stdout)
        assert [r["provider"] for r in reports] == ["sandbox"] and reports[0]["is_healthy"] is True

        everything = runner.invoke(
            app, ["health", "--url", gateway.base_url, "--json", "--admin-key", ADMIN_KEY], env={}
        )
        assert everything.exit_code == 1
        by_name = {r["provider"]: r for r in json.loads(everything.stdout)}
        assert by_name["down"]["is_healthy"] is False and by_name["down"]["consecutive_failures"] == 2


def test_health_needs_a_key_and_a_reachable_service(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        missing = runner.invoke(app, ["health", "--url", gateway.base_url], env={"API_CONNECTOR_ADMIN_KEY": ""})
        assert missing.exit_code == 2 and "admin key" in missing.output
        wrong = runner.invoke(app, ["health", "--url", gateway.base_url, "--admin-key", "ack_wrong"])
        assert wrong.exit_code == 1 and "401" in wrong.output
        unknown = runner.invoke(app, ["health", "nope", "--url", gateway.base_url], env=KEY_ENV)
        assert unknown.exit_code == 1 and "no provider named 'nope'" in unknown.output
        url = gateway.base_url
    gone = runner.invoke(app, ["health", "--url", url], env=KEY_ENV)
    assert gone.exit_code == 1 and "cannot reach the service" in gone.output
