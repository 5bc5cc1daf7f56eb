"""External stores through the running service: OpenBao and AWS references serve requests, and a store
that goes down fails only the requests that need it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import httpx

from tests.credentials.conftest import ROOT_KEY
from tests.credentials.servers import BAO_TOKEN, ExternalServer, bao_put
from tests.credentials.upstream import fake_provider
from tests.gateway import run_gateway

BAO_SECRET = "sk-held-in-openbao-5d1f9a3c7e2b"
AWS_SECRET = "sk-held-in-aws-sm-6e2a0b4d8f3c"
REF_SECRET = "sk-referenced-cred-7f3b1c5e9a4d"


def _chat(model: str) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


async def test_external_references_and_a_store_going_down(
    tmp_path: Path, bao: ExternalServer, aws: ExternalServer
) -> None:
    bao_put(bao, "gateway/openai", {"api_key": BAO_SECRET})
    bao_put(bao, "gateway/shared", {"api_key": REF_SECRET})
    boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=aws.url).create_secret(
        Name="gateway/anthropic", SecretString=json.dumps({"api_key": AWS_SECRET})
    )
    async with fake_provider({BAO_SECRET: "bao", AWS_SECRET: "aws", REF_SECRET: "ref"}) as upstream:
        providers = {
            "from-bao": {
                "type": "openai_compatible",
                "base_url": upstream.base_url,
                "credential": "vault:secret/gateway/openai#api_key",
            },
            "from-aws": {
                "type": "openai_compatible",
                "base_url": upstream.base_url,
                "credential": "aws:gateway/anthropic#api_key",
            },
        }
        settings = {
            "integration_crypto_key": ROOT_KEY,
            "vault_addr": bao.url,
            "vault_token": BAO_TOKEN,
            "aws_region": "us-east-1",
            "aws_endpoint_url": aws.url,
            "external_secret_ttl": 0,  # every request asks the store, so its outage shows at once
            "external_secret_timeout": 2,
            "credential_cache_ttl": 0,
        }
        with run_gateway(tmp_path, {"providers": providers}, **settings) as gateway:
            async with httpx.AsyncClient(base_url=gateway.base_url, headers=gateway.headers(), timeout=30) as http:
                for model, tag in (("from-bao/m", "bao"), ("from-aws/m", "aws")):
                    answer = await http.post("/v1/chat/completions", json=_chat(model))
                    assert answer.json()["choices"][0]["message"]["content"] == f"served by {tag}", answer.text

                # A stored credential may itself be a reference (set by a global admin).
                created = await http.post(
                    "/admin/credentials",
                    json={"name": "shared", "provider": "from-bao", "reference": "vault:secret/gateway/shared#api_key"},
                )
                assert created.status_code == 201 and created.json()["verification"] == "valid", created.text
                assert created.json()["masked"] == "vault:secret/gateway/shared#api_key"
                config = {
                    "type": "openai_compatible",
                    "base_url": upstream.base_url,
                    "credential": created.json()["id"],
                }
                assert (
                    await http.post("/admin/providers", json={"name": "by-ref", "config": config})
                ).status_code == 201
                answer = await http.post("/v1/chat/completions", json=_chat("by-ref/m"))
                assert answer.json()["choices"][0]["message"]["content"] == "served by ref"

                bao.stop()
                down = await http.post("/v1/chat/completions", json=_chat("from-bao/m"))
                assert down.status_code == 503, down.text
                error = down.json()["error"]
                assert error["code"] == "secret_store_unavailable" and "cannot reach the vault" in error["message"]
                generic = await http.post("/v1/requests", json={"provider": "from-bao", "endpoint": "/models"})
                assert generic.status_code == 503 and generic.json()["error"]["retryable"] is True
                # Everything that does not need the vault keeps working.
                assert (await http.post("/v1/chat/completions", json=_chat("from-aws/m"))).status_code == 200
                assert (await http.post("/v1/chat/completions", json=_chat("sandbox/sandbox-chat"))).status_code == 200
                assert (await http.get("/health")).status_code == 200
        logs = gateway.logs.getvalue()
    for secret in (BAO_SECRET, AWS_SECRET, REF_SECRET, BAO_TOKEN):
        assert secret not in logs
