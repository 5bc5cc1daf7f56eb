"""No SSRF through a project's custom base URL: checked when saved and again at every connect."""

from __future__ import annotations

import base64
import ipaddress
from pathlib import Path

import httpx
import pytest
from tests.gateway import run_gateway

from api_connector.errors import ValidationFailed
from api_connector.transport.guard import address_refusal, check_base_url


@pytest.mark.parametrize(
    ("address", "allow_private", "refused"),
    [
        ("169.254.169.254", True, True),
        ("fe80::1", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("0.0.0.0", True, True),
        ("127.0.0.1", True, False),
        ("127.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("192.168.1.1", False, True),
        ("8.8.8.8", False, False),
    ],
)
def test_address_policy(address: str, allow_private: bool, refused: bool) -> None:
    assert (address_refusal(ipaddress.ip_address(address), allow_private) is not None) is refused


def test_base_url_check() -> None:
    with pytest.raises(ValidationFailed):
        check_base_url("http://169.254.169.254/latest/meta-data", allow_private=True)
    with pytest.raises(ValidationFailed):
        check_base_url("http://10.0.0.7:8000/v1", allow_private=False)
    check_base_url("http://localhost:8000/v1", allow_private=False)  # a name: judged when it resolves
    check_base_url("https://api.example.com/v1", allow_private=False)


def test_project_providers_are_held_to_the_policy(tmp_path: Path) -> None:
    # Production refuses to start without a master key: give it one.
    key = base64.b64encode(bytes(range(32))).decode()
    with run_gateway(tmp_path, env="production", integration_crypto_key=key) as gateway:

        def create(config: dict) -> httpx.Response:
            return httpx.post(
                gateway.base_url + "/admin/providers",
                headers=gateway.headers(),
                json={"name": "mine", "config": config},
                timeout=30,
            )

        metadata = create({"type": "http", "base_url": "http://169.254.169.254"})
        assert metadata.status_code == 400 and "metadata" in metadata.json()["error"]["message"]
        assert create({"type": "http", "base_url": "http://127.0.0.1:9"}).status_code == 400
        stolen = create(
            {"type": "openai_compatible", "base_url": "https://api.example.com/v1", "credential": "env:HOME"}
        )
        assert stolen.status_code == 400 and stolen.json()["error"]["param"] == "config.credential"
        # A name that resolves to loopback passes the save check but not the connect check.
        assert create({"type": "http", "base_url": "http://localhost:9"}).status_code == 201
        answer = httpx.post(
            gateway.base_url + "/v1/requests",
            headers=gateway.headers(),
            timeout=30,
            json={"provider": "mine", "endpoint": "/", "method": "GET", "retries": 0},
        )
        assert answer.status_code == 502 and answer.json()["error"]["code"] == "connect_error"
        assert "forbidden addresses" in answer.json()["error"]["message"]
