"""The dead-letter queue: what is kept (and what never is), inspect, replay, delete, restart, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.gateway import ADMIN_KEY, RunningGateway, run_gateway
from tests.routing.network import CLI, RunningSandbox, sandbox_server
from tests.waiting import wait_for

CANARY = "sk-dlq-canary-0123456789abcdef"


@pytest.fixture
def upstream() -> Iterator[RunningSandbox]:
    with sandbox_server() as running:
        yield running


def config(upstream: RunningSandbox) -> dict[str, Any]:
    keyed = {
        "type": "openai_compatible",
        "base_url": upstream.base_url + "/v1",
        "credential": "env:APC_TEST_DLQ_KEY",
        "headers": {"x-sandbox-status": "503"},
    }
    return {
        "providers": {"keyed-down": keyed, "healthy": {"type": "sandbox"}},
        "routes": {"flaky": {"targets": [{"provider": "keyed-down", "model": "m"}]}},
    }


@pytest.fixture(autouse=True)
def _credential(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APC_TEST_DLQ_KEY", CANARY)


def chat(gateway: RunningGateway, model: str = "flaky") -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": f"my key is {CANARY}, keep it"}]}
    return httpx.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers(), timeout=30)


def admin(gateway: RunningGateway, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, gateway.base_url + path, headers=gateway.headers(), timeout=30, **kwargs)


def wait_for_entry(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for entry in admin(gateway, "GET", "/admin/dlq").json()["data"]:
            if entry["request_id"] == request_id:
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no dead letter for {request_id}")


def test_entry_keeps_the_request_and_every_attempt_but_no_secret(tmp_path: Path, upstream: RunningSandbox) -> None:
    with run_gateway(tmp_path, config(upstream)) as gateway:
        failed = chat(gateway)
        assert failed.status_code == 502
        entry = wait_for_entry(gateway, failed.headers["x-request-id"])
        assert entry["kind"] == "chat" and entry["target"] == "flaky" and entry["status"] == "pending"
        assert entry["error"]["code"] == "upstream_error" and entry["attempt_count"] == 2
        full = admin(gateway, "GET", f"/admin/dlq/{entry['id']}").json()
        stored = json.dumps(full)
        assert CANARY not in stored and "authorization" not in stored.lower()
        assert "[REDACTED]" in full["payload"]["body"]["messages"][0]["content"]
        first, second = full["attempts"]
        assert first["provider"] == "keyed-down" and first["code"] == "upstream_error" and first["status"] == 503
        assert second["at_ms"] >= first["at_ms"] + first["elapsed_ms"] and first["elapsed_ms"] > 0
        # The upstream did get the credential: it is the storage that never sees it.
        assert upstream.requests == 2


def test_caller_faults_are_not_dead_lettered(tmp_path: Path) -> None:
    picky = {"providers": {"picky": {"type": "sandbox", "headers": {"x-sandbox-status": "400"}}}}
    with run_gateway(tmp_path, picky) as gateway:
        assert chat(gateway, "picky/m").status_code == 400
        time.sleep(0.3)
        assert admin(gateway, "GET", "/admin/dlq").json()["total"] == 0


def test_replay_goes_through_the_pipeline_and_records_the_outcome(tmp_path: Path, upstream: RunningSandbox) -> None:
    with run_gateway(tmp_path, config(upstream)) as gateway:
        entry = wait_for_entry(gateway, chat(gateway).headers["x-request-id"])
        again = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
        assert again["outcome"] == "upstream_error" and again["error"]["code"] == "upstream_error"
        # The operator repoints the route (routes are data) and replays: now it is served.
        route = {"targets": [{"provider": "healthy", "model": "m"}]}
        assert admin(gateway, "PUT", "/admin/routes/flaky", json=route).status_code == 201
        served = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
        assert served["outcome"] == "success" and served["status"] == 200
        assert served["data"]["choices"][0]["message"]["content"].startswith("sandbox echo: my key is [REDACTED]")
        after = admin(gateway, "GET", f"/admin/dlq/{entry['id']}").json()
        assert after["status"] == "replayed" and after["replays"] == 2
        assert after["last_replay_outcome"] == "success" and after["last_replay_request_id"] == served["request_id"]

        def served_usage() -> bool:
            usage = admin(gateway, "GET", "/admin/usage").json()["data"]
            return any(u["request_id"] == served["request_id"] and u["status"] == "success" for u in usage)

        wait_for(served_usage, "the replay's usage row")
        audit = admin(gateway, "GET", "/admin/audit", params={"action": "dlq.replay"}).json()["data"]
        assert len(audit) == 2
        assert admin(gateway, "GET", "/admin/dlq", params={"status": "replayed"}).json()["total"] == 1
        assert admin(gateway, "DELETE", f"/admin/dlq/{entry['id']}").status_code == 204
        assert admin(gateway, "GET", f"/admin/dlq/{entry['id']}").status_code == 404


def test_generic_requests_are_dead_lettered_and_replayed(tmp_path: Path, upstream: RunningSandbox) -> None:
    with run_gateway(tmp_path, config(upstream)) as gateway:
        body = {"provider": "keyed-down", "endpoint": "/echo/x", "body": {"keep": "me"}, "headers": {"x-trace": "t1"}}
        failed = httpx.post(gateway.v1 + "/requests", json=body, headers=gateway.headers(), timeout=30)
        assert failed.status_code == 502
        entry = wait_for_entry(gateway, failed.headers["x-request-id"])
        payload = admin(gateway, "GET", f"/admin/dlq/{entry['id']}").json()["payload"]
        assert payload["endpoint"] == "/echo/x" and payload["method"] == "POST" and payload["body"] == {"keep": "me"}
        assert payload["headers"]["x-trace"] == "t1"
        replayed = admin(gateway, "POST", f"/admin/dlq/{entry['id']}/replay").json()
        assert replayed["outcome"] == "upstream_error"


def test_entries_survive_a_restart_and_the_cli_manages_them(tmp_path: Path, upstream: RunningSandbox) -> None:
    with run_gateway(tmp_path, config(upstream)) as gateway:
        first = wait_for_entry(gateway, chat(gateway).headers["x-request-id"])
        second = wait_for_entry(gateway, chat(gateway).headers["x-request-id"])
    with run_gateway(tmp_path, config(upstream)) as gateway:
        ids = {e["id"] for e in admin(gateway, "GET", "/admin/dlq").json()["data"]}
        assert {first["id"], second["id"]} <= ids
    config_file = tmp_path / "gateway.yaml"
    config_file.write_text(yaml.safe_dump(config(upstream)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES__", "REDIS", "DATABASE_URL"))}
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        API_CONNECTOR_CONFIG=str(config_file),
        API_CONNECTOR_ADMIN_KEY=ADMIN_KEY,
        APC_TEST_DLQ_KEY=CANARY,
        LOG_LEVEL="WARNING",
        COLUMNS="250",  # rich draws the table to the terminal's width; a pipe has none
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "dlq", *args], env=env, capture_output=True, text=True, timeout=60)

    listed = cli("list")
    assert listed.returncode == 0 and first["id"] in listed.stdout and second["id"] in listed.stdout
    shown = cli("show", first["id"])
    assert shown.returncode == 0 and json.loads(shown.stdout)["attempts"] and CANARY not in shown.stdout
    replayed = cli("replay", first["id"])
    assert replayed.returncode == 1 and json.loads(replayed.stdout)["outcome"] == "upstream_error"
    deleted = cli("delete", second["id"])
    assert deleted.returncode == 0
    assert second["id"] not in cli("list").stdout and cli("show", second["id"]).returncode == 1
