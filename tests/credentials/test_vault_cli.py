"""The vault's command line, as an operator runs it on the embedded default (development key file)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("api-connector"))
SECRET = "sk-cli-canary-secret-4a8c2e6b0d1f"
ROTATED = "sk-cli-canary-rotated-5b9d3f7a1c2e"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES__", "REDIS", "DATABASE_URL", "API_CONNECTOR_", "INTEGRATION_CRYPTO", "ENV"))
    }
    env.update(DATA_DIR=str(tmp_path / "data"), LOG_LEVEL="WARNING", **extra)
    return env


def _cli(tmp_path: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [CLI, *args], input=stdin, env=_env(tmp_path, **env), capture_output=True, text=True, timeout=60, check=False
    )
    for stream in (done.stdout, done.stderr):
        assert SECRET not in stream and ROTATED not in stream
    return done


def test_credentials_and_master_key_commands(tmp_path: Path) -> None:
    created = _cli(
        tmp_path, "credentials", "create", "cli-key", "--provider", "sandbox", "--secret-file", "-", stdin=SECRET
    )
    assert created.returncode == 0, created.stderr
    view = json.loads(created.stdout)
    assert view["masked"] == "…" + SECRET[-4:] and view["verification"] == "valid"
    assert "DEVELOPMENT MASTER KEY" in created.stderr  # loud, on stderr, never mixed into the output
    assert oct((tmp_path / "data" / "master.key").stat().st_mode & 0o777) == "0o600"

    secret_file = tmp_path / "rotated.txt"
    secret_file.write_text(ROTATED + "\n")
    rotated = _cli(tmp_path, "credentials", "rotate", view["id"], "--secret-file", str(secret_file), "--no-verify")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["current_version"] == 2

    rotation = _cli(tmp_path, "rotate-master-key", "--batch-size", "1")
    assert rotation.returncode == 0 and "re-wrapped 2 data keys" in rotation.stderr, rotation.stderr
    listed = _cli(tmp_path, "credentials", "list")
    assert listed.returncode == 0 and "…" + ROTATED[-4:] in listed.stdout
    disabled = _cli(tmp_path, "credentials", "disable", view["id"])
    assert disabled.returncode == 0 and f"disabled {view['id']}" in disabled.stderr
    assert _cli(tmp_path, "credentials", "delete", view["id"], "--yes").returncode == 0

    with sqlite3.connect(tmp_path / "data" / "api-connector.db") as db:
        actions = [row[0] for row in db.execute("SELECT action FROM audit_events WHERE request_id LIKE 'cli-%'")]
        dump = "\n".join(
            repr(row) for table in ("audit_events", "master_keys") for row in db.execute(f"SELECT * FROM {table}")
        )
    assert {"credential.create", "credential.rotate", "credential.disable", "credential.delete"} <= set(actions)
    assert "master_key.rotate" in actions and SECRET not in dump and ROTATED not in dump


def test_production_refuses_to_run_without_a_key(tmp_path: Path) -> None:
    refused = _cli(tmp_path, "credentials", "list", ENV="production")
    assert refused.returncode != 0
    assert "INTEGRATION_CRYPTO_KEY is required when ENV=production" in refused.stderr
    assert not (tmp_path / "data" / "master.key").exists()
