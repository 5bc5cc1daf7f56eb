"""Large answers are compressed as the client accepts; small ones and streams are not."""

from __future__ import annotations

import gzip

import brotli
import httpx
from tests.gateway import RunningGateway


def test_large_answers_are_compressed(gateway: RunningGateway) -> None:
    with httpx.Client(timeout=30) as client:
        for encoding, decode in (("gzip", gzip.decompress), ("br", brotli.decompress)):
            headers = {**gateway.headers(), "Accept-Encoding": encoding}
            with client.stream("GET", gateway.base_url + "/openapi.json", headers=headers) as answer:
                raw = b"".join(answer.iter_raw())
            assert answer.headers["content-encoding"] == encoding
            assert decode(raw).startswith(b'{"openapi"')
        small = client.get(gateway.base_url + "/health", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in small.headers
        plain = client.get(gateway.base_url + "/openapi.json", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.json()["openapi"] == "3.1.0"


def test_streams_are_not_compressed(gateway: RunningGateway) -> None:
    body = {"model": "sandbox/sandbox-chat", "stream": True, "messages": [{"role": "user", "content": "x " * 800}]}
    headers = {**gateway.headers(), "Accept-Encoding": "gzip"}
    with httpx.stream("POST", gateway.v1 + "/chat/completions", json=body, headers=headers, timeout=30) as answer:
        assert "content-encoding" not in answer.headers
        assert "".join(answer.iter_text()).rstrip().endswith("data: [DONE]")
