"""``api-connector providers list|add|remove`` through a running gateway's admin API."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api_connector.cli import app
from tests.gateway import ADMIN_KEY, run_gateway

runner = CliRunner()
KEY_ENV = {"API_CONNECTOR_ADMIN_KEY": ADMIN_KEY}


def _names(url: str) -> dict[str, str]:
    listed = runner.invoke(app, ["providers", "list", "--url", url, "--json"], env=KEY_ENV)
    assert listed.exit_code == 0, listed.output
    return {p["name"]: p["source"] for p in json.loads(listed.stdout)}


def test_add_list_and_remove(tmp_path: Path) -> None:
    config_file = tmp_path / "extra.yaml"
    config_file.write_text("type: sandbox\nmodels: [from-file]\n")
    with run_gateway(tmp_path) as gateway:
        url = gateway.base_url
        assert _names(url) == {"sandbox": "config"}

        added = runner.invoke(app, ["providers", "add", "mine", "--type", "sandbox", "--url", url], env=KEY_ENV)
        assert added.exit_code == 0, added.output
        from_file = runner.invoke(
            app, ["providers", "add", "filed", "--config", str(config_file), "--url", url], env=KEY_ENV
        )
        assert from_file.exit_code == 0, from_file.output
        assert _names(url) == {"sandbox": "config", "mine": "project", "filed": "project"}
        # The running service uses it at once.
        services = gateway.services
        assert any(i.name == "mine" for i in services.catalog.instances(services.default_project_id))

        table = runner.invoke(app, ["providers", "list", "--url", url], env=KEY_ENV)
        assert table.exit_code == 0 and "from-file" in table.output

        removed = runner.invoke(app, ["providers", "remove", "mine", "--url", url], env=KEY_ENV)
        assert removed.exit_code == 0, removed.output
        assert _names(url) == {"sandbox": "config", "filed": "project"}


def test_refusals_are_reported(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        url = gateway.base_url
        untyped = runner.invoke(app, ["providers", "add", "x", "--url", url], env=KEY_ENV)
        assert untyped.exit_code == 2 and "needs a type" in untyped.output
        unknown = runner.invoke(app, ["providers", "add", "x", "--type", "no-such", "--url", url], env=KEY_ENV)
        assert unknown.exit_code == 1 and "400" in unknown.output and "unknown provider type" in unknown.output
        env_ref = ["providers", "add", "x", "--type", "sandbox", "--credential", "env:HOME", "--url", url]
        refused = runner.invoke(app, env_ref, env=KEY_ENV)
        assert refused.exit_code == 1 and "stored credentials" in refused.output
        missing = runner.invoke(app, ["providers", "remove", "nope", "--url", url], env=KEY_ENV)
        assert missing.exit_code == 1 and "404" in missing.output
