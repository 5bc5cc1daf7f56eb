"""``api-connector connections refresh`` against a running gateway: table, JSON, and ``--strict``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api_connector.cli import app
from tests.gateway import ADMIN_KEY, run_gateway

runner = CliRunner()
KEY_ENV = {"API_CONNECTOR_ADMIN_KEY": ADMIN_KEY}


def test_connections_refresh_table_json_and_strict(tmp_path: Path) -> None:
    config = {"providers": {"failing": {"type": "sandbox", "headers": {"x-sandbox-status": "503"}}}}
    with run_gateway(tmp_path, config) as gateway:
        table = runner.invoke(app, ["connections", "refresh", "--url", gateway.base_url], env=KEY_ENV)
        assert table.exit_code == 0, table.output  # a failed provider is reported, not an error
        row = next(line for line in table.output.splitlines() if "failing" in line)
        assert "failed" in row and "upstream_error" in row
        assert any("sandbox" in line and " ok " in line for line in table.output.splitlines())

        strict = runner.invoke(app, ["connections", "refresh", "--strict", "--url", gateway.base_url], env=KEY_ENV)
        assert strict.exit_code == 1

        one = runner.invoke(
            app, ["connections", "refresh", "sandbox", "--strict", "--json", "--url", gateway.base_url], env=KEY_ENV
        )
        assert one.exit_code == 0, one.output
        statuses = json.loads(one.stdout)
        assert [(s["provider"], s["status"]) for s in statuses] == [("sandbox", "ok")]

        operator = runner.invoke(
            app, ["connections", "refresh", "--scope", "global", "--json", "--url", gateway.base_url], env=KEY_ENV
        )
        assert {s["provider"] for s in json.loads(operator.stdout)} >= {"sandbox", "failing"}

        unknown = runner.invoke(app, ["connections", "refresh", "nope", "--url", gateway.base_url], env=KEY_ENV)
        assert unknown.exit_code == 1 and "no provider named 'nope'" in unknown.output
        missing = runner.invoke(
            app, ["connections", "refresh", "--url", gateway.base_url], env={"API_CONNECTOR_ADMIN_KEY": ""}
        )
        assert missing.exit_code == 2
