"""The service under test: its configuration, its environment, start-up and a gateway key.

What the bench relies on from the service is kept in this file (config keys, environment names, the
admin call that issues a key), so that a change on the service's side is a change here only.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from harness import Proc, Processes, StartError, pinned, wait_http

# Fixed, bench-only secrets: they guard nothing but a throw-away service on 127.0.0.1.
ADMIN_KEY = "ack_bench_admin_0123456789abcdef0123456789abcdef"
MASTER_KEY = "YmVuY2gtb25seS1tYXN0ZXIta2V5LTMyLWJ5dGVzISE="  # base64 of 32 bench-only bytes
UPSTREAM_KEY = "sk-bench"

# Inherited settings that would point the service at someone else's database or Redis.
_STRIP_PREFIXES = ("POSTGRES__", "REDIS__", "API_CONNECTOR_")
_STRIP_NAMES = ("DATABASE_URL", "REDIS_URL", "HOST", "PORT", "WORKERS", "DATA_DIR", "LOG_LEVEL")

# High enough never to trip during a run, so that the limiter is exercised but never shapes the load.
_PROVIDER_LIMIT = {"requests_per_minute": 10_000_000, "tokens_per_minute": 10_000_000_000}


def service_config(nginx_port: int, live_port: int | None = None) -> dict:
    """The YAML configuration of the service under test: two providers on nginx, one route each (and,
    with live_port, a Deepgram provider on the live row's WebSocket upstream and its route).

    Add keys here (rate limits, health checks, ...) as the service grows them; unknown keys are
    start-up errors in the service, so only documented keys belong here.
    """
    upstream = f"http://127.0.0.1:{nginx_port}"
    providers = {
        f"upstream-{kind}": {
            "type": "openai_compatible",
            "base_url": f"{upstream}/{kind}/v1",
            "credential": "env:BENCH_UPSTREAM_KEY",
            "rate_limit": dict(_PROVIDER_LIMIT),
        }
        for kind in ("json", "sse")
    }
    # The synthesis and transcription rows' providers: OpenAI's shapes on nginx.
    for kind in ("audio", "audio-paced", "stt"):
        providers[f"upstream-{kind}"] = {
            "type": "openai",
            "base_url": f"{upstream}/{kind}/v1",
            "credential": "env:BENCH_UPSTREAM_KEY",
            "rate_limit": dict(_PROVIDER_LIMIT),
        }
    # The embeddings row's provider: OpenAI's embeddings shape on nginx.
    providers["upstream-emb"] = {
        "type": "openai_compatible",
        "base_url": f"{upstream}/emb/v1",
        "credential": "env:BENCH_UPSTREAM_KEY",
        "rate_limit": dict(_PROVIDER_LIMIT),
    }
    # The rerank row's provider: Cohere's v2 rerank on nginx (its model list at /rerank/v1/models).
    providers["upstream-rerank"] = {
        "type": "cohere",
        "base_url": f"{upstream}/rerank",
        "credential": "env:BENCH_UPSTREAM_KEY",
        "rate_limit": dict(_PROVIDER_LIMIT),
    }
    # The Responses row's provider: OpenAI's Responses API on nginx, passed through.
    providers["upstream-resp"] = {
        "type": "openai",
        "base_url": f"{upstream}/resp/v1",
        "credential": "env:BENCH_UPSTREAM_KEY",
        "rate_limit": dict(_PROVIDER_LIMIT),
    }
    routes = {
        f"bench-{kind}": {
            "strategy": "priority",
            "targets": [{"provider": f"upstream-{kind}", "model": "gpt-4o-mini"}],
        }
        for kind in ("json", "sse")
    }
    routes["bench-emb"] = {
        "strategy": "priority",
        "targets": [{"provider": "upstream-emb", "model": "text-embedding-3-small"}],
    }
    # The Anthropic Messages row (bench-msg): the Anthropic request translated to the JSON rows' chat upstream.
    for route, provider, model in (
        ("bench-rerank", "upstream-rerank", "rerank-v3.5"),
        ("bench-resp", "upstream-resp", "gpt-4o-mini"),
        ("bench-msg", "upstream-json", "gpt-4o-mini"),
    ):
        routes[route] = {"strategy": "priority", "targets": [{"provider": provider, "model": model}]}
    if live_port is not None:
        providers["upstream-live"] = {
            "type": "deepgram",
            "base_url": f"http://127.0.0.1:{live_port}",
            "credential": "env:BENCH_UPSTREAM_KEY",
            "rate_limit": dict(_PROVIDER_LIMIT),
        }
        routes["bench-live"] = {"strategy": "priority", "targets": [{"provider": "upstream-live", "model": "nova-3"}]}
    return {"providers": providers, "routes": routes}


def service_env(port: int, workers: int, config: Path, data_dir: Path, redis_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES) and k not in _STRIP_NAMES}
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WORKERS": str(workers),
            "LOG_LEVEL": "WARNING",
            "DATA_DIR": str(data_dir),
            "API_CONNECTOR_ADMIN_KEY": ADMIN_KEY,
            "API_CONNECTOR_CONFIG": str(config),
            "INTEGRATION_CRYPTO_KEY": MASTER_KEY,
            "BENCH_UPSTREAM_KEY": UPSTREAM_KEY,
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def service_command() -> list[str]:
    """`api-connector serve` from the venv running the bench (the project's own)."""
    # The console script sits beside the interpreter; an editable install made before the script was
    # declared lacks it, and the module entry point runs the same code.
    binary = Path(sys.executable).parent / "api-connector"
    if binary.exists():
        return [str(binary), "serve"]
    if importlib.util.find_spec("api_connector") is not None:
        return [sys.executable, "-m", "api_connector.cli", "serve"]
    raise StartError("api-connector is not installed in this venv: pip install -e '.[test]'")


def _admin_post(base: str, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise StartError(f"POST {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None
    if not isinstance(answer, dict):
        raise StartError(f"POST {path}: unexpected answer {answer!r:.300}")
    return answer


def provision_key(base: str) -> str:
    """A gateway key for the bench caller: organization -> project -> key, through the admin API.

    The benchmarked caller is an ordinary project key (not the admin key), so that authentication
    costs what it costs a real caller.
    """
    org = _admin_post(base, "/admin/organizations", {"name": "bench"})
    project = _admin_post(base, "/admin/projects", {"organization_id": org["id"], "name": "bench"})
    key = _admin_post(base, "/admin/keys", {"name": "bench", "project_id": project["id"]})
    plaintext = key.get("key")
    if not isinstance(plaintext, str) or not plaintext:
        raise StartError(f"POST /admin/keys: no key in the answer (fields: {sorted(key)})")
    return plaintext


@dataclass
class Service:
    proc: Proc
    key: str


@contextmanager
def running(
    procs: Processes,
    workdir: Path,
    cores: str | None,
    port: int,
    nginx_port: int,
    workers: int,
    redis_url: str | None,
    live_port: int | None = None,
) -> Iterator[Service]:
    name = f"service-{workers}w" + ("-redis" if redis_url else "")
    home = workdir / name
    data_dir = home / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    config = home / "config.yaml"
    config.write_text(yaml.safe_dump(service_config(nginx_port, live_port), sort_keys=False))
    env = service_env(port, workers, config, data_dir, redis_url)
    proc = procs.start(name, pinned(service_command(), cores), env=env)
    try:
        wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=60)
        key = provision_key(f"http://127.0.0.1:{port}")
        yield Service(proc, key)
    finally:
        procs.stop(proc)
