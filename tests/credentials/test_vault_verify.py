"""Verify before storing, with the sandbox and with recorded real provider answers.

Valid, rejected (with the provider's reason) and "unverified: unreachable" (never "valid") are told
apart by the same classifier that drives retries and failover.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.credentials.conftest import ROOT_KEY
from tests.credentials.servers import free_port
from tests.credentials.upstream import fake_provider
from tests.gateway import run_gateway
from tests.recorded import load_cassette

SECRET = "sk-verify-candidate-3c9e1a7b5d2f"
CONFORMANCE = Path(__file__).parents[1] / "conformance" / "data" / "openai_compatible"


def _create(http: httpx.Client, provider: str, name: str, **headers: str) -> httpx.Response:
    return http.post("/admin/credentials", json={"name": name, "provider": provider, "secret": SECRET}, headers=headers)


def test_sandbox_outcomes(tmp_path: Path) -> None:
    with (
        run_gateway(tmp_path, integration_crypto_key=ROOT_KEY) as gateway,
        httpx.Client(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http,
    ):
        valid = _create(http, "sandbox", "ok")
        assert valid.status_code == 201 and valid.json()["verification"] == "valid"

        rejected = _create(http, "sandbox", "bad", **{"x-sandbox-status": "401"})
        assert rejected.status_code == 422
        error = rejected.json()["error"]
        assert error["code"] == "credential_rejected" and "sandbox answered 401 as asked" in error["message"]

        for name, controls in (
            ("busy", {"x-sandbox-status": "503"}),
            ("limited", {"x-sandbox-status": "429", "x-sandbox-retry-after": "1"}),
            ("dropped", {"x-sandbox-fault": "disconnect"}),
        ):
            unverified = _create(http, "sandbox", name, **controls)
            assert unverified.status_code == 201, unverified.text
            view = unverified.json()
            assert view["verification"] == "unverified: unreachable", (name, view)
            assert view["versions"][0]["verification_detail"]
        assert SECRET not in http.get("/admin/credentials").text


async def test_recorded_answers_and_unreachable_provider(tmp_path: Path) -> None:
    # Real answers recorded from OpenRouter (429 while rate limited) and OpenAI (a 400 refusal).
    rate_limited = load_cassette(CONFORMANCE / "test_openrouter_errors_raised.yaml")[0].response
    refusal = load_cassette("openai/test_openai_web_search_tool_model_not_supported.yaml")[0].response
    assert (rate_limited.status, refusal.status) == (429, 400)
    async with fake_provider() as upstream:
        upstream.recorded = {"/limited/v1/models": rate_limited, "/refusing/v1/models": refusal}
        root = upstream.base_url.removesuffix("/v1")
        providers = {
            "limited": {"type": "openai_compatible", "base_url": f"{root}/limited/v1"},
            "refusing": {"type": "openai_compatible", "base_url": f"{root}/refusing/v1"},
            "closed": {"type": "openai_compatible", "base_url": f"http://127.0.0.1:{free_port()}/v1"},
        }
        with run_gateway(tmp_path, {"providers": providers}, integration_crypto_key=ROOT_KEY) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                limited = await http.post(
                    "/admin/credentials", json={"name": "l", "provider": "limited", "secret": SECRET}
                )
                assert limited.status_code == 201 and limited.json()["verification"] == "unverified: unreachable"
                assert "Provider returned error" in limited.json()["versions"][0]["verification_detail"]

                refused = await http.post(
                    "/admin/credentials", json={"name": "r", "provider": "refusing", "secret": SECRET}
                )
                assert refused.status_code == 422
                assert refusal.json()["error"]["message"] in refused.json()["error"]["message"]

                closed = await http.post(
                    "/admin/credentials", json={"name": "c", "provider": "closed", "secret": SECRET}
                )
                assert closed.status_code == 201 and closed.json()["verification"] == "unverified: unreachable"
                assert "cannot connect" in closed.json()["versions"][0]["verification_detail"]

                # A type with no base URL of its own cannot be probed: stored, and marked so.
                no_probe = await http.post(
                    "/admin/credentials", json={"name": "n", "provider": "openai_compatible", "secret": SECRET}
                )
                assert no_probe.status_code == 201 and no_probe.json()["verification"] == "unverified: no probe"
                unknown = await http.post(
                    "/admin/credentials", json={"name": "u", "provider": "nope", "secret": SECRET}
                )
                assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "provider"
