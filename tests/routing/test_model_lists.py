"""Live model lists: asked of the provider, cached, shared by replicas, served, and enforced.

An OpenAI-shaped upstream on loopback answers ``GET /v1/models`` (and chat completions): the gateway
lists its models in the background, shows them in ``GET /v1/models`` and the admin API, and refuses a
model the list lacks before any upstream call, unless the instance turns the check off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from tests.gateway import RunningGateway, run_gateway
from tests.redis_space import REDIS_URL
from tests.threaded_app import threaded_app

CHAT_ANSWER = {
    "id": "c",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
}


class Upstream:
    def __init__(self) -> None:
        self.models = ["gpt-4o-mini", "gpt-4.1"]
        self.listings = 0
        self.chats: list[str] = []
        self.base = ""

    def setup(self, app: web.Application) -> None:
        async def models(request: web.Request) -> web.Response:
            self.listings += 1
            assert request.headers["Authorization"] == "Bearer sk-list-test-key"
            data = [{"id": m, "object": "model", "owned_by": "vendor"} for m in self.models]
            return web.json_response({"object": "list", "data": data})

        async def chat(request: web.Request) -> web.Response:
            self.chats.append((await request.json())["model"])
            return web.Response(body=orjson.dumps(CHAT_ANSWER), content_type="application/json")

        app.router.add_get("/v1/models", models)
        app.router.add_post("/v1/chat/completions", chat)


@contextmanager
def upstream() -> Iterator[Upstream]:
    served = Upstream()
    with threaded_app(served.setup) as base:
        served.base = base
        yield served


def _config(base: str, **instance: Any) -> dict[str, Any]:
    vendor = {"type": "openai", "base_url": f"{base}/v1", "credential": "env:LIST_KEY", **instance}
    return {"providers": {"vendor": vendor}}


def _wait_for_listing(gateway: RunningGateway, name: str = "vendor") -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        answer = httpx.get(f"{gateway.base_url}/admin/providers/{name}/models", headers=gateway.headers()).json()
        if answer["source"] == "live" or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def _chat(gateway: RunningGateway, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hello"}]}
    return httpx.post(gateway.v1 + "/chat/completions", json=body, headers=gateway.headers(), timeout=10)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIST_KEY", "sk-list-test-key")


def test_models_are_listed_served_and_enforced(tmp_path: Path, key: None) -> None:
    with upstream() as vendor, run_gateway(tmp_path, _config(vendor.base), model_list_ttl=60) as gateway:
        listing = _wait_for_listing(gateway)
        assert listing["source"] == "live" and listing["models"] == ["gpt-4o-mini", "gpt-4.1"]
        ids = [m["id"] for m in httpx.get(gateway.v1 + "/models", headers=gateway.headers()).json()["data"]]
        assert "vendor/gpt-4.1" in ids and "vendor/gpt-4o" not in ids  # the live list, not the declared one

        assert _chat(gateway, "vendor/gpt-4.1").status_code == 200
        refused = _chat(gateway, "vendor/gpt-4o")
        assert refused.status_code == 404
        error = refused.json()["error"]
        assert error["code"] == "model_not_found" and "vendor" in error["message"] and "gpt-4o" in error["message"]
        assert vendor.chats == ["gpt-4.1"]  # the refused model never reached the provider

        # The provider starts serving a new model: an admin's refresh shows it at once.
        vendor.models.append("gpt-4o")
        refreshed = httpx.get(
            f"{gateway.base_url}/admin/providers/vendor/models?refresh=true", headers=gateway.headers()
        ).json()
        assert "gpt-4o" in refreshed["models"]
        assert _chat(gateway, "vendor/gpt-4o").status_code == 200


def test_the_check_can_be_turned_off_for_incomplete_lists(tmp_path: Path, key: None) -> None:
    with upstream() as vendor:
        config = _config(vendor.base, check_models=False)
        with run_gateway(tmp_path, config, model_list_ttl=60) as gateway:
            assert _wait_for_listing(gateway)["source"] == "live"
            assert _chat(gateway, "vendor/unlisted-fine-tune").status_code == 200
            assert vendor.chats == ["unlisted-fine-tune"]


def test_a_failed_listing_refuses_nothing_and_says_why(tmp_path: Path, key: None) -> None:
    with upstream() as vendor:
        config = _config(vendor.base + "/nowhere")
        with run_gateway(tmp_path, config, model_list_ttl=60) as gateway:
            deadline = time.monotonic() + 10
            while True:
                answer = httpx.get(f"{gateway.base_url}/admin/providers/vendor/models", headers=gateway.headers())
                if answer.json()["error"] or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            listing = answer.json()
            assert listing["source"] == "declared" and "404" in listing["error"]
            # Nothing is refused on the gateway's side: the call goes out (and this upstream has no such path).
            assert _chat(gateway, "vendor/whatever").json()["error"]["code"] != "model_not_found"


@pytest.mark.redis
def test_replicas_share_one_listing_per_period(tmp_path: Path, key: None, redis_prefix: str) -> None:
    shared = {"redis_url": REDIS_URL, "redis_key_prefix": redis_prefix, "model_list_ttl": 60}
    with upstream() as vendor:
        config = _config(vendor.base)
        with run_gateway(tmp_path / "a", config, **shared) as a, run_gateway(tmp_path / "b", config, **shared) as b:
            assert _wait_for_listing(a)["source"] == "live"
            assert _wait_for_listing(b)["source"] == "live"
            asyncio.run(asyncio.sleep(0.5))
            assert vendor.listings == 1  # one replica asked; the other read what it stored
